/**
 * footprint: one Deployment in the first namespace, scaled from `from` to
 * `to` pods by `step`; at each size, once available, the resource samples of
 * a `holdSeconds` window are averaged into one footprint step.
 */
import type { Phase } from '../../run/config.js';
import type { FootprintStep } from '../../run/results.js';
import { allAvailable } from '../available.js';
import type { RunContext } from '../context.js';

export async function footprint(ctx: RunContext, p: Extract<Phase, { kind: 'footprint' }>): Promise<void> {
  const ns = ctx.needNamespaces()[0]!;
  await ctx.kube.createDeployment(ns, 'footprint', p.from);
  for (let n = p.from; n <= p.to && !ctx.abortedOrLate(); n += p.step) {
    await ctx.kube.scaleDeployment(ns, 'footprint', n);
    await ctx.until(`${n} footprint pods available`, async () => allAvailable(await ctx.kube.listDeployments()), 300_000, 1000);
    const from = ctx.resources.points.length;
    await ctx.hold(p.holdSeconds * 1000);
    await ctx.resources.sample();
    const window = ctx.resources.points.slice(from);
    const step: FootprintStep = { pods: n, cpu: averageBy(window, 'cpu'), rss: averageBy(window, 'rss') };
    ctx.footprint.push(step);
    ctx.log.info(
      `  footprint: ${n} pods; runner ${((step.rss.runner ?? 0) / 2 ** 20).toFixed(0)} MiB, cloudcore ${((step.cpu.cloudcore ?? 0) * 1000).toFixed(0)} millicores`,
    );
  }
}

function averageBy(points: readonly { cpu: Record<string, number>; rss: Record<string, number> }[], key: 'cpu' | 'rss'): Record<string, number> {
  const out: Record<string, number> = {};
  if (!points.length) return out;
  for (const p of points) for (const [k, v] of Object.entries(p[key])) out[k] = (out[k] ?? 0) + v / points.length;
  return out;
}
