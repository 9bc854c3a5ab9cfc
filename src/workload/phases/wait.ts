/** wait: the cluster holds steady for `seconds` (cut at the run's deadline). */
import type { Phase } from '../../run/config.js';
import type { RunContext } from '../context.js';

export async function wait(ctx: RunContext, p: Extract<Phase, { kind: 'wait' }>): Promise<void> {
  await ctx.hold(p.seconds * 1000);
}
