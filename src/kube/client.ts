/**
 * Thin helpers over @kubernetes/client-node: load a kubeconfig, tell NotFound
 * from other errors, wait for a condition.
 */
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

export { k8s };

export function loadKubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** HTTP status of an error thrown by the client, if it is an API error. */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === 'number') return c;
  }
  return undefined;
}

export const isNotFound = (err: unknown) => apiStatus(err) === 404;
export const isConflict = (err: unknown) => apiStatus(err) === 409;

/** Calls `fn` until it returns a value other than undefined, or times out. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  o: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let last: unknown;
  for (;;) {
    if (o.signal?.aborted) throw new Error(`interrupted while waiting for ${what}`);
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${o.timeoutMs}ms waiting for ${what}${why}`);
    }
    await sleep(o.intervalMs ?? 250);
  }
}
