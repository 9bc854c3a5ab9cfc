/** namespaces: `count` more namespaces, ready once each has its default ServiceAccount. */
import type { Phase } from '../../run/config.js';
import type { RunContext } from '../context.js';

export async function namespaces(ctx: RunContext, p: Extract<Phase, { kind: 'namespaces' }>): Promise<void> {
  for (let i = 0; i < p.count; i++) {
    const name = `${ctx.runId}-${ctx.namespaces.length}`;
    await ctx.kube.createNamespace(name);
    ctx.namespaces.push(name);
  }
  await ctx.until(
    'default service accounts',
    async () => {
      for (const ns of ctx.namespaces) if (!(await ctx.kube.hasDefaultServiceAccount(ns))) return false;
      return true;
    },
    60_000,
  );
}
