/**
 * What the node modules (edgehub, metamanager, edged) share: the node's name
 * and timers, and the fleet context that every node of a runner shares
 * (scheduler, timings, profile, where to dial, event sink). Shared things live
 * once per runner, not once per node.
 */
import type { BeehiveMessage } from '../protocol/message.js';
import type { Scheduler } from '../core/scheduler.js';
import type { EdgeStore } from './metamanager/store.js';
import type { StageEngine } from '../lifecycle/engine.js';
import type { NodeProfile } from './edged/objects.js';
import type { EdgeTimings } from './timings.js';

/** Timer kinds of a node: small integers, so the scheduler holds no closures. */
export const Timer = {
  keepalive: 0,
  reconnect: 1,
  register: 2,
  lease: 3,
  nodeStatus: 4,
  sweep: 5,
  twinMembership: 6,
} as const;
export type TimerKind = (typeof Timer)[keyof typeof Timer];
export const TIMER_KINDS = 7;

export interface FleetEvents {
  /** A raw frame as it arrived, before decoding (for recording fixtures). */
  frameIn?(text: string): void;
  messageIn(m: BeehiveMessage): void;
  messageOut(m: BeehiveMessage): void;
  reconnected(node: NodeHost): void;
  /** The node's first websocket is open: the runner's side of its join is done. */
  firstConnect?(node: NodeHost): void;
  /** A pod milestone at the edge (for delivery latency), when tracing is on. */
  podTrace?(uid: string, event: 'admitted' | 'running-sent' | 'duplicate-insert'): void;
  /** A dial (bootstrap included) began (+1) or ended (-1): the fleet caps how many run at once. */
  dialing?(delta: 1 | -1): void;
  /** A push was stored and its ACK sent, this long after it arrived. */
  acked?(ms: number): void;
  error(node: NodeHost, kind: string, err: unknown): void;
  /** The node's externally visible state changed. */
  changed(node: NodeHost): void;
}

export interface FleetContext {
  scheduler: Scheduler;
  /** The runner's one store (SQLite) shared by every node. */
  store: EdgeStore;
  /** Pod lifecycles (stages/*.yaml and the user's), compiled once. */
  stages: StageEngine;
  timings: EdgeTimings;
  profile: NodeProfile;
  dial: { server: string; servername?: string; projectId?: string };
  random: () => number;
  events: FleetEvents;
  /** Errors after which a node stops instead of retrying (bad token, CA mismatch). */
  isFatal(err: unknown): boolean;
}

export interface NodeHost {
  readonly name: string;
  readonly fleet: FleetContext;
  readonly localAddress?: string;
  schedule(kind: TimerKind, delayMs: number): void;
  cancel(kind: TimerKind): void;
}
