/** nodesUp: the fleet starts the run's hollow nodes; the phase ends when all are Ready. */
import { EdgemarkError } from '../../core/errors.js';
import { fleetJoinRate, nodeCount } from '../../run/config.js';
import type { RunContext } from '../context.js';

export async function nodesUp(ctx: RunContext): Promise<void> {
  const count = nodeCount(ctx.test);
  await ctx.fleet.up(ctx);
  await ctx.until(
    () => `${count} nodes Ready: ${ctx.nodesReady()} so far`,
    () => {
      const failure = ctx.fleet.failure();
      if (failure) throw new EdgemarkError('EM_RUNNER_FAILED', `[run] ${failure}`);
      return ctx.nodesReady() >= count;
    },
    120_000 + (count / fleetJoinRate(ctx.test)) * 3000,
  );
}
