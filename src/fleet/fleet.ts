/**
 * Many hollow nodes in one process, of any kind: one scheduler, paced starts
 * (join rate, a cap on dials in flight, the join window), and the counters of
 * the live line, the summary and /metrics. What a node is, how it joins and
 * what it sends belong to its kind (src/kind/kind.ts); the fleet only counts.
 */
import { createHistogram, monitorEventLoopDelay, type IntervalHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { Scheduler } from '../core/scheduler.js';
import type { HollowNode, KindContext, KindGroup, NodeErrorKind, NodeKind, NodeKindDefinition, PodMilestone, RunnerEvents } from '../kind/kind.js';
import type { StageEngine } from '../lifecycle/engine.js';
import { backWithin, type LinkCondition, type LinkFaultCommand, type LinkFaultResult } from '../link/model.js';
import { JoinWindow } from './joinwindow.js';
import { rate, type FleetSummary } from './summary.js';

export { mergeSummaries, rate, type FleetSummary } from './summary.js';

/** The nodes of one group that this process runs: global indices firstIndex, firstIndex + stride, ... */
export interface FleetGroup {
  kind: string;
  group: KindGroup;
  count: number;
  firstIndex: number;
  stride: number;
  /** Global index of the group's node 0 (fake addresses derive from the global index). */
  indexBase: number;
}

export interface FleetOptions {
  groups: FleetGroup[];
  /** The node kinds this process may run, by name. */
  kinds: Record<string, NodeKindDefinition>;
  /** What every kind is given (the runner supplies scheduler and events). */
  kindContext: Omit<KindContext, 'scheduler' | 'events' | 'log' | 'random' | 'stages'>;
  stages: StageEngine;
  /** Nodes started per second. */
  joinRate: number;
  /** Dials (credentials, TLS, upgrade) in flight at once while starting; default 64. */
  maxDialing?: number;
  /** Nodes started but not yet Ready (nor given up on by the control plane) at once; 0 = no limit. */
  maxJoining?: number;
  /** The local address node `g` dials from (spreads source ports over 127.0.0.0/8). */
  sourceAddress?: (globalIndex: number) => string | undefined;
  /** Keep pod milestones for `takeMilestones` (delivery latency). */
  traceMilestones?: boolean;
  /** One line per node event (state change, reconnect, error), starting `node <name>:`, for `fleet logs NODE`. */
  nodeLog?: boolean;
  log: Logger;
  random?: () => number;
}

export interface Milestone {
  uid: string;
  event: PodMilestone;
  ms: number;
}

const LOOP_RESOLUTION_MS = 10;

export class Fleet implements RunnerEvents {
  readonly scheduler = new Scheduler();
  readonly nodes: HollowNode[] = [];
  readonly kinds = new Map<string, NodeKind>();
  readonly joinWindow: JoinWindow;
  private readonly groupOf = new Map<HollowNode, string>();
  /** Each node's index within its group (this.nodes order): link faults pick the first n of a group. */
  private readonly localIndex: number[] = [];
  /** Link faults in force: their lift timers, and the condition each laid on. */
  private readonly linkFaults = new Map<string, { timer: NodeJS.Timeout; nodes: HollowNode[] }>();
  /** Reconnect storms (disconnect faults): when their nodes dropped, who is not back yet, and how long the others took. */
  private readonly storms = new Map<string, { at: number; waiting: Set<HollowNode>; times: number[]; nodes: number }>();
  /** The link fault in force on a node (the last one laid on wins; lifting an older one leaves it). */
  private readonly linkOf = new Map<HollowNode, string>();
  private readonly startedAt = Date.now();
  private readonly firstReadyAt = new Map<string, number>();
  reconnects = 0;
  private connectedOnce = 0;
  private lastFirstConnectAt = 0;
  private readonly cpuAtStart = process.cpuUsage();
  private connectCpuMs = 0;
  /** Dials in flight (credentials included). */
  inFlightDials = 0;
  private dialWaiter: (() => void) | undefined;
  readonly errors = new Map<string, number>();
  private readonly warned = new Set<string>();
  messagesIn = 0;
  messagesOut = 0;
  readonly byRoute = new Map<string, number>();
  /** Frame bytes by the same keys, and in all (kinds that know a message's size: the edge kind). */
  readonly bytesByRoute = new Map<string, number>();
  bytesIn = 0;
  bytesOut = 0;
  private readonly unservedNodes = new Set<string>();
  fatalError: EdgemarkError | undefined;
  private readonly onFatal: ((e: EdgemarkError) => void)[] = [];
  private milestones: Milestone[] = [];
  /** Event-loop delay (ns) since the fleet began: the runner's own slowness. */
  readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  /** Push arrival to ACK sent (µs), i.e. store commit latency included. */
  readonly ackLatency: RecordableHistogram = createHistogram();
  /** Hook for the metrics endpoint (a prom-client histogram), if any. */
  onAck: ((ms: number) => void) | undefined;

  constructor(private readonly o: FleetOptions) {
    const random = o.random ?? Math.random;
    for (const g of o.groups) {
      const def = Object.hasOwn(o.kinds, g.kind) ? o.kinds[g.kind] : undefined;
      if (!def) throw new EdgemarkError('EM_KIND_UNKNOWN', `[nodes] no node kind "${g.kind}" in this runner`, `use one of: ${Object.keys(o.kinds).join(', ')}`);
      def.validate(g.group);
      if (this.kinds.has(g.kind)) continue;
      this.kinds.set(g.kind, def.create({ ...o.kindContext, scheduler: this.scheduler, events: this, log: o.log, random, stages: o.stages }));
    }
    this.joinWindow = new JoinWindow(o.maxJoining ?? 0);
    this.loopDelay.enable();
  }

  /** Every state of every kind in this fleet, in display order. */
  get states(): string[] {
    const out: string[] = [];
    for (const k of this.kinds.values()) for (const s of k.states) if (!out.includes(s)) out.push(s);
    return out;
  }

  /** Each kind fetches what all its nodes need (a CA, say), retrying while unreachable. */
  async prepare(signal: AbortSignal): Promise<void> {
    for (const k of this.kinds.values()) await k.prepare(signal);
  }

  /** Starts the nodes at the join rate, group after group; resolves when all are started. */
  async start(signal: AbortSignal): Promise<void> {
    const gapMs = 1000 / this.o.joinRate;
    const t0 = Date.now();
    const maxDialing = this.o.maxDialing ?? 64;
    let i = 0;
    for (const g of this.o.groups) {
      const kind = this.kinds.get(g.kind)!;
      for (let j = 0; j < g.count; j++, i++) {
        if (signal.aborted || this.fatalError) return;
        const local = g.firstIndex + j * g.stride;
        const name = `${g.group.prefix}${local}`;
        const index = g.indexBase + local;
        // Only so many nodes join at once: the next starts when one is Ready.
        await this.joinWindow.free(signal);
        if (signal.aborted || this.fatalError) return;
        const source = this.o.sourceAddress?.(index);
        const node = kind.createNode({ group: g.group, name, index, ...(source ? { sourceAddress: source } : {}) });
        this.nodes.push(node);
        this.groupOf.set(node, g.group.name);
        this.localIndex.push(local);
        this.joinWindow.enter(name);
        node.start();
        const wait = t0 + (i + 1) * gapMs - Date.now();
        if (wait > 1) await sleep(wait);
        else if (i % 200 === 199) await sleep(0); // let sockets breathe during a burst
        // However fast the join rate, only so many handshakes run at once: a
        // burst of them would stall this event loop and time out at the server.
        while (this.inFlightDials >= maxDialing && !signal.aborted && !this.fatalError) await this.dialFree(signal);
      }
    }
  }

  private dialFree(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.dialWaiter = undefined;
        resolve();
      };
      this.dialWaiter = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  whenFatal(cb: (e: EdgemarkError) => void): void {
    this.onFatal.push(cb);
  }

  /**
   * Carries out a link fault on this process's nodes: lays its condition on
   * their links (or drops their connections) now, and lifts it after its
   * duration by itself, so that a driver that goes away leaves nothing
   * impaired. A fault with the id of one in force replaces it.
   */
  linkFault(cmd: LinkFaultCommand): LinkFaultResult {
    this.liftLinkFault(cmd.id);
    const groups = cmd.groups ? new Set(cmd.groups) : undefined;
    const nodes: HollowNode[] = [];
    let unsupported = 0;
    const since = Date.now();
    const condition: LinkCondition | undefined = cmd.condition ? { ...cmd.condition, since } : undefined;
    for (const [i, n] of this.nodes.entries()) {
      if (groups && !groups.has(this.groupOf.get(n)!)) continue;
      if (cmd.first !== undefined && this.localIndex[i]! >= cmd.first) continue;
      if (cmd.drop ? !n.dropLink : !n.impairLink) {
        unsupported++;
        continue;
      }
      nodes.push(n);
      if (cmd.drop) n.dropLink!(cmd.drop.backoff);
      else {
        n.impairLink!(condition);
        this.linkOf.set(n, cmd.id);
      }
    }
    if (cmd.drop) this.storms.set(cmd.id, { at: Date.now(), waiting: new Set(nodes), times: [], nodes: nodes.length });
    if (unsupported)
      this.warnOnce(`link-fault-kind-${cmd.id}`, `link fault ${cmd.id}: ${unsupported} targeted node(s) have no link to impair (kubelet nodes): left alone`);
    const timer = setTimeout(() => this.liftLinkFault(cmd.id), cmd.durationMs);
    timer.unref();
    this.linkFaults.set(cmd.id, { timer, nodes: cmd.drop ? [] : nodes });
    return { affected: nodes.length, unsupported };
  }

  /** Lifts a link fault: its nodes whose link still carries it get a clear link. */
  liftLinkFault(id: string): void {
    const f = this.linkFaults.get(id);
    if (!f) return;
    clearTimeout(f.timer);
    this.linkFaults.delete(id);
    for (const n of f.nodes) {
      if (this.linkOf.get(n) !== id) continue;
      this.linkOf.delete(n);
      n.impairLink!(undefined);
    }
  }

  /** Link faults in force now (ids). */
  get activeLinkFaults(): string[] {
    return [...this.linkFaults.keys()];
  }

  stop(): void {
    for (const id of [...this.linkFaults.keys()]) this.liftLinkFault(id);
    for (const n of this.nodes) n.stop();
    this.scheduler.stop();
    for (const k of this.kinds.values()) k.close();
    this.loopDelay.disable();
  }

  /** Pod milestones since the last call (empty unless traceMilestones). */
  takeMilestones(): Milestone[] {
    const m = this.milestones;
    this.milestones = [];
    return m;
  }

  // RunnerEvents
  traffic(direction: 'in' | 'out', key: string, bytes?: number): void {
    if (direction === 'in') this.messagesIn++;
    else this.messagesOut++;
    const k = `${direction} ${key}`;
    this.byRoute.set(k, (this.byRoute.get(k) ?? 0) + 1);
    if (bytes !== undefined) {
      this.bytesByRoute.set(k, (this.bytesByRoute.get(k) ?? 0) + bytes);
      if (direction === 'in') this.bytesIn += bytes;
      else this.bytesOut += bytes;
    }
  }

  podMilestone(uid: string, event: PodMilestone): void {
    if (this.o.traceMilestones) this.milestones.push({ uid, event, ms: Date.now() });
  }

  dialing(delta: 1 | -1): void {
    this.inFlightDials += delta;
    if (delta < 0) this.dialWaiter?.();
  }

  acked(ms: number): void {
    this.ackLatency.record(Math.max(1, Math.round(ms * 1000)));
    this.onAck?.(ms);
  }

  reconnected(node: HollowNode): void {
    this.reconnects++;
    for (const st of this.storms.values()) if (st.waiting.delete(node)) st.times.push(Date.now() - st.at);
    if (this.o.nodeLog) this.o.log.info(`node ${node.name}: reconnected`);
  }

  firstConnect(_node: HollowNode): void {
    this.connectedOnce++;
    this.lastFirstConnectAt = Date.now();
    const c = process.cpuUsage(this.cpuAtStart);
    this.connectCpuMs = (c.user + c.system) / 1000;
  }

  changed(node: HollowNode): void {
    if (this.o.nodeLog) this.o.log.info(`node ${node.name}: ${node.state}`);
    if (node.state === 'ready') {
      if (!this.firstReadyAt.has(node.name)) this.firstReadyAt.set(node.name, Date.now());
      this.unservedNodes.delete(node.name);
      this.joinWindow.leave(node.name);
    }
  }

  error(node: HollowNode, kind: NodeErrorKind, err: unknown): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    if (this.o.nodeLog) this.o.log.info(`node ${node.name}: ${kind} error: ${err instanceof Error ? err.message : String(err)}`);
    if (kind === 'register-timeout') {
      // It retries by itself; the window makes room rather than wait on it.
      this.joinWindow.leave(node.name);
      this.unservedNodes.add(node.name);
      return;
    }
    const msg = err instanceof Error ? err.message : String(err);
    this.warnOnce(kind, `${kind} error on ${node.name}: ${msg} (further ${kind} errors are counted, not printed)`);
  }

  fatal(node: HollowNode, err: EdgemarkError): void {
    if (!this.fatalError) {
      this.fatalError = err;
      for (const cb of this.onFatal) cb(err);
    }
    this.joinWindow.leave(node.name);
    node.fail();
  }

  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.o.log.warn(message);
  }

  joinedCount(): number {
    return this.firstReadyAt.size;
  }

  summaryLag(): FleetSummary['eventLoopLagMs'] {
    return { p50: nsToMs(this.loopDelay.percentile(50)), p99: nsToMs(this.loopDelay.percentile(99)), max: nsToMs(this.loopDelay.max) };
  }

  podCounts(): FleetSummary['pods'] {
    const out = { running: 0, admitted: 0, rejected: 0 };
    for (const n of this.nodes) {
      const p = n.podCounts();
      out.running += p.running;
      out.admitted += p.admitted;
      out.rejected += p.rejected;
    }
    return out;
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = Object.fromEntries(this.states.map((s) => [s, 0]));
    for (const n of this.nodes) c[n.state] = (c[n.state] ?? 0) + 1;
    return c;
  }

  private groupCounts(): FleetSummary['groups'] {
    const out: FleetSummary['groups'] = {};
    for (const g of this.o.groups) out[g.group.name] = { kind: g.kind, nodes: g.count, ready: 0 };
    for (const n of this.nodes) if (n.state === 'ready') out[this.groupOf.get(n)!]!.ready++;
    return out;
  }

  summary(): FleetSummary {
    const readyTimes = [...this.firstReadyAt.values()];
    const joinDurationMs = readyTimes.length ? Math.max(...readyTimes) - this.startedAt : 0;
    const f = this.fatalError;
    const storms: NonNullable<FleetSummary['storms']> = {};
    for (const [id, st] of this.storms) {
      storms[id] = {
        nodes: st.nodes,
        back: st.times.length,
        ...backWithin(
          [...st.times].sort((a, b) => a - b),
          st.nodes,
        ),
      };
    }
    return {
      ...(this.storms.size ? { storms } : {}),
      summaryVersion: 1,
      nodes: this.o.groups.reduce((a, g) => a + g.count, 0),
      states: this.counts(),
      started: this.nodes.length,
      connected: this.connectedOnce,
      connectDurationMs: this.connectedOnce ? this.lastFirstConnectAt - this.startedAt : 0,
      connectRatePerSec: rate(this.connectedOnce, this.lastFirstConnectAt - this.startedAt),
      connectCpuMs: Math.round(this.connectCpuMs),
      joined: readyTimes.length,
      joinDurationMs,
      joinRatePerSec: rate(readyTimes.length, joinDurationMs),
      joinWindow: { size: this.joinWindow.size, waitedMs: this.joinWindow.waitedMs },
      reconnects: this.reconnects,
      errors: Object.fromEntries([...this.errors].sort()),
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      messagesByRoute: Object.fromEntries([...this.byRoute].sort()),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      bytesByRoute: Object.fromEntries([...this.bytesByRoute].sort()),
      unserved: this.unservedNodes.size,
      unservedNodes: [...this.unservedNodes].sort().slice(0, 50),
      pods: this.podCounts(),
      groups: this.groupCounts(),
      kinds: Object.fromEntries([...this.kinds].map(([name, k]) => [name, k.extras()])),
      durationMs: Date.now() - this.startedAt,
      eventLoopLagMs: this.summaryLag(),
      ackLatencyMs: this.ackLatency.count
        ? { p50: Math.round(this.ackLatency.percentile(50) / 100) / 10, p99: Math.round(this.ackLatency.percentile(99) / 100) / 10 }
        : { p50: 0, p99: 0 },
      rssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
      workers: 1,
      ...(f ? { fatal: { code: f.code, message: f.message, ...(f.fix ? { fix: f.fix } : {}) } } : {}),
    };
  }
}

/**
 * A monitorEventLoopDelay reading (ns, which includes the sampling period) as
 * the lag beyond that period in milliseconds, one decimal; 0 before any sample.
 */
function nsToMs(ns: number): number {
  return Number.isFinite(ns) && ns > 0 ? Math.max(0, Math.round((ns - LOOP_RESOLUTION_MS * 1e6) / 1e5) / 10) : 0;
}
