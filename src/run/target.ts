/**
 * Where a run goes: the local control plane in the state directory, started
 * here if there is none, and refused (before anything is created) if a
 * component is unhealthy or CloudCore cannot take the test's nodes.
 */
import { clusterStatus, clusterUp } from '../cluster/cluster.js';
import { readState, type ClusterState } from '../cluster/state.js';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { LoadTest } from './config.js';

export interface TargetOptions {
  test: LoadTest;
  stateDir: string;
  cacheDir: string;
  log: Logger;
  signal: AbortSignal;
}

/** The local cluster, up and able to take the nodes; started here if there is none. */
export async function ensureTarget(o: TargetOptions, nodeCount: number): Promise<ClusterState> {
  let state = readState(o.stateDir);
  const wantLimit = Math.max(o.test.spec.cluster.nodeLimit ?? 0, nodeCount + 10);
  if (!state) {
    o.log.info(`no local control plane in ${o.stateDir}: bringing one up (node limit ${Math.max(wantLimit, 1000)})`);
    state = await clusterUp({ stateDir: o.stateDir, cacheDir: o.cacheDir, nodeLimit: Math.max(wantLimit, 1000), signal: o.signal });
  }
  const { components } = await clusterStatus(o.stateDir);
  const bad = components.filter((c) => !c.health.healthy);
  if (bad.length) {
    throw new EdgemarkError(
      'EM_TARGET_UNREACHABLE',
      `[run] the local control plane in ${o.stateDir} is not healthy: ${bad.map((c) => `${c.name} (${c.health.detail})`).join(', ')}`,
      '`edgemark cluster up` restarts what stopped; `edgemark cluster status` shows each component',
    );
  }
  if (nodeCount > state.nodeLimit) {
    throw new EdgemarkError(
      'EM_NODE_LIMIT',
      `[run] the test runs ${nodeCount} nodes but the local CloudCore takes at most ${state.nodeLimit}`,
      `\`edgemark cluster down && edgemark cluster up --node-limit ${nodeCount + 10}\`, or lower spec.nodes.count`,
    );
  }
  return state;
}
