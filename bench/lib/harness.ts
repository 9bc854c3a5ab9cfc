/**
 * What every bench script shares: Ctrl-C that stops the bench cleanly (a
 * second one forces), log lines stamped with the seconds since the start, the
 * machine's facts a result carries, and the result file under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageVersion } from '../../src/core/paths.js';

export interface Bench {
  signal: AbortSignal;
  log(line: string): void;
}

/** SIGINT aborts `signal` (the bench writes what it measured); a second SIGINT exits at once. */
export function startBench(): Bench {
  const ac = new AbortController();
  const t0 = Date.now();
  const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
  process.on('SIGINT', () => {
    if (ac.signal.aborted) process.exit(130);
    log('SIGINT: stopping; writing what was measured (Ctrl-C again to force)');
    ac.abort();
  });
  return { signal: ac.signal, log };
}

export function machineFacts(settings: Record<string, unknown>) {
  return {
    date: new Date().toISOString(),
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    version: packageVersion(),
    settings,
  };
}

/** Writes `<outDir>/<name>-<date>.json` and returns its path. */
export function writeResult(outDir: string, name: string, date: string, doc: unknown): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${name}-${date.slice(0, 19).replace(/[:T]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
