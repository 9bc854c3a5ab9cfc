/**
 * A hollow edge node: edgehub, metamanager, edged and devicetwin wired
 * together, plus its timers. It is a TimerTarget of the runner's one
 * scheduler; its timers are (kind, token) pairs, and a newer schedule of a
 * kind supersedes the older.
 */
import type { SecureContext } from 'node:tls';
import type { TimerTarget } from '../core/scheduler.js';
import type { LinkCondition } from '../link/model.js';
import type { BeehiveMessage } from '../protocol/message.js';
import { DeviceTwin } from './devicetwin/devicetwin.js';
import { EdgeHub } from './edgehub/edgehub.js';
import { Edged } from './edged/edged.js';
import type { NodeIdentity } from './edged/objects.js';
import type { PodEnv, PodHost, PodRequestKind } from '../pods/host.js';
import type { PodRecord } from '../pods/pods.js';
import { TIMER_KINDS, Timer, type EdgeContext, type NodeHost, type TimerKind } from './host.js';
import { MetaManager, Req } from './metamanager/metamanager.js';
import type { StoredNode } from '../store/store.js';

const podRequests = {
  patch: [Req.patchPodStatus, 'patch'],
  delete: [Req.deletePod, 'delete'],
  'query-object': [Req.queryObject, 'query'],
  'query-token': [Req.queryToken, 'query'],
} as const;

/** The states of an edge node, in display order. */
export const edgeStates = ['joining', 'connected', 'registered', 'ready', 'disconnected', 'stopped', 'failed'] as const;
export type NodeState = (typeof edgeStates)[number];

export class HollowEdgeNode implements NodeHost, PodHost, TimerTarget {
  readonly name: string;
  readonly hostIP: string;
  readonly podCidrPrefix: string;
  readonly hub: EdgeHub;
  readonly meta: MetaManager;
  readonly edged: Edged;
  readonly twin: DeviceTwin;
  private readonly tokens = new Uint32Array(TIMER_KINDS);
  private stopped = false;
  failed = false;

  constructor(
    readonly ctx: EdgeContext,
    identity: NodeIdentity,
    secureContext: () => Promise<SecureContext>,
    stored?: StoredNode,
    readonly localAddress?: string,
  ) {
    this.name = identity.name;
    this.hostIP = identity.ip;
    this.podCidrPrefix = identity.podCidrPrefix;
    this.meta = new MetaManager({
      host: this,
      send: (m) => this.hub.send(m),
      onReply: (kind, m, subject) => this.edged.onReply(kind, m, subject),
      onRequestFailed: (kind, why, subject) => this.edged.onRequestFailed(kind, why, subject),
      onPush: (m: BeehiveMessage) => this.edged.onPush(m),
    });
    this.edged = new Edged(this, identity, this.meta);
    this.twin = new DeviceTwin(this, (m) => this.hub.send(m));
    if (stored) this.edged.restore(stored);
    this.hub = new EdgeHub({
      host: this,
      secureContext,
      onConnected: () => {
        this.ctx.events.changed(this);
        this.edged.onConnected();
        this.twin.onConnected();
        this.schedule(Timer.sweep, this.ctx.timings.requestTimeoutMs / 4);
      },
      onDisconnected: () => {
        this.meta.failAll();
        this.ctx.events.changed(this);
      },
      onMessage: (m) => {
        if (!this.twin.receive(m)) this.meta.receive(m);
      },
    });
  }

  /** The pods' environment: the group's one PodEnv. */
  get env(): PodEnv {
    return this.ctx.pods;
  }

  podRequest(kind: PodRequestKind, resource: string, content: unknown, subject: PodRecord | string): void {
    const [req, op] = podRequests[kind];
    this.meta.request(req, op, resource, content, subject);
  }

  get state(): NodeState {
    if (this.failed) return 'failed';
    if (this.stopped) return 'stopped';
    if (!this.hub.connected) return this.hub.connects === 0 ? 'joining' : 'disconnected';
    if (this.edged.ready) return 'ready';
    if (this.edged.phase === 'registered') return 'registered';
    return 'connected';
  }

  podCounts(): { running: number; admitted: number; rejected: number } {
    const p = this.edged.pods;
    let running = 0;
    for (const r of p.byUid.values()) if (r.step === 'running') running++;
    return { running, admitted: p.admitted, rejected: p.rejected };
  }

  start(): void {
    this.stopped = false;
    this.hub.start();
  }

  impairLink(c: LinkCondition | undefined): void {
    this.hub.impair(c);
  }

  dropLink(backoff: boolean): void {
    this.hub.drop(backoff);
  }

  stop(): void {
    this.stopped = true;
    for (let k = 0; k < TIMER_KINDS; k++) this.cancel(k as TimerKind);
    this.hub.stop();
  }

  fail(): void {
    this.failed = true;
    this.stop();
  }

  schedule(kind: TimerKind, delayMs: number): void {
    if (this.stopped) return;
    this.ctx.scheduler.after(delayMs, this, kind, ++this.tokens[kind]!);
  }

  cancel(kind: TimerKind): void {
    this.tokens[kind]!++;
  }

  onTimer(kind: number, token: number, now: number): void {
    if (this.stopped || token !== this.tokens[kind]) return;
    switch (kind) {
      case Timer.keepalive:
        this.hub.onKeepaliveTimer();
        break;
      case Timer.reconnect:
        this.hub.onReconnectTimer();
        break;
      case Timer.twinMembership:
        this.twin.onTimer();
        break;
      case Timer.sweep:
        this.meta.sweep(now);
        if (this.hub.connected) this.schedule(Timer.sweep, this.ctx.timings.requestTimeoutMs / 4);
        break;
      default:
        this.edged.onTimer(kind);
    }
  }
}
