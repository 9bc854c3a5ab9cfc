/**
 * What the pods of a hollow node need from the node they run on, in
 * Kubernetes terms: no wire, no protocol. A kind (the edge kind today, a
 * hollow kubelet next) gives its nodes a `PodHost` and turns what its control
 * plane says into the PodManager's plain calls (`podChanged`, `objectChanged`,
 * `requestDone`, `queryDone`, ...); the PodManager's requests go out through
 * `podRequest`, which the kind turns into its own messages.
 *
 * Resource strings are kind-neutral references `<namespace>/<type>/<name>`
 * (`default/pod/web-0`, `default/configmap/cfg`, `default/podpatch/web-0` for
 * a pod's status, `default/serviceaccounttoken/sa` for a token request).
 */
import type { Scheduler } from '../core/scheduler.js';
import type { HollowNode, NodeErrorKind, PodMilestone } from '../kind/kind.js';
import type { StageEngine } from '../lifecycle/engine.js';
import type { PodRecord } from './pods.js';
import type { PodTimings } from './timings.js';

/** What the pods ask of the control plane: a status patch, the final delete, a ConfigMap/Secret, a token. */
export type PodRequestKind = 'patch' | 'delete' | 'query-object' | 'query-token';

/** An error the control plane answered with (a Kubernetes Status, as far as the pods read it). */
export interface ApiError {
  code?: number;
  reason?: string;
  message?: string;
}

/** How a pod (or a ConfigMap, a Secret) the node holds changed, as a watch reports it. */
export type ObjectChange = 'added' | 'modified' | 'deleted';

/** The answer to a query: an error, or the object and its resourceVersion. */
export interface QueryResult {
  error?: ApiError;
  resourceVersion: string;
  content: unknown;
}

/** Where the pods keep what survives a restart (a kind's store, shared by its nodes). */
export interface PodStore {
  /** A ConfigMap or Secret the node fetched. */
  putObject(node: string, resource: string, rv: string, content: unknown): void;
  /** A pod's runtime state (`PodRecord.persisted()`). */
  putPodState(node: string, uid: string, state: string): void;
  deletePodState(node: string, uid: string): void;
}

/** What a node kept from an earlier run: its objects (`content` as JSON text) and each pod's runtime state by UID. */
export interface PodSnapshot {
  objects: readonly { resource: string; content: string }[];
  podStates: ReadonlyMap<string, string>;
}

/** What the pods tell the runner. The node given is the PodHost itself. */
export interface PodEvents {
  error(node: HollowNode, kind: NodeErrorKind, err: unknown): void;
  podTrace?(uid: string, event: PodMilestone): void;
}

/**
 * What every node of a group shares: one object per group (never per node),
 * built once by the kind.
 */
export interface PodEnv {
  scheduler: Scheduler;
  /** Pod lifecycles, compiled once. */
  stages: StageEngine;
  random: () => number;
  timings: PodTimings;
  store: PodStore;
  events: PodEvents;
  /** The node's allocatable resources (`pods`, `cpu`, `memory`, ... as quantities), against which pods are admitted. */
  allocatable: Readonly<Record<string, string>>;
  /** EdgeSite's rule: a pod is admitted only when each container port has a hostPort equal to its containerPort. */
  requireHostPort?: boolean;
}

/** The node a PodManager runs the pods of. */
export interface PodHost extends HollowNode {
  readonly name: string;
  /** The node's InternalIP (the pods' hostIP). */
  readonly hostIP: string;
  /** First three octets of the node's pod CIDR (a /24): pod IPs are `<prefix>.2` onwards. */
  readonly podCidrPrefix: string;
  readonly env: PodEnv;
  /**
   * Sends a request; its outcome comes back as `requestDone` (patch, delete),
   * `queryDone` (queries) or `patchTimedOut`. `subject` comes back with it: the
   * pod's record, or for a ConfigMap/Secret query its resource string.
   */
  podRequest(kind: PodRequestKind, resource: string, content: unknown, subject: PodRecord | string): void;
}
