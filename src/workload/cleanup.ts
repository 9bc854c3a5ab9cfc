/**
 * What a run leaves behind, removed whatever happened (done, failed or
 * Ctrl-C): the fleet, the namespaces (with everything in them), the Nodes.
 * Each step is tried; what fails is returned, to be recorded, not swallowed.
 */
import type { RunContext } from './context.js';
import { deleteRunNodes } from './phases/nodes-down.js';

export async function cleanUp(ctx: RunContext): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const problem = `cleanup: could not ${what}: ${err instanceof Error ? err.message : String(err)}`;
      problems.push(problem);
      ctx.log.warn(problem);
    }
  };
  await attempt('stop the hollow nodes', () => ctx.fleet.down());
  for (const ns of ctx.namespaces) await attempt(`delete namespace ${ns}`, () => ctx.kube.deleteNamespace(ns));
  await attempt("delete the run's nodes", () => deleteRunNodes(ctx.kube));
  return problems;
}
