/**
 * Waiting for the run's Deployments to be available, shared by the phases
 * that create or scale them.
 */
import type { DeploymentState, RunContext } from './context.js';

/** Every Deployment has all its replicas, all available. */
export function allAvailable(ds: DeploymentState[]): boolean {
  return ds.every((d) => d.available === d.replicas && d.current === d.replicas);
}

/** A generous bound for waits that scale with the pods a run could hold (110 per node). */
export function podWaitMs(ctx: RunContext): number {
  return Math.max(600_000, ctx.test.spec.nodes.count * 110 * 150);
}

/**
 * Every Deployment available, or no progress for `ctx.stallMs`: pods a
 * control plane under load never delivered are the run's finding (counted as
 * lost, with a warning), not a reason to wait until the timeout.
 */
export async function untilAvailable(ctx: RunContext, what: string): Promise<void> {
  const stallMs = ctx.stallMs;
  let best = -1;
  let since = ctx.time.now();
  let want = 0;
  let have = 0;
  await ctx.until(
    () => `${what}: ${have}/${want} pods available`,
    async () => {
      const ds = await ctx.kube.listDeployments();
      want = ds.reduce((a, d) => a + d.replicas, 0);
      have = ds.reduce((a, d) => a + Math.min(d.available, d.replicas), 0);
      if (have > best) {
        best = have;
        since = ctx.time.now();
      }
      if (allAvailable(ds)) return true;
      if (ctx.time.now() - since > stallMs && have > 0) {
        ctx.log.warn(`  ${want - have} of ${want} pods never became available in ${stallMs / 1000} s; going on (they count as lost)`);
        return true;
      }
      return false;
    },
    podWaitMs(ctx),
    2000,
  );
}
