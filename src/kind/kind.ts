/**
 * What kind of node a hollow node is, as the runner sees it. The runner (the
 * fleet) paces starts, counts states and traffic, and reports; a node kind
 * (the KubeEdge edge node today, a kubelet next) owns everything about how its
 * nodes join, what they send, which states they pass through and which timers
 * they keep. The fleet talks to a kind only through these interfaces, and a
 * kind reaches the runner only through `RunnerEvents`.
 */
import type { Logger } from '../core/log.js';
import type { EdgemarkError } from '../core/errors.js';
import type { Scheduler } from '../core/scheduler.js';
import type { StageEngine } from '../lifecycle/engine.js';
import type { LinkCondition } from '../link/model.js';

/** Pod milestones at the node, for delivery latency. */
export type PodMilestone = 'admitted' | 'running-sent' | 'duplicate-insert';

/**
 * Error kinds a node reports. The fleet counts them by kind; `register-timeout`
 * also frees the join window (the control plane did not answer the join).
 */
export type NodeErrorKind =
  | 'bootstrap'
  | 'connect'
  | 'decode'
  | 'register'
  | 'register-timeout'
  | 'lease'
  | 'nodestatus'
  | 'push'
  | 'pod-message'
  | 'podpatch'
  | 'twin-message';

/** One hollow node of any kind. */
export interface HollowNode {
  readonly name: string;
  /** One of its kind's `states`. */
  readonly state: string;
  start(): void;
  stop(): void;
  /** Stops for good after a fatal error (a refused token, a foreign CA). */
  fail(): void;
  /** Its pods now: running, and admitted or rejected so far. */
  podCounts(): { running: number; admitted: number; rejected: number };
  /** Lays a condition on its link to the cloud, or lifts it (kinds with a frame link: the edge kind). */
  impairLink?(c: LinkCondition | undefined): void;
  /** Drops its connection now; it reconnects with its backoff, or at once (`backoff` false). */
  dropLink?(backoff: boolean): void;
}

/** What the runner hears from its nodes. Counting only: nothing here blocks. */
export interface RunnerEvents {
  /** One message in or out, by its route key (`<operation> <resource type>`), and its size on the link (frame bytes) when known. */
  traffic(direction: 'in' | 'out', key: string, bytes?: number): void;
  /** The node's first connection is open: the runner's side of its join is done. */
  firstConnect(node: HollowNode): void;
  reconnected(node: HollowNode): void;
  /** A dial (credentials included) began (+1) or ended (-1): the fleet caps how many run at once. */
  dialing(delta: 1 | -1): void;
  /** A pushed object was stored and acknowledged, this long after it arrived. */
  acked(ms: number): void;
  podMilestone(uid: string, event: PodMilestone): void;
  error(node: HollowNode, kind: NodeErrorKind, err: unknown): void;
  /** An error after which no node of this runner can work (bad credentials): the run stops. */
  fatal(node: HollowNode, err: EdgemarkError): void;
  /** The node's state changed. */
  changed(node: HollowNode): void;
  /** A warning for the user, printed once per key. */
  warnOnce(key: string, message: string): void;
}

/** Where a node of a group connects: the control plane's addresses for this kind. */
export interface KindTarget {
  /** CloudHub websocket host:port (edge kind); spread over when several. */
  cloudcore: { websocket: string; https: string }[];
  /** kube-apiserver URL (kubelet kind). */
  apiserver?: string;
  /** kube-apiserver's CA, PEM (kubelet kind). */
  apiserverCa?: string;
}

/** One group of nodes of one kind, as a shard of the runner holds it. */
export interface KindGroup {
  name: string;
  prefix: string;
  /** Node profile (capacity, labels, taints...), validated by the kind. */
  profile: Record<string, unknown>;
  /** Overrides of the kind's default timings, validated by the kind. */
  timings: Record<string, number>;
}

/** One user's credentials out of a kubeconfig, as data (they travel to runner processes; never logged). */
export interface GivenCredential {
  /** The kubeconfig's user entry name (for messages; not the authenticated name). */
  user: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

/** Identities given to nodes instead of their own bootstrap: one all share, or a directory of <node>.kubeconfig. */
export type GivenIdentity = { shared: GivenCredential; source: string } | { dir: string };

/** What the runner gives a kind when it creates it (once per runner process). */
export interface KindContext {
  scheduler: Scheduler;
  events: RunnerEvents;
  stages: StageEngine;
  random: () => number;
  log: Logger;
  target: KindTarget;
  /** Credentials to join with (a join token, a bootstrap token, given node identities); never logged. */
  credentials: { token: string; bootstrapToken?: string; nodeKubeconfig?: GivenIdentity };
  /** A directory of this runner process for the kind's state (certificates, store). */
  dataDir: string;
  /** Worker index of this runner process (workers each keep their own store); undefined when it is the only one. */
  shard: number | undefined;
  /** Sample the frames the control plane sends into this JSONL file (fixtures). */
  recordFrames?: string;
}

/** A node of a group: its name and global index (names and fake addresses derive from it). */
export interface NodeSpec {
  group: KindGroup;
  name: string;
  index: number;
  /** The local address to dial from (spreads source ports over 127.0.0.0/8). */
  sourceAddress?: string;
}

/** One kind, instantiated in one runner process. */
export interface NodeKind {
  readonly name: string;
  /** Every state a node of this kind can be in, in display order; includes the common ones. */
  readonly states: readonly string[];
  /** Before the first node: fetch what every node needs (a CA, say), retrying while unreachable. */
  prepare(signal: AbortSignal): Promise<void>;
  createNode(spec: NodeSpec): HollowNode;
  /** Figures of this kind for the summary (per-kind extras). */
  extras(): Record<string, number>;
  /** After every node stopped: flush and close what the kind holds (its store). */
  close(): void;
}

export type NodeKindFactory = (ctx: KindContext) => NodeKind;

/** A kind as the registry holds it: checks a group without side effects, creates instances. */
export interface NodeKindDefinition {
  readonly name: string;
  /** Checks a group before anything starts (profile and timing keys); throws EM_PLAN_INVALID. */
  validate(group: KindGroup): void;
  create: NodeKindFactory;
}
