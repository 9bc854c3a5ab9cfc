/**
 * deployments: `perNamespace` Deployments in every namespace, created at
 * `qps`, each of `replicas` pods (or `podsPerNode` spread over all of them);
 * the phase ends when they are available, or stalled.
 */
import { nodeCount, type Phase } from '../../run/config.js';
import { untilAvailable } from '../available.js';
import type { RunContext } from '../context.js';

export async function deployments(ctx: RunContext, p: Extract<Phase, { kind: 'deployments' }>): Promise<void> {
  const pace = ctx.pacer(p.qps);
  const existing = (await ctx.kube.listDeployments()).length;
  const nss = ctx.needNamespaces();
  const all = nss.length * p.perNamespace;
  const replicas = p.replicas ?? Math.ceil(((p.podsPerNode ?? 0) * nodeCount(ctx.test)) / all);
  ctx.log.info(`  ${all} deployment(s) of ${replicas} replicas: ${all * replicas} pods`);
  for (const ns of nss) {
    for (let j = 0; j < p.perNamespace; j++) {
      await pace.wait();
      if (ctx.signal.aborted) return;
      await ctx.kube.createDeployment(ns, `deploy-${existing + j}`, replicas);
    }
  }
  await untilAvailable(ctx, 'every deployment available');
}
