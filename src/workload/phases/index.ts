/**
 * The phase kinds of a LoadTest and what each does, keyed by kind: a kind
 * added to the schema (src/run/config.ts) does not compile until it has an
 * executor and a description here.
 */
import { EdgemarkError } from '../../core/errors.js';
import type { Phase } from '../../run/config.js';
import type { RunContext } from '../context.js';
import { churn } from './churn.js';
import { deleteObjects } from './delete.js';
import { deployments } from './deployments.js';
import { footprint } from './footprint.js';
import { namespaces } from './namespaces.js';
import { nodesDown } from './nodes-down.js';
import { nodesUp } from './nodes-up.js';
import { pods } from './pods.js';
import { scale } from './scale.js';
import { wait } from './wait.js';

type PhaseOf<K extends Phase['kind']> = Extract<Phase, { kind: K }>;

export const executors: { [K in Phase['kind']]: (ctx: RunContext, phase: PhaseOf<K>) => Promise<void> } = {
  nodesUp,
  namespaces,
  deployments,
  pods,
  wait,
  scale,
  delete: deleteObjects,
  churn,
  footprint,
  nodesDown,
};

export function describe(p: Phase): string {
  switch (p.kind) {
    case 'nodesUp':
      return 'hollow edge nodes up';
    case 'namespaces':
      return `${p.count} namespace(s)`;
    case 'deployments':
      return `${p.perNamespace} deployment(s) per namespace (${p.replicas !== undefined ? `${p.replicas} replicas` : `${p.podsPerNode} pods per node`}) at ${p.qps} qps`;
    case 'pods':
      return `${p.perNamespace} pod(s) per namespace at ${p.qps} qps`;
    case 'wait':
      return `steady for ${p.seconds} s`;
    case 'scale':
      return `every deployment to ${p.replicas} replicas${p.ahead !== undefined ? `, fed ${p.ahead} ahead of those available while every node is Ready` : ''}`;
    case 'delete':
      return `delete the ${p.what}`;
    case 'churn':
      return `${p.podsPerSecond} pods/s for ${p.seconds} s, each living ${p.lifetimeSeconds} s`;
    case 'footprint':
      return `pods ${p.from} to ${p.to} by ${p.step}, ${p.holdSeconds} s each`;
    case 'nodesDown':
      return 'hollow edge nodes down';
  }
}

export function runPhase(ctx: RunContext, p: Phase): Promise<void> {
  // The registry's type pairs each kind with its executor; TypeScript cannot follow that through p.kind.
  return (executors[p.kind] as (ctx: RunContext, phase: Phase) => Promise<void>)(ctx, p);
}

/**
 * Runs the test's phases in order, each logged and recorded in ctx.phaseLog.
 * Returns false if Ctrl-C or the deadline stopped it before a phase; throws
 * what a phase threw, or EM_RUNNER_FAILED once the fleet stopped on its own.
 */
export async function runPhases(ctx: RunContext): Promise<boolean> {
  const all = ctx.test.spec.phases;
  for (const [i, p] of all.entries()) {
    if (ctx.abortedOrLate()) return false;
    const t0 = ctx.time.now();
    ctx.log.info(`phase ${i + 1}/${all.length}: ${describe(p)}`);
    await runPhase(ctx, p);
    ctx.phaseLog.push({ kind: p.kind, description: describe(p), startMs: t0 - ctx.startedAt, endMs: ctx.time.now() - ctx.startedAt });
    ctx.onPhaseEnd?.(p.kind);
    const failure = ctx.fleet.failure();
    if (failure) throw new EdgemarkError('EM_RUNNER_FAILED', `[run] ${failure}`);
  }
  return !ctx.signal.aborted;
}
