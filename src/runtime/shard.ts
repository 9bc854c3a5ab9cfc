/**
 * One runner process's part of a plan: its fleet built from the shard (the
 * node kinds of its groups, the pod lifecycles, pacing and source addresses),
 * run until told to stop or until a fatal error. Both local runtimes run
 * shards: in this process, or one per worker process.
 */
import { join } from 'node:path';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import { Fleet } from '../fleet/fleet.js';
import type { FleetSummary } from '../fleet/summary.js';
import { StageEngine } from '../lifecycle/engine.js';
import { loadLifecycles } from '../lifecycle/schema.js';
import { sourceAddressOf } from './capacity.js';
import { nodeKinds } from './kinds.js';
import type { Shard } from './plan.js';
import type { Credentials } from './runtime.js';

export interface ShardHooks {
  /** The fleet exists (before it connects): wire metrics and reporting here. */
  onFleet?(fleet: Fleet): void;
}

/** Built-in stages plus the plan's, compiled once per process (bad files are refused here). */
export function stagesOf(stagePaths: string[]): StageEngine {
  return new StageEngine(loadLifecycles([join(packageRoot(), 'stages'), ...stagePaths]));
}

export function buildFleet(shard: Shard, credentials: Credentials, log: Logger): Fleet {
  const plan = shard.plan;
  return new Fleet({
    groups: shard.groups.map((g) => ({
      kind: g.group.kind,
      group: { name: g.group.name, prefix: g.group.prefix, profile: g.group.profile, timings: g.group.timings },
      count: g.count,
      firstIndex: g.firstIndex,
      stride: g.stride,
      indexBase: g.indexBase,
    })),
    kinds: nodeKinds,
    kindContext: {
      target: {
        cloudcore: plan.target.cloudcore,
        ...(plan.target.apiserver ? { apiserver: plan.target.apiserver } : {}),
        ...(plan.target.apiserverCa ? { apiserverCa: plan.target.apiserverCa } : {}),
      },
      credentials,
      dataDir: plan.dataDir,
      shard: shard.index,
      ...(plan.observe.recordFrames ? { recordFrames: plan.observe.recordFrames } : {}),
    },
    stages: stagesOf(plan.stagePaths),
    joinRate: shard.joinRate,
    maxJoining: shard.maxJoining,
    maxDialing: plan.pacing.maxDialing,
    traceMilestones: plan.observe.tracePods,
    nodeLog: plan.observe.nodeLog,
    sourceAddress: (g) => sourceAddressOf(g, shard.perSourceAddress),
    log,
  });
}

/** Runs the shard until `stop` resolves or a fatal error; returns the final summary. */
export async function runShard(
  shard: Shard,
  credentials: Credentials,
  log: Logger,
  signal: AbortSignal,
  stop: Promise<void>,
  hooks: ShardHooks = {},
): Promise<FleetSummary> {
  const fleet = buildFleet(shard, credentials, log);
  hooks.onFleet?.(fleet);
  const stopped = new Promise<void>((resolve) => {
    void stop.then(resolve);
    fleet.whenFatal(() => resolve());
  });
  try {
    await fleet.prepare(signal);
    await Promise.race([fleet.start(signal), stopped]);
    await stopped;
  } catch (err) {
    // Told to stop while waiting for the control plane: a clean stop, not a failure.
    if (!(signal.aborted && err instanceof EdgemarkError && err.code === 'EM_INTERRUPTED')) {
      fleet.stop();
      throw err;
    }
  }
  const summary = fleet.summary();
  fleet.stop();
  return summary;
}
