/** delete: the run's Deployments (or its pods), deleted at `qps`; the phase ends when no pod of the run is left. */
import type { Phase } from '../../run/config.js';
import { podWaitMs } from '../available.js';
import type { RunContext } from '../context.js';

export async function deleteObjects(ctx: RunContext, p: Extract<Phase, { kind: 'delete' }>): Promise<void> {
  const pace = ctx.pacer(p.qps);
  if (p.what === 'deployments') {
    for (const d of await ctx.kube.listDeployments()) {
      await pace.wait();
      await ctx.kube.deleteDeployment(d.namespace, d.name);
    }
  } else {
    for (const x of await ctx.kube.listPods()) {
      await pace.wait();
      await ctx.kube.deletePod(x.namespace, x.name);
    }
  }
  await ctx.until('the pods to be gone', async () => (await ctx.kube.listPods()).length === 0, podWaitMs(ctx), 2000);
}
