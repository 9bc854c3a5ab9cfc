/**
 * churn: bare pods created at `podsPerSecond` in the first namespace for
 * `seconds` (or until the deadline), each deleted once `lifetimeSeconds` old.
 * Pods still alive at the end are left to a later delete phase or cleanup.
 */
import type { Phase } from '../../run/config.js';
import type { RunContext } from '../context.js';

export async function churn(ctx: RunContext, p: Extract<Phase, { kind: 'churn' }>): Promise<void> {
  const ns = ctx.needNamespaces()[0]!;
  const pace = ctx.pacer(p.podsPerSecond);
  const end = ctx.time.now() + p.seconds * 1000;
  const toDelete: { at: number; name: string }[] = [];
  let i = 0;
  const over = () => ctx.time.now() >= end || ctx.abortedOrLate();
  while (!over()) {
    await pace.wait();
    if (over()) break;
    const name = `churn-${i++}`;
    await ctx.kube.createPod(ns, name, 'churn');
    toDelete.push({ at: ctx.time.now() + p.lifetimeSeconds * 1000, name });
    while (toDelete.length && toDelete[0]!.at <= ctx.time.now()) await ctx.kube.deletePod(ns, toDelete.shift()!.name);
  }
  ctx.log.info(`  churn: created ${i} pods`);
}
