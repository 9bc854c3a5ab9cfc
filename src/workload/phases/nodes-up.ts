/** nodesUp: the fleet starts the run's hollow nodes; the phase ends when all are Ready. */
import { EdgemarkError } from '../../core/errors.js';
import type { RunContext } from '../context.js';

export async function nodesUp(ctx: RunContext): Promise<void> {
  const n = ctx.test.spec.nodes;
  await ctx.fleet.up(ctx);
  await ctx.until(
    () => `${n.count} nodes Ready: ${ctx.nodesReady()} so far`,
    () => {
      const failure = ctx.fleet.failure();
      if (failure) throw new EdgemarkError('EM_RUNNER_FAILED', `[run] ${failure}`);
      return ctx.nodesReady() >= n.count;
    },
    120_000 + (n.count / n.joinRate) * 3000,
  );
}
