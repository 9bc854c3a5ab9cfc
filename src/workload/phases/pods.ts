/** pods: `perNamespace` bare pods in every namespace, created at `qps`; the phase ends when all are Running. */
import type { Phase } from '../../run/config.js';
import { podWaitMs } from '../available.js';
import type { RunContext } from '../context.js';

export async function pods(ctx: RunContext, p: Extract<Phase, { kind: 'pods' }>): Promise<void> {
  const pace = ctx.pacer(p.qps);
  let i = 0;
  for (const ns of ctx.needNamespaces()) {
    for (let j = 0; j < p.perNamespace; j++) {
      await pace.wait();
      if (ctx.signal.aborted) return;
      await ctx.kube.createPod(ns, `pod-${ctx.time.now().toString(36)}-${i++}`, 'bare');
    }
  }
  await ctx.until('every pod Running', async () => (await ctx.kube.listPods()).every((x) => x.phase === 'Running'), podWaitMs(ctx), 2000);
}
