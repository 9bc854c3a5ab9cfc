/**
 * The `edgemark` command: wires flags to verbs and prints errors with their
 * code and fix. Verbs live in their own files.
 */
import { Command, CommanderError } from 'commander';
import { formatError } from '../core/errors.js';
import { redact } from '../core/log.js';
import { packageVersion } from '../core/paths.js';
import { registerCluster } from './cluster.js';
import { registerFleet } from './fleet.js';
import { registerImage } from './image.js';
import { registerNodes } from './nodes.js';
import { registerSetup } from './setup.js';
import { registerRun } from './run.js';

export function buildProgram(): Command {
  const program = new Command('edgemark')
    .description('Scalability testing for edge control planes: hollow KubeEdge edge nodes against a real CloudCore')
    .version(packageVersion())
    .option('--state-dir <dir>', 'state of the local cluster (env EDGEMARK_STATE_DIR; default ~/.local/state/edgemark/default)')
    .option('--cache-dir <dir>', 'build cache (env EDGEMARK_CACHE_DIR; default ~/.cache/edgemark)')
    .option('-v, --verbose', 'more output')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride();
  registerSetup(program);
  registerCluster(program);
  registerNodes(program);
  registerRun(program);
  registerFleet(program);
  registerImage(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (unknown flag, bad value, help).
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${redact(formatError(err))}\n`);
    return typeof process.exitCode === 'number' && process.exitCode !== 0 ? process.exitCode : 1;
  }
}
