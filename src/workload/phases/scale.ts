/**
 * scale: every Deployment of the run to `replicas`, patched at `qps`; the
 * phase ends when they are available, or stalled. With `ahead`, they are fed
 * instead: grown on each poll to at most `ahead` beyond their available pods,
 * and held while any of the run's nodes is not Ready.
 */
import type { Phase } from '../../run/config.js';
import { untilAvailable } from '../available.js';
import type { RunContext } from '../context.js';

export async function scale(ctx: RunContext, p: Extract<Phase, { kind: 'scale' }>): Promise<void> {
  const pace = ctx.pacer(p.qps);
  const what = `every deployment at ${p.replicas} replicas`;
  if (p.ahead !== undefined) return untilAvailable(ctx, what, { replicas: p.replicas, ahead: p.ahead, pace });
  for (const d of await ctx.kube.listDeployments()) {
    await pace.wait();
    await ctx.kube.scaleDeployment(d.namespace, d.name, p.replicas);
  }
  await untilAvailable(ctx, what);
}
