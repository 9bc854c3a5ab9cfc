/** scale: every Deployment of the run to `replicas`, patched at `qps`; the phase ends when they are available, or stalled. */
import type { Phase } from '../../run/config.js';
import { untilAvailable } from '../available.js';
import type { RunContext } from '../context.js';

export async function scale(ctx: RunContext, p: Extract<Phase, { kind: 'scale' }>): Promise<void> {
  const pace = ctx.pacer(p.qps);
  for (const d of await ctx.kube.listDeployments()) {
    await pace.wait();
    await ctx.kube.scaleDeployment(d.namespace, d.name, p.replicas);
  }
  await untilAvailable(ctx, `every deployment at ${p.replicas} replicas`);
}
