/**
 * Many hollow edge nodes in one process: one scheduler, one CA, one profile,
 * paced joins, and counters for the live line and the summary. The first node
 * bootstraps alone, so a bad token is reported once instead of by every node.
 */
import { createHash, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay, createHistogram, type RecordableHistogram, type IntervalHistogram } from 'node:perf_hooks';
import { appendFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { Scheduler } from '../core/scheduler.js';
import type { BeehiveMessage } from '../protocol/message.js';
import { CertStore, fetchCloudCa, requestEdgeCertificate, type CloudCa } from '../transport/bootstrap.js';
import type { JoinToken } from '../transport/token.js';
import type { NodeProfile } from '../edge/edged/objects.js';
import type { FleetContext, FleetEvents, NodeHost } from '../edge/host.js';
import { HollowEdgeNode, type NodeState } from '../edge/node.js';
import { EdgeStore } from '../edge/metamanager/store.js';
import type { StageEngine } from '../lifecycle/engine.js';
import { reconnectDelay, type EdgeTimings } from '../edge/timings.js';
import { JoinWindow } from './joinwindow.js';

export interface FleetOptions {
  count: number;
  prefix: string;
  /** host:port of CloudHub's websocket server. */
  websocket: string;
  /** https://host:port of CloudHub's certificate server. */
  https: string;
  token: JoinToken;
  /** Nodes started per second. */
  joinRate: number;
  certDir: string;
  /** The runner's SQLite database (pods, configmaps, secrets, node state). */
  storePath: string;
  /** Append a sample of the frames CloudCore sends (a few per route) to this JSONL file. */
  recordFrames?: string;
  timings: EdgeTimings;
  profile: NodeProfile;
  stages: StageEngine;
  log: Logger;
  random?: () => number;
  /** Global index of this fleet's first node and the step between its nodes (workers each take a slice). */
  firstIndex?: number;
  stride?: number;
  /** Append pod milestones (admitted, running-sent, duplicate-insert) with their time to this JSONL file. */
  tracePods?: string;
  /** Dials (bootstrap, TLS, websocket upgrade) in flight at once while starting; default 64. */
  maxDialing?: number;
  /** Nodes started but not yet Ready (nor given up on by CloudCore) at once; 0 = no limit. */
  maxJoining?: number;
  /** The local address a node dials from (spreads source ports over 127.0.0.0/8). */
  sourceAddress?: (globalIndex: number) => string | undefined;
}

const fatalCodes = new Set(['EM_TOKEN_REJECTED', 'EM_TOKEN_EXPIRED', 'EM_TOKEN_MALFORMED', 'EM_CA_HASH_MISMATCH']);

export const nodeStates: NodeState[] = ['joining', 'connected', 'registered', 'ready', 'disconnected', 'stopped', 'failed'];

export interface FleetSummary {
  nodes: number;
  states: Record<NodeState, number>;
  started: number;
  /**
   * Nodes whose websocket opened at least once (certificate bootstrap, TLS and
   * upgrade done: the runner's side of a join), how fast, and the runner's CPU
   * from its start until the last of them (ms, every process of the runner).
   */
  connected: number;
  connectDurationMs: number;
  connectRatePerSec: number;
  connectCpuMs: number;
  /** Nodes that reached Ready at least once, and how fast they did. */
  joined: number;
  /**
   * The join window (--max-joining; 0 = none): its size, and how long the
   * runner waited for it, i.e. for the control plane to answer registrations.
   */
  joinWindow: { size: number; waitedMs: number };
  joinDurationMs: number;
  joinRatePerSec: number;
  reconnects: number;
  errors: Record<string, number>;
  messagesIn: number;
  messagesOut: number;
  messagesByRoute: Record<string, number>;
  /** Nodes connected whose registration CloudCore never answered (node limit?). */
  unserved: number;
  pods: { running: number; admitted: number; rejected: number };
  /** Their names (the first 50). */
  unservedNodes: string[];
  durationMs: number;
  /** The runner's own health: event-loop delay over the run, memory now. */
  eventLoopLagMs: { p50: number; p99: number; max: number };
  ackLatencyMs: { p50: number; p99: number };
  rssBytes: number;
  heapUsedBytes: number;
  /** Worker processes behind this summary (1 without --workers). */
  workers: number;
  fatal?: { code: string; message: string };
}

export class Fleet implements FleetEvents {
  readonly scheduler = new Scheduler();
  readonly store: EdgeStore;
  readonly nodes: HollowEdgeNode[] = [];
  private readonly ctx: FleetContext;
  private readonly certs: CertStore;
  private ca: CloudCa | undefined;
  private firstIdentity: Promise<unknown> | undefined;
  private readonly contexts = new Map<string, SecureContext>();
  private readonly bootId = randomUUID();
  readonly joinWindow: JoinWindow;
  private readonly startedAt = Date.now();
  private firstReadyAt = new Map<string, number>();
  reconnects = 0;
  private connectedOnce = 0;
  private lastFirstConnectAt = 0;
  private readonly cpuAtStart = process.cpuUsage();
  private connectCpuMs = 0;
  /** Dials in flight (bootstrap included). */
  inFlightDials = 0;
  readonly errors = new Map<string, number>();
  private readonly warned = new Set<string>();
  messagesIn = 0;
  messagesOut = 0;
  readonly byRoute = new Map<string, number>();
  private readonly unservedNodes = new Set<string>();
  fatal: EdgemarkError | undefined;
  private readonly recorded = new Map<string, number>();
  private onFatal: ((e: EdgemarkError) => void) | undefined;
  /** Event-loop delay (ns) since the fleet began: the runner's own slowness. */
  readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  /** Push arrival to ACK sent (µs), i.e. store commit latency included. */
  readonly ackLatency: RecordableHistogram = createHistogram();
  /** Hook for the metrics endpoint (a prom-client histogram), if any. */
  onAck: ((ms: number) => void) | undefined;

  constructor(private readonly o: FleetOptions) {
    const url = new URL(o.https);
    this.store = new EdgeStore(o.storePath, this.scheduler);
    this.ctx = {
      scheduler: this.scheduler,
      store: this.store,
      stages: o.stages,
      timings: o.timings,
      profile: o.profile,
      // SNI must not carry an IP; the certificate is then checked against the IP itself.
      dial: { server: o.websocket, ...(isIP(url.hostname) ? {} : { servername: url.hostname }) },
      random: o.random ?? Math.random,
      events: this,
      isFatal: (err) => err instanceof EdgemarkError && fatalCodes.has(err.code),
    };
    this.certs = new CertStore(o.certDir);
    this.joinWindow = new JoinWindow(o.maxJoining ?? 0);
    this.loopDelay.enable();
  }

  /** Fetches and checks CloudCore's CA, retrying quietly while it is unreachable. */
  async prepare(signal: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.ca = await fetchCloudCa(this.o.https, this.o.token);
        this.certs.saveCa(this.ca);
        return;
      } catch (err) {
        if (!(err instanceof EdgemarkError) || err.code !== 'EM_CLOUDCORE_UNREACHABLE') throw err;
        this.warnOnce('unreachable', `${err.message}; retrying with backoff (Ctrl-C to stop)`);
        const wait = reconnectDelay(this.o.timings, attempt, this.ctx.random);
        await sleep(wait, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw new EdgemarkError('EM_INTERRUPTED', '[nodes] interrupted while waiting for CloudCore');
      }
    }
  }

  /** Starts the nodes at the join rate; resolves when all are started. */
  async start(signal: AbortSignal): Promise<void> {
    const gapMs = 1000 / this.o.joinRate;
    const t0 = Date.now();
    const first = this.o.firstIndex ?? 0;
    const stride = this.o.stride ?? 1;
    for (let i = 0; i < this.o.count; i++) {
      if (signal.aborted || this.fatal) return;
      const g = first + i * stride;
      const name = `${this.o.prefix}${g}`;
      // Only so many nodes join at once: the next starts when one is Ready.
      await this.joinWindow.free(signal);
      if (signal.aborted || this.fatal) return;
      const node = new HollowEdgeNode(this.ctx, this.identity(name, g), () => this.secureContext(name), this.store.load(name), this.o.sourceAddress?.(g));
      this.nodes.push(node);
      this.joinWindow.enter(name);
      node.start();
      const due = t0 + (i + 1) * gapMs;
      const wait = due - Date.now();
      if (wait > 1) await sleep(wait);
      else if (i % 200 === 199) await sleep(0); // let sockets breathe during a burst
      // However fast the join rate, only so many handshakes run at once: a
      // burst of them would stall this event loop and time out at CloudCore.
      while (this.inFlightDials >= (this.o.maxDialing ?? 64) && !signal.aborted && !this.fatal) await sleep(10);
    }
  }

  whenFatal(cb: (e: EdgemarkError) => void): void {
    this.onFatal = cb;
  }

  stop(): void {
    this.flushTrace();
    for (const n of this.nodes) n.stop();
    this.scheduler.stop();
    this.store.close();
    this.loopDelay.disable();
  }

  private identity(name: string, index: number) {
    const machineId = createHash('md5').update(`edgemark/${name}`).digest('hex');
    return {
      name,
      // A fake InternalIP per node; never dialled.
      ip: `10.${128 + ((index >> 16) & 63)}.${(index >> 8) & 255}.${index & 255}`,
      machineId,
      bootId: this.bootId,
      // A fake /24 pod CIDR per node.
      podCidrPrefix: `10.${(index >> 8) & 255}.${index & 255}`,
    };
  }

  private async secureContext(name: string): Promise<SecureContext> {
    const cached = this.contexts.get(name);
    if (cached) return cached;
    if (!this.ca) throw new Error('CloudCore CA not fetched yet');
    let id = this.certs.load(name);
    if (!id) {
      // The first bootstrap goes alone; the rest wait for its verdict.
      if (!this.firstIdentity) {
        this.firstIdentity = requestEdgeCertificate(this.o.https, this.ca, this.o.token, name);
        id = (await this.firstIdentity) as Awaited<ReturnType<typeof requestEdgeCertificate>>;
      } else {
        await this.firstIdentity;
        id = await requestEdgeCertificate(this.o.https, this.ca, this.o.token, name);
      }
      this.certs.save(name, id);
    }
    const ctx = createSecureContext({ ca: this.ca.pem, cert: id.certPem, key: id.keyPem, minVersion: 'TLSv1.2' });
    this.contexts.set(name, ctx);
    return ctx;
  }

  // FleetEvents
  frameIn(text: string): void {
    if (!this.o.recordFrames) return;
    let key: string;
    try {
      const m = JSON.parse(text) as { header?: { parent_msg_id?: string }; route?: { operation?: string; group?: string; resource?: string } };
      key = `${m.header?.parent_msg_id ? 'reply' : 'push'} ${m.route?.group} ${m.route?.operation} ${m.route?.resource?.split('/')[1]}`;
    } catch {
      key = 'unparsable';
    }
    const seen = this.recorded.get(key) ?? 0;
    if (seen >= 2) return;
    this.recorded.set(key, seen + 1);
    // CloudHub's Go encoder ends each frame with a newline; one frame per line here.
    appendFileSync(this.o.recordFrames, `${text.trimEnd()}\n`);
  }

  messageIn(m: BeehiveMessage): void {
    this.messagesIn++;
    this.countRoute('in', m);
  }

  messageOut(m: BeehiveMessage): void {
    this.messagesOut++;
    this.countRoute('out', m);
  }

  private countRoute(dir: string, m: BeehiveMessage): void {
    const type = m.route.resource?.split('/')[1] ?? m.route.resource ?? '';
    const key = `${dir} ${m.route.operation ?? ''} ${type}`;
    this.byRoute.set(key, (this.byRoute.get(key) ?? 0) + 1);
  }

  private traceLines: string[] = [];

  podTrace(uid: string, event: string): void {
    if (!this.o.tracePods) return;
    this.traceLines.push(`{"uid":"${uid}","event":"${event}","ms":${Date.now()}}`);
    // Written in batches, off the hot path.
    if (this.traceLines.length === 1) setTimeout(() => this.flushTrace(), 200);
  }

  private flushTrace(): void {
    if (!this.o.tracePods || this.traceLines.length === 0) return;
    appendFileSync(this.o.tracePods, `${this.traceLines.join('\n')}\n`);
    this.traceLines = [];
  }

  dialing(delta: 1 | -1): void {
    this.inFlightDials += delta;
  }

  acked(ms: number): void {
    this.ackLatency.record(Math.max(1, Math.round(ms * 1000)));
    this.onAck?.(ms);
  }

  reconnected(_node: NodeHost): void {
    this.reconnects++;
  }

  firstConnect(_node: NodeHost): void {
    this.connectedOnce++;
    this.lastFirstConnectAt = Date.now();
    const c = process.cpuUsage(this.cpuAtStart);
    this.connectCpuMs = (c.user + c.system) / 1000;
  }

  changed(node: NodeHost): void {
    const n = node as HollowEdgeNode;
    if (n.state === 'ready') {
      if (!this.firstReadyAt.has(n.name)) this.firstReadyAt.set(n.name, Date.now());
      this.unservedNodes.delete(n.name);
      this.joinWindow.leave(n.name);
    }
  }

  error(node: NodeHost, kind: string, err: unknown): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    if (this.ctx.isFatal(err)) {
      if (!this.fatal) {
        this.fatal = err as EdgemarkError;
        this.onFatal?.(this.fatal);
      }
      this.joinWindow.leave(node.name);
      (node as HollowEdgeNode).fail();
      return;
    }
    if (kind === 'register-timeout') {
      // It retries by itself; the window makes room rather than wait on it.
      this.joinWindow.leave(node.name);
      this.unservedNodes.add(node.name);
      this.warnOnce(
        kind,
        `node ${node.name} is connected but CloudCore never answered its registration: its node limit (cloudHub.nodeLimit) is probably reached`,
      );
      return;
    }
    const msg = err instanceof Error ? err.message : String(err);
    this.warnOnce(kind, `${kind} error on ${node.name}: ${msg} (further ${kind} errors are counted, not printed)`);
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.o.log.warn(message);
  }

  joinedCount(): number {
    return this.firstReadyAt.size;
  }

  summaryLag(): FleetSummary['eventLoopLagMs'] {
    return { p50: nsToMs(this.loopDelay.percentile(50)), p99: nsToMs(this.loopDelay.percentile(99)), max: nsToMs(this.loopDelay.max) };
  }

  podCounts(): FleetSummary['pods'] {
    let running = 0;
    let admitted = 0;
    let rejected = 0;
    for (const n of this.nodes) {
      const p = n.edged.pods;
      admitted += p.admitted;
      rejected += p.rejected;
      for (const r of p.byUid.values()) if (r.step === 'running') running++;
    }
    return { running, admitted, rejected };
  }

  counts(): Record<NodeState, number> {
    const c = Object.fromEntries(nodeStates.map((s) => [s, 0])) as Record<NodeState, number>;
    for (const n of this.nodes) c[n.state]++;
    return c;
  }

  summary(): FleetSummary {
    const readyTimes = [...this.firstReadyAt.values()];
    const joinDurationMs = readyTimes.length ? Math.max(...readyTimes) - this.startedAt : 0;
    return {
      nodes: this.o.count,
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
      errors: Object.fromEntries(this.errors),
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      messagesByRoute: Object.fromEntries([...this.byRoute].sort()),
      unserved: this.unservedNodes.size,
      pods: this.podCounts(),
      unservedNodes: [...this.unservedNodes].sort().slice(0, 50),
      durationMs: Date.now() - this.startedAt,
      eventLoopLagMs: this.summaryLag(),
      ackLatencyMs: this.ackLatency.count
        ? { p50: Math.round(this.ackLatency.percentile(50) / 100) / 10, p99: Math.round(this.ackLatency.percentile(99) / 100) / 10 }
        : { p50: 0, p99: 0 },
      rssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
      workers: 1,
      ...(this.fatal ? { fatal: { code: this.fatal.code, message: this.fatal.message } } : {}),
    };
  }
}

/** Events per second over a duration in ms, one decimal; 0 for no time. */
export function rate(count: number, ms: number): number {
  return ms > 0 ? Math.round((count / ms) * 10_000) / 10 : 0;
}

const LOOP_RESOLUTION_MS = 10;

/**
 * A monitorEventLoopDelay reading (ns, which includes the sampling period) as
 * the lag beyond that period in milliseconds, one decimal; 0 before any sample.
 */
function nsToMs(ns: number): number {
  return Number.isFinite(ns) && ns > 0 ? Math.max(0, Math.round((ns - LOOP_RESOLUTION_MS * 1e6) / 1e5) / 10) : 0;
}
