/**
 * One hollow edge node on a fake clock, for the fast tests: the real node
 * (edgehub, metamanager, edged, devicetwin), the real scheduler, an in-memory
 * store, the real stage engine over stages/, and the fake CloudCore at the
 * link seam. Time moves only through advance(), which fires every timer of the
 * scheduler's one armed timeout in order and lets the promise work each one
 * starts (a dial) finish before the next. Test support, not a test.
 */
import { join } from 'node:path';
import type { SecureContext } from 'node:tls';
import { packageRoot } from '../../core/paths.js';
import { FakeClock, Scheduler, type Clock } from '../../core/scheduler.js';
import type { HollowNode, NodeErrorKind, PodMilestone } from '../../kind/kind.js';
import { StageEngine } from '../../lifecycle/engine.js';
import { loadLifecycles } from '../../lifecycle/schema.js';
import { defaultNodeProfile, type NodeIdentity } from '../edged/objects.js';
import type { EdgeContext, EdgeEvents } from '../host.js';
import { edgeContext } from '../kind.js';
import { NodeStore } from '../../store/store.js';
import { HollowEdgeNode } from '../node.js';
import { defaultTimings, type EdgeTimings } from '../timings.js';
import { FakeApi, FakeCloud } from './fake-cloud.js';

/** A FakeClock that also knows when its earliest timer is due. */
class SteppedClock implements Clock {
  readonly fake = new FakeClock();
  private readonly due = new Map<unknown, number>();

  now(): number {
    return this.fake.now();
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const handle: unknown = this.fake.setTimeout(() => {
      this.due.delete(handle);
      fn();
    }, ms);
    this.due.set(handle, this.fake.now() + ms);
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle);
    this.fake.clearTimeout(handle);
  }

  nextDue(): number | undefined {
    let next: number | undefined;
    for (const at of this.due.values()) if (next === undefined || at < next) next = at;
    return next;
  }
}

/** What the node told its runner, kept for assertions. */
export class RecordedEvents implements EdgeEvents {
  readonly errors: { kind: NodeErrorKind; err: unknown }[] = [];
  readonly podTraces: { uid: string; event: PodMilestone }[] = [];
  readonly acks: number[] = [];
  reconnects = 0;
  firstConnects = 0;
  changes = 0;
  /** Dials in flight (the runner's dial cap counts these). */
  dialsInFlight = 0;

  dialing(delta: 1 | -1): void {
    this.dialsInFlight += delta;
  }
  messageIn(): void {}
  messageOut(): void {}
  reconnected(): void {
    this.reconnects++;
  }
  firstConnect(): void {
    this.firstConnects++;
  }
  podTrace(uid: string, event: PodMilestone): void {
    this.podTraces.push({ uid, event });
  }
  acked(ms: number): void {
    this.acks.push(ms);
  }
  error(_node: HollowNode, kind: NodeErrorKind, err: unknown): void {
    this.errors.push({ kind, err });
  }
  changed(): void {
    this.changes++;
  }
  errorKinds(): NodeErrorKind[] {
    return this.errors.map((e) => e.kind);
  }
}

export interface EdgeHarnessOptions {
  timings?: Partial<EdgeTimings>;
  /** The node's TLS identity; by default one that resolves at once. */
  secureContext?: () => Promise<SecureContext>;
  /** Answer requests as the Kubernetes API would (default); off: only the test's rules and replies. */
  kubeApi?: boolean;
  /** The context's random; by default 0.5, the midpoint, so every jittered delay is its base value. */
  random?: () => number;
  /** Where the node dials (default one CloudCore, cloudcore.test:10000). */
  dial?: EdgeContext['dial'];
}

const stages = new StageEngine(loadLifecycles([join(packageRoot(), 'stages')]));

export class EdgeHarness {
  private readonly clock = new SteppedClock();
  readonly scheduler = new Scheduler(this.clock);
  readonly store = new NodeStore(':memory:', this.scheduler);
  readonly cloud = new FakeCloud(this.scheduler);
  readonly api: FakeApi | undefined;
  readonly events = new RecordedEvents();
  readonly ctx: EdgeContext;
  readonly identity: NodeIdentity = { name: 'n1', ip: '10.128.0.1', machineId: 'm', bootId: 'b', podCidrPrefix: '10.244.1' };
  node: HollowEdgeNode;

  constructor(private readonly o: EdgeHarnessOptions = {}) {
    // Built as the edge kind builds it: the kind's own fatal-error rule and pod environment.
    this.ctx = edgeContext({
      scheduler: this.scheduler,
      store: this.store,
      stages,
      timings: { ...defaultTimings, ...o.timings },
      profile: defaultNodeProfile,
      dial: o.dial ?? { server: 'cloudcore.test:10000' },
      link: this.cloud.link,
      random: o.random ?? (() => 0.5),
      events: this.events,
    });
    if (o.kubeApi !== false) this.api = new FakeApi(this.cloud);
    this.node = this.newNode();
  }

  get now(): number {
    return this.clock.now();
  }

  get timings(): EdgeTimings {
    return this.ctx.timings;
  }

  /** Starts the node; with the kube API on, it is registered and ready on return. */
  async start(): Promise<void> {
    this.node.start();
    await settle();
  }

  /** Moves time on by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      const next = this.clock.nextDue();
      if (next === undefined || next > end) break;
      this.clock.fake.advance(Math.max(0, next - this.clock.now()));
      await settle();
    }
    this.clock.fake.advance(end - this.clock.now());
    await settle();
  }

  /** Commits the store's pending batch now (what the flush timer would do). */
  async commit(): Promise<void> {
    this.store.flush();
    await settle();
  }

  /** Stops the node and builds a new one from what the store kept (a runner restart). */
  restart(): HollowEdgeNode {
    this.node.stop();
    this.store.flush();
    this.node = this.newNode(true);
    return this.node;
  }

  private newNode(restored = false): HollowEdgeNode {
    const secureContext = this.o.secureContext ?? (() => Promise.resolve({} as SecureContext));
    return new HollowEdgeNode(this.ctx, this.identity, secureContext, restored ? this.store.load(this.identity.name) : undefined);
  }
}

/** Lets queued promise callbacks and microtasks (dials, scripted answers) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A pod bound to the harness node, as edgecontroller pushes it. */
export function podObject(name: string, uid: string, spec: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'default', uid },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }], ...spec },
    ...extra,
  };
}
