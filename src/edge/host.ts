/**
 * What the edge node's modules (edgehub, metamanager, edged, devicetwin) share:
 * the node's name and timers, and the context every edge node of a runner
 * process shares (scheduler, store, timings, profile, where to dial, event
 * sink). Shared things live once per runner process and group, not per node.
 * The edge kind (kind.ts) builds this context; nothing here knows the fleet.
 */
import type { BeehiveMessage } from '../protocol/message.js';
import type { Scheduler } from '../core/scheduler.js';
import type { HollowNode, NodeErrorKind, PodMilestone } from '../kind/kind.js';
import type { PodEnv } from '../pods/host.js';
import type { NodeStore } from '../store/store.js';
import type { StageEngine } from '../lifecycle/engine.js';
import type { NodeProfile } from './edged/objects.js';
import type { EdgeTimings } from './timings.js';
import type { LinkFactory } from './edgehub/link.js';

/** Timer kinds of an edge node: small integers, so the scheduler holds no closures. */
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
export const TIMER_KINDS = Object.keys(Timer).length;

/** What an edge node tells its runner; the edge kind turns it into kind-neutral events. */
export interface EdgeEvents {
  /** A raw frame as it arrived, before decoding (for recording fixtures). */
  frameIn?(text: string): void;
  /** A message in or out, and its frame's size (bytes of its JSON). */
  messageIn(m: BeehiveMessage, bytes: number): void;
  messageOut(m: BeehiveMessage, bytes: number): void;
  reconnected(node: NodeHost): void;
  /** The node's first websocket is open: the runner's side of its join is done. */
  firstConnect?(node: NodeHost): void;
  /** A pod milestone at the edge (for delivery latency). */
  podTrace?(uid: string, event: PodMilestone): void;
  /** A dial (bootstrap included) began (+1) or ended (-1): the runner caps how many run at once. */
  dialing?(delta: 1 | -1): void;
  /** A push was stored and its ACK sent, this long after it arrived. */
  acked?(ms: number): void;
  error(node: HollowNode, kind: NodeErrorKind, err: unknown): void;
  /** The node's externally visible state changed. */
  changed(node: NodeHost): void;
}

export interface EdgeContext {
  scheduler: Scheduler;
  /** The runner process's one store (SQLite) shared by every edge node. */
  store: NodeStore;
  /** Pod lifecycles (stages/*.yaml and the user's), compiled once. */
  stages: StageEngine;
  timings: EdgeTimings;
  profile: NodeProfile;
  dial: {
    server: string;
    servername?: string;
    projectId?: string;
    /**
     * The other CloudCores (HA): after a failed dial the node tries the next
     * one, round the list, as a load balancer gives the next backend when one
     * is down.
     */
    fallbacks?: { server: string; servername?: string }[];
  };
  /** The link each node dials CloudHub over; the mutual-TLS websocket when absent. */
  link?: LinkFactory;
  random: () => number;
  events: EdgeEvents;
  /** Errors after which a node stops instead of retrying (bad token, CA mismatch). */
  isFatal(err: unknown): boolean;
  /** What the nodes' pods (src/pods) see of this context: built from it once (edgePodEnv), shared by its nodes. */
  pods: PodEnv;
}

/** An edge node as its modules see it. */
export interface NodeHost extends HollowNode {
  readonly ctx: EdgeContext;
  readonly localAddress?: string;
  schedule(kind: TimerKind, delayMs: number): void;
  cancel(kind: TimerKind): void;
}
