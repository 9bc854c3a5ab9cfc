/**
 * What every verb shares: global options resolved to directories, a logger, a
 * strict number parser, and Ctrl-C handling (first: stop cleanly; second: force).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { EdgemarkError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { defaultCacheDir, defaultStateDir } from '../core/paths.js';

export interface GlobalOptions {
  stateDir?: string;
  cacheDir?: string;
  verbose?: boolean;
}

export function cliContext(cmd: Command): { log: Logger; stateDir: string; cacheDir: string } {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return {
    log: createLogger({ level: g.verbose ? 'debug' : 'info' }),
    stateDir: g.stateDir ? resolve(g.stateDir) : defaultStateDir(),
    cacheDir: g.cacheDir ? resolve(g.cacheDir) : defaultCacheDir(),
  };
}

export function parsePositiveInt(flag: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) <= 0) {
      throw new InvalidArgumentError(`${flag} takes a whole number above 0, not "${v}"`);
    }
    return Number(v);
  };
}

/** A whole number, 0 included; `zero` says what 0 means (for the error message). */
export function parseNonNegativeInt(flag: string, zero: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${flag} takes a whole number (0 for ${zero}), not "${v}"`);
    return Number(v);
  };
}

export function versionOptions(cmd: Command): Command {
  return cmd
    .option('--kubernetes-version <v>', 'Kubernetes version to build (see `edgemark versions`)')
    .option('--etcd-version <v>', 'etcd version to build')
    .option('--kubeedge-version <v>', 'KubeEdge (CloudCore) version to build');
}

/**
 * Runs `fn` with an AbortSignal that the first Ctrl-C (or SIGTERM) aborts; a
 * second Ctrl-C exits at once.
 */
export async function interruptible<T>(log: Logger, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      log.warn('second interrupt: exiting now');
      process.exit(130);
    }
    log.info(`${sig}: stopping cleanly; press Ctrl-C again to force`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } catch (err) {
    if (ac.signal.aborted && !(err instanceof EdgemarkError && err.code === 'EM_INTERRUPTED')) {
      process.exitCode = 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
