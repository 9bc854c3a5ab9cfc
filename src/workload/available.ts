/**
 * Waiting for the run's Deployments to be available, shared by the phases
 * that create or scale them.
 */
import { nodeCount } from '../run/config.js';
import type { DeploymentState, RunContext } from './context.js';

/** Every Deployment has all its replicas, all available. */
export function allAvailable(ds: DeploymentState[]): boolean {
  return ds.every((d) => d.available === d.replicas && d.current === d.replicas);
}

/** A generous bound for waits that scale with the pods a run could hold (110 per node). */
export function podWaitMs(ctx: RunContext): number {
  return Math.max(600_000, nodeCount(ctx.test) * 110 * 150);
}

/** How `untilAvailable` feeds the Deployments on its way: each grows to `replicas`, at most `ahead` beyond those available. */
export interface Feed {
  replicas: number;
  ahead: number;
  /** Paces the scale calls. */
  pace: { wait(): Promise<void> };
}

/**
 * Every Deployment available, or no progress for `ctx.stallMs`: pods a
 * control plane under load never delivered are the run's finding (counted as
 * lost, with a warning), not a reason to wait until the timeout.
 *
 * With `feed`, each poll also grows the Deployments toward `feed.replicas`,
 * never more than `feed.ahead` beyond their available pods, and not while
 * any of the run's nodes is not Ready; the time held back that way is added
 * to `ctx.heldMs`.
 */
export async function untilAvailable(ctx: RunContext, what: string, feed?: Feed): Promise<void> {
  const stallMs = ctx.stallMs;
  let best = -1;
  let since = ctx.time.now();
  let want = 0;
  let have = 0;
  let lastPoll = ctx.time.now();
  await ctx.until(
    () => `${what}: ${have}/${want} pods available`,
    async () => {
      const ds = await ctx.kube.listDeployments();
      const now = ctx.time.now();
      if (feed) await grow(ctx, ds, feed, now - lastPoll);
      lastPoll = now;
      want = ds.reduce((a, d) => a + (feed ? feed.replicas : d.replicas), 0);
      have = ds.reduce((a, d) => a + Math.min(d.available, d.replicas), 0);
      if (have > best) {
        best = have;
        since = ctx.time.now();
      }
      if (allAvailable(ds) && (!feed || ds.every((d) => d.replicas === feed.replicas))) return true;
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

/** One step of a feed; `ds` is updated to the replicas it set. */
async function grow(ctx: RunContext, ds: DeploymentState[], feed: Feed, sinceLastMs: number): Promise<void> {
  const held = ctx.nodesReady() < nodeCount(ctx.test);
  let heldBack = false;
  for (const d of ds) {
    const next = feed.replicas <= d.replicas ? feed.replicas : Math.min(feed.replicas, d.available + feed.ahead);
    if (next === d.replicas) continue;
    if (next > d.replicas && held) {
      heldBack = true;
      continue;
    }
    await feed.pace.wait();
    if (ctx.signal.aborted) return;
    await ctx.kube.scaleDeployment(d.namespace, d.name, next);
    d.replicas = next;
  }
  if (heldBack) ctx.heldMs += sinceLastMs;
}
