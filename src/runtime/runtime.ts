/**
 * Where hollow nodes run: one interface, several implementations (this
 * process, local worker processes, and next pods on a Kubernetes cluster).
 * A caller builds a FleetPlan, asks the registry for a runtime by name, and
 * either dry-runs the plan (what would start, touching nothing) or starts it.
 * A started fleet reports through typed events and a promise of its end;
 * stopping it returns the final summary and what could not be cleaned up.
 */
import { EdgemarkError, type ErrorJson } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Milestone } from '../fleet/fleet.js';
import type { ResourceReading } from '../measure/sources.js';
import type { FleetSummary } from '../fleet/summary.js';
import type { GivenIdentity } from '../kind/kind.js';
import type { LinkFaultCommand, LinkFaultResult } from '../link/model.js';
import type { KubernetesRuntimeOptions } from './kubernetes/runtime.js';
import type { FleetPlan } from './plan.js';

/** Secrets that go with a plan, never inside it. */
export interface Credentials {
  /** The join token (KubeEdge: secret kubeedge/tokensecret, key tokendata); '' when the plan has no edge node. */
  token: string;
  /** The bootstrap token kubelet nodes get their certificates with (<id>.<secret>), when the plan has kubelet nodes. */
  bootstrapToken?: string;
  /** Kubelet nodes' given identities instead of TLS bootstrap (`--node-kubeconfig`). */
  nodeKubeconfig?: GivenIdentity;
}

export type { ErrorJson } from '../core/errors.js';

export type RuntimeEvent =
  /** The fleet's summary now (every 2 s while it runs). */
  | { type: 'status'; summary: FleetSummary }
  /** Pod milestones at the nodes since the last batch (plan.observe.tracePods). */
  | { type: 'milestones'; milestones: Milestone[] }
  | { type: 'warning'; message: string }
  /** An error that stops the fleet (a refused token, a foreign CA, a runner process that died). */
  | { type: 'fatal'; error: ErrorJson }
  /** The last event. */
  | { type: 'stopped'; result: FleetResult };

export interface FleetResult {
  /** The final summary (the latest one of a process that did not report at the end). */
  summary: FleetSummary | undefined;
  fatal?: ErrorJson;
  /** What could not be stopped or cleaned up, one line each; empty when all went. */
  problems: string[];
}

export interface RunningFleet {
  readonly runtime: string;
  /** Events from now on; the iteration ends after `stopped`. */
  events(): AsyncIterable<RuntimeEvent>;
  /** Calls `fn` for every event from now on (no buffering). */
  on(fn: (e: RuntimeEvent) => void): void;
  /** The latest summary, if any arrived. */
  latest(): FleetSummary | undefined;
  /** The runner's /metrics, when served. */
  readonly metricsUrl: string | undefined;
  /** Local pids of the processes that hold nodes (for /proc sampling); empty when none are local. */
  processes(): number[];
  /** Where the nodes run remotely: CPU and RSS of all their processes (the kubernetes runtime: the pods' process metrics). */
  readonly remoteResources?: () => Promise<ResourceReading | undefined>;
  /** Resolves when the fleet ended: stopped, its duration passed, or a fatal error. */
  readonly done: Promise<FleetResult>;
  /** Stops every node (idempotent); resolves with the result. */
  stop(): Promise<FleetResult>;
  /** Carries out a link fault in every process that holds nodes; each lifts it after its duration by itself. */
  linkFault(cmd: LinkFaultCommand): Promise<LinkFaultResult>;
}

export interface DryRun {
  runtime: string;
  plan: FleetPlan;
  /** What would start, one line each. */
  actions: string[];
}

export interface StartOptions {
  log: Logger;
  /** Aborting it stops the fleet, as stop() does. */
  signal?: AbortSignal;
  /** A file descriptor for the output of runner processes (default: this process's stdout and stderr). */
  outputFd?: number;
}

export interface Runtime {
  readonly name: string;
  /** What start() would do with this plan; checks it, touches nothing. */
  dryRun(plan: FleetPlan): DryRun;
  start(plan: FleetPlan, credentials: Credentials, o: StartOptions): Promise<RunningFleet>;
}

/** Settings of a runtime that are not part of the plan (where, not what). */
export interface RuntimeOptions {
  /** Local worker processes (the workers runtime). */
  workers?: number;
  /** The external cluster and pod settings (the kubernetes runtime). */
  kubernetes?: KubernetesRuntimeOptions;
}

export interface RuntimeEntry {
  name: string;
  description: string;
  create(o: RuntimeOptions): Runtime;
}

const registry = new Map<string, RuntimeEntry>();

export function registerRuntime(e: RuntimeEntry): void {
  registry.set(e.name, e);
}

export function runtimeNames(): string[] {
  return [...registry.keys()];
}

/** The runtime of that name, or EM_RUNTIME_UNKNOWN listing the ones there are. */
export function createRuntime(name: string, o: RuntimeOptions = {}): Runtime {
  const e = registry.get(name);
  if (!e) throw new EdgemarkError('EM_RUNTIME_UNKNOWN', `[runtime] no runtime "${name}"`, `use one of: ${runtimeNames().join(', ')}`);
  return e.create(o);
}

/** How often a running fleet reports its summary, and its pod milestones (plan.observe.tracePods). */
export const STATUS_EVERY_MS = 2000;
export const MILESTONES_EVERY_MS = 500;

/** A RunningFleet from its parts: every runtime's handle has the same shape. */
export function runningFleet(o: {
  runtime: string;
  hub: EventHub<RuntimeEvent>;
  latest(): FleetSummary | undefined;
  metricsUrl: string | undefined;
  processes(): number[];
  remoteResources?: () => Promise<ResourceReading | undefined>;
  done: Promise<FleetResult>;
  /** Asks the fleet to stop; `done` then resolves. */
  pull(): void;
  linkFault(cmd: LinkFaultCommand): Promise<LinkFaultResult>;
}): RunningFleet {
  return {
    runtime: o.runtime,
    events: () => o.hub.iterate(),
    on: (fn) => o.hub.on(fn),
    latest: o.latest,
    metricsUrl: o.metricsUrl,
    processes: o.processes,
    ...(o.remoteResources ? { remoteResources: o.remoteResources } : {}),
    done: o.done,
    stop: () => {
      o.pull();
      return o.done;
    },
    linkFault: o.linkFault,
  };
}

/** The last event of a fleet: emitted once, then the hub closes. */
export function finish(hub: EventHub<RuntimeEvent>, result: FleetResult): FleetResult {
  hub.emit({ type: 'stopped', result });
  hub.close();
  return result;
}

/**
 * Events to several listeners and async iterators. Iterators buffer what
 * arrives while they are not being read; `close` ends them all.
 */
export class EventHub<T> {
  private readonly listeners = new Set<(e: T) => void>();
  private closed = false;
  private readonly enders = new Set<() => void>();

  emit(e: T): void {
    if (this.closed) return;
    for (const l of this.listeners) l(e);
  }

  on(fn: (e: T) => void): void {
    this.listeners.add(fn);
  }

  close(): void {
    this.closed = true;
    for (const end of this.enders) end();
    this.enders.clear();
  }

  iterate(): AsyncIterable<T> {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    let ended = this.closed;
    const push = (e: T) => {
      queue.push(e);
      wake?.();
    };
    this.listeners.add(push);
    const end = () => {
      ended = true;
      wake?.();
    };
    this.enders.add(end);
    const listeners = this.listeners;
    return {
      [Symbol.asyncIterator]: () => ({
        async next(): Promise<IteratorResult<T>> {
          while (queue.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
          wake = undefined;
          if (queue.length) return { value: queue.shift()!, done: false };
          listeners.delete(push);
          return { value: undefined, done: true };
        },
        async return(): Promise<IteratorResult<T>> {
          listeners.delete(push);
          ended = true;
          return { value: undefined, done: true };
        },
      }),
    };
  }
}
