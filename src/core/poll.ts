/**
 * One way to wait for something: call `check` until it returns a value, with a
 * pause between calls, a deadline and an abort signal. A timeout is an
 * EdgemarkError EM_TIMEOUT whose message names what was awaited (and the last
 * error, when `check` kept failing).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from './errors.js';

export interface PollOptions {
  timeoutMs: number;
  /** Pause between two checks; default 250 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
  /** Subsystem prefix of the error messages, e.g. "[cluster]". */
  prefix?: string;
  /** The fix shown with a timeout. */
  fix?: string;
  /**
   * Treat an exception from `check` as "not yet" and try again (the last one is
   * named at the timeout), as for API calls that fail while a server starts.
   * Default: an exception ends the wait and is thrown as it is.
   */
  retryErrors?: boolean;
}

/** Resolves with the first value of `check` other than undefined. */
export async function pollUntil<T>(what: string, check: () => T | undefined | Promise<T | undefined>, o: PollOptions): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  const prefix = o.prefix ? `${o.prefix} ` : '';
  let last: unknown;
  for (;;) {
    if (o.signal?.aborted) throw new EdgemarkError('EM_INTERRUPTED', `${prefix}interrupted while waiting for ${what}`);
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      if (!o.retryErrors) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? '' : `; last error: ${last instanceof Error ? last.message : String(last)}`;
      throw new EdgemarkError(
        'EM_TIMEOUT',
        `${prefix}timed out after ${formatMs(o.timeoutMs)} waiting for ${what}${why}`,
        o.fix,
        last === undefined ? undefined : { cause: last },
      );
    }
    await sleep(Math.min(o.intervalMs ?? 250, Math.max(0, deadline - Date.now()) + 1));
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
