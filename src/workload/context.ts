/**
 * What every phase of a load test works with: the test and its run id, the
 * deadline, one way to poll and one way to pace, and the narrow seams to the
 * world (the Kubernetes operations, the hollow-node fleet, the resource
 * sampler, the clock). Phases see only this, so each can be run against
 * fakes in the fast tier.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from '../core/errors.js';
import { formatDuration, type Logger } from '../core/log.js';
import type { LoadTest } from '../run/config.js';
import type { FootprintStep, RunRecord } from '../run/results.js';

/** Time as the phases see it: injected, so tests run hours of phases in milliseconds. */
export interface Time {
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemTime: Time = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }).catch(() => undefined),
};

/** One of the run's Deployments, as the phases need it. */
export interface DeploymentState {
  namespace: string;
  name: string;
  /** spec.replicas */
  replicas: number;
  /** status.replicas */
  current: number;
  /** status.availableReplicas */
  available: number;
}

/** One of the run's pods, as the phases need it. */
export interface PodState {
  namespace: string;
  name: string;
  /** status.phase */
  phase: string | undefined;
}

/**
 * The Kubernetes operations a load test performs. Every object it creates
 * carries the run's label, and every list is of the run's objects only.
 * Deleting something already gone counts as done.
 */
export interface KubeOps {
  createNamespace(name: string): Promise<void>;
  deleteNamespace(name: string): Promise<void>;
  /** The namespace's `default` ServiceAccount exists (pods can be created in it). */
  hasDefaultServiceAccount(namespace: string): Promise<boolean>;
  /** A Deployment of `replicas` pods of the run's template, labelled app=<name>. */
  createDeployment(namespace: string, name: string, replicas: number): Promise<void>;
  listDeployments(): Promise<DeploymentState[]>;
  scaleDeployment(namespace: string, name: string, replicas: number): Promise<void>;
  /** Foreground deletion: its pods go with it. */
  deleteDeployment(namespace: string, name: string): Promise<void>;
  /** A bare pod of the run's template, labelled app=<app>. */
  createPod(namespace: string, name: string, app: string): Promise<void>;
  listPods(): Promise<PodState[]>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** Names of the run's Nodes. */
  listNodes(): Promise<string[]>;
  deleteNode(name: string): Promise<void>;
  /** The node's Lease in kube-node-lease. */
  deleteNodeLease(name: string): Promise<void>;
}

/** How hollow nodes start and stop. Readiness is watched by the phases, not reported here. */
export interface FleetControl {
  /** Starts the run's hollow nodes (spec.nodes of the test); resolves once they are on their way. */
  up(ctx: RunContext): Promise<void>;
  /** Stops them; resolves when they are gone. Calling it when nothing runs is fine. */
  down(): Promise<void>;
  /** Why the fleet stopped on its own, if it did. */
  failure(): string | undefined;
}

/** Where the footprint phase reads resource use: a sampler that adds one point per sample. */
export interface ResourceSampler {
  sample(): void | Promise<void>;
  readonly points: readonly { cpu: Record<string, number>; rss: Record<string, number> }[];
}

export type PhaseRecord = RunRecord['phases'][number];

/** Calls at `qps` per second: the first at once, each next one 1/qps after the one before. */
export class Pacer {
  private next: number;

  constructor(
    private readonly qps: number,
    private readonly time: Time,
    private readonly signal?: AbortSignal,
  ) {
    this.next = time.now();
  }

  async wait(): Promise<void> {
    const now = this.time.now();
    if (this.next > now) await this.time.sleep(this.next - now, this.signal);
    this.next = Math.max(now, this.next) + 1000 / this.qps;
  }
}

export interface RunContextOptions {
  runId: string;
  test: LoadTest;
  log: Logger;
  signal: AbortSignal;
  kube: KubeOps;
  fleet: FleetControl;
  resources: ResourceSampler;
  /** The run's hollow nodes Ready now. */
  nodesReady: () => number;
  time?: Time;
  /** When the run began (default: now). The deadline is spec.timeoutSeconds after it. */
  startedAt?: number;
  /** No progress this long, with some pods available, ends a wait for availability (default 120 s). */
  stallMs?: number;
  /** Called as each phase ends (the run starts its faults' clock when the nodes are up). */
  onPhaseEnd?: (kind: string) => void;
}

const PROGRESS_EVERY_MS = 10_000;

export class RunContext {
  readonly runId: string;
  readonly test: LoadTest;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly kube: KubeOps;
  readonly fleet: FleetControl;
  readonly resources: ResourceSampler;
  readonly nodesReady: () => number;
  readonly time: Time;
  readonly startedAt: number;
  readonly deadline: number;
  readonly stallMs: number;
  readonly onPhaseEnd: ((kind: string) => void) | undefined;
  /** Namespaces created so far, in order (cleanup deletes them). */
  readonly namespaces: string[] = [];
  readonly phaseLog: PhaseRecord[] = [];
  readonly footprint: FootprintStep[] = [];
  /** Time a feeding phase held pods back because some of the run's nodes were not Ready. */
  heldMs = 0;

  constructor(o: RunContextOptions) {
    this.runId = o.runId;
    this.test = o.test;
    this.log = o.log;
    this.signal = o.signal;
    this.kube = o.kube;
    this.fleet = o.fleet;
    this.resources = o.resources;
    this.nodesReady = o.nodesReady;
    this.time = o.time ?? systemTime;
    this.startedAt = o.startedAt ?? this.time.now();
    this.deadline = this.startedAt + o.test.spec.timeoutSeconds * 1000;
    this.stallMs = o.stallMs ?? 120_000;
    this.onPhaseEnd = o.onPhaseEnd;
  }

  /** `ms`, cut to what is left before the deadline, but at least a second. */
  bounded(ms: number): number {
    return Math.max(1000, Math.min(ms, this.deadline - this.time.now()));
  }

  abortedOrLate(): boolean {
    return this.signal.aborted || this.time.now() > this.deadline;
  }

  /** Sleeps `ms` (cut at the deadline, see `bounded`), or less if the run is interrupted. */
  hold(ms: number): Promise<void> {
    return this.time.sleep(this.bounded(ms), this.signal);
  }

  pacer(qps: number): Pacer {
    return new Pacer(qps, this.time, this.signal);
  }

  /**
   * Polls `fn` every `everyMs` until it returns true. Throws EM_INTERRUPTED on
   * Ctrl-C and EM_RUN_TIMEOUT after `timeoutMs` (cut at the deadline); says
   * what it waits for every 10 s.
   */
  async until(whatOf: string | (() => string), fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 1000): Promise<void> {
    const what = () => (typeof whatOf === 'string' ? whatOf : whatOf());
    const end = this.time.now() + this.bounded(timeoutMs);
    let lastLog = this.time.now();
    for (;;) {
      if (this.signal.aborted) throw new EdgemarkError('EM_INTERRUPTED', `[run] interrupted while waiting for ${what()}`);
      if (await fn()) return;
      const now = this.time.now();
      if (now > end) throw new EdgemarkError('EM_RUN_TIMEOUT', `[run] timed out waiting for ${what()}`, 'raise spec.timeoutSeconds, or lower the load');
      if (now - lastLog > PROGRESS_EVERY_MS) {
        lastLog = now;
        this.log.info(`  ... waiting for ${what()} (${formatDuration(now - this.startedAt)})`);
      }
      await this.time.sleep(everyMs, this.signal);
    }
  }

  /** The namespaces created so far; a phase that needs some fails when there are none. */
  needNamespaces(): string[] {
    if (this.namespaces.length === 0) {
      throw new EdgemarkError(
        'EM_CONFIG_INVALID',
        '[run] a phase needs namespaces, and none was created before it',
        'add a `kind: namespaces` phase before it',
      );
    }
    return this.namespaces;
  }
}
