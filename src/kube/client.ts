/**
 * Thin helpers over @kubernetes/client-node: load a kubeconfig, tell NotFound
 * from other errors, wait for a condition (core/poll.ts with API errors retried).
 */
import * as k8s from '@kubernetes/client-node';
import { pollUntil } from '../core/poll.js';

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

/** Deletes these Node objects and their Leases in kube-node-lease (gone already counts as done); returns what could not be deleted. */
export async function deleteNodes(kc: k8s.KubeConfig, names: string[]): Promise<string[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  const problems: string[] = [];
  const note = (what: string) => (e: unknown) => {
    if (!isNotFound(e)) problems.push(`${what}: ${(e as Error).message}`);
  };
  for (const name of names) {
    await core.deleteNode({ name }).catch(note(`Node ${name}`));
    await coord.deleteNamespacedLease({ name, namespace: 'kube-node-lease' }).catch(note(`Lease ${name}`));
  }
  return problems;
}
export const isConflict = (err: unknown) => apiStatus(err) === 409;

/**
 * Calls `fn` until it returns a value other than undefined; an exception counts
 * as "not yet" (the API may still be starting). Times out with EM_TIMEOUT.
 */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined>, o: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal }): Promise<T> {
  return pollUntil(what, fn, { ...o, retryErrors: true, prefix: '[kube]' });
}
