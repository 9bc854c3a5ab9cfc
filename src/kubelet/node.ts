/**
 * A hollow kubelet: one node that talks to kube-apiserver directly, over its
 * own HTTP/2 connection and with its own identity (system:node:<name>), as
 * kubelet 1.32 does. Its life:
 *
 *   identity (stored, or TLS bootstrap) -> POST the Node with full status
 *   (AlreadyExists: GET it, it is ours) -> informers (its Node, Services,
 *   CSIDrivers, RuntimeClasses; its pods by spec.nodeName once the Node synced)
 *   -> CSINode -> the Ready status patch -> the Lease (GET, create with the
 *   Node as owner) -> steady state: lease PUT every 10 s, status computed
 *   every 10 s and patched on change or every 5 minutes.
 *
 * Its pods are the PodManager's (src/pods); their requests become the
 * kubelet's calls: status by GET then strategic-merge PATCH with the UID in
 * the patch, the final DELETE with grace 0 and a UID precondition, ConfigMaps
 * and Secrets through one single-object reflector each (the watch-based
 * manager), tokens by TokenRequest. Timers are (kind, token) pairs on the
 * runner's one scheduler.
 */
import type { SecureContext } from 'node:tls';
import type { Scheduler, TimerTarget } from '../core/scheduler.js';
import type { HollowNode, NodeErrorKind, PodMilestone } from '../kind/kind.js';
import type { StageEngine } from '../lifecycle/engine.js';
import { depResource } from '../pods/deps.js';
import type { ApiError, PodEnv, PodHost, PodRequestKind } from '../pods/host.js';
import { PodManager, type PodObject, type PodRecord } from '../pods/pods.js';
import type { NodeStore, StoredNode } from '../store/store.js';
import { ApiConnection, statusOf, type ApiResponse } from './api.js';
import { csiNode, initialNode, kubeletEvent, microTime, newLease, NPD_PATCH, statusPatch, type KubeletIdentity, type KubeletProfile } from './objects.js';
import { Reflector, type KubeObject } from './reflector.js';
import { jitterUp, type KubeletTimings } from './timings.js';

export const kubeletStates = ['bootstrapping', 'registering', 'registered', 'ready', 'unreachable', 'stopped', 'failed'] as const;
export type KubeletState = (typeof kubeletStates)[number];

export interface KubeletEvents {
  request(verb: string, resource: string): void;
  watchEvent(type: string, resource: string): void;
  firstConnect(node: HollowNode): void;
  reconnected(node: HollowNode): void;
  podTrace?(uid: string, event: PodMilestone): void;
  error(node: HollowNode, kind: NodeErrorKind, err: unknown): void;
  changed(node: HollowNode): void;
}

/** How a node authenticates: its client certificate in the TLS context, or a bearer token beside the CA. */
export interface NodeCredential {
  secureContext: SecureContext;
  bearer?: string;
}

/** What every node of a group shares: one object per group. */
export interface KubeletContext {
  scheduler: Scheduler;
  store: NodeStore;
  stages: StageEngine;
  timings: KubeletTimings;
  profile: KubeletProfile;
  random: () => number;
  events: KubeletEvents;
  apiserver: { url: string; servername?: string };
  /** The node's identity: stored, bootstrapped now, or given (rejects with the bootstrap's error). */
  identity(name: string, localAddress: string | undefined): Promise<NodeCredential>;
  /** Errors after which the node stops (a refused bootstrap token, a denied CSR). */
  isFatal(err: unknown): boolean;
  pods: PodEnv;
}

const Timer = { connect: 0, register: 1, lease: 2, status: 3, csinode: 4, npd: 5 } as const;
type TimerKind = (typeof Timer)[keyof typeof Timer];
const TIMER_KINDS = Object.keys(Timer).length;

const SMP = 'application/strategic-merge-patch+json';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
const sel = (k: string, v: string) => `fieldSelector=${encodeURIComponent(`${k}=${v}`)}`;

interface LeaseObject {
  metadata?: { resourceVersion?: string; ownerReferences?: unknown[] };
  spec?: { renewTime?: string };
}

/** A ConfigMap or Secret the node's pods reference: one reflector each, as the watch-based manager keeps. */
interface ObjectWatch {
  reflector: Reflector;
  present: boolean;
  /** Queries waiting for the first list. */
  waiting: number;
}

export class HollowKubeletNode implements PodHost, TimerTarget {
  readonly name: string;
  readonly hostIP: string;
  readonly podCidrPrefix: string;
  readonly pods: PodManager;
  private conn: ApiConnection | undefined;
  private proxyConn: ApiConnection | undefined;
  private readonly tokens = new Uint32Array(TIMER_KINDS);
  private phase: 'identity' | 'registering' | 'registered' = 'identity';
  private uid: string | undefined;
  private lease: LeaseObject | undefined;
  private leaseRenewedAt = 0;
  private leaseFailures = 0;
  private registerFailures = 0;
  private csiDone = false;
  /** The API holds Ready=True from us. */
  private readyReported = false;
  private readySince = 0;
  private lastReportAt = 0;
  private reflectors: Reflector[] = [];
  private podsReflector: Reflector | undefined;
  private readonly objects = new Map<string, ObjectWatch>();
  private stored: StoredNode | undefined;
  private unreachable = false;
  private resyncPending = false;
  private connected = false;
  private stopped = false;
  private failed = false;

  constructor(
    readonly ctx: KubeletContext,
    private readonly id: KubeletIdentity,
    stored: StoredNode,
    readonly localAddress?: string,
  ) {
    this.name = id.name;
    this.hostIP = id.ip;
    this.podCidrPrefix = id.podCidrPrefix;
    this.pods = new PodManager(this);
    this.stored = stored;
  }

  get env(): PodEnv {
    return this.ctx.pods;
  }

  get state(): KubeletState {
    if (this.failed) return 'failed';
    if (this.stopped) return 'stopped';
    if (this.phase === 'identity') return 'bootstrapping';
    if (this.phase === 'registering') return 'registering';
    if (this.unreachable) return 'unreachable';
    if (this.ready) return 'ready';
    return 'registered';
  }

  /** Ready as the node sees it: the API holds its Ready status and its lease is current. */
  get ready(): boolean {
    return this.readyReported && this.ctx.scheduler.now() - this.leaseRenewedAt < this.ctx.timings.leaseDurationSeconds * 1000;
  }

  podCounts(): { running: number; admitted: number; rejected: number } {
    let running = 0;
    for (const r of this.pods.byUid.values()) if (r.step === 'running') running++;
    return { running, admitted: this.pods.admitted, rejected: this.pods.rejected };
  }

  /** Open watches of this node (its kubelet and its proxy). */
  watchCount(): number {
    return (this.conn?.watchCount ?? 0) + (this.proxyConn?.watchCount ?? 0);
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    for (let k = 0; k < TIMER_KINDS; k++) this.tokens[k]!++;
    for (const r of this.reflectors) r.stop();
    for (const o of this.objects.values()) o.reflector.stop();
    this.podsReflector?.stop();
    this.conn?.close();
    this.proxyConn?.close();
    this.ctx.events.changed(this);
  }

  fail(): void {
    this.failed = true;
    this.stop();
  }

  private schedule(kind: TimerKind, ms: number): void {
    if (!this.stopped) this.ctx.scheduler.after(ms, this, kind, ++this.tokens[kind]!);
  }

  onTimer(kind: number, token: number): void {
    if (this.stopped || token !== this.tokens[kind]) return;
    switch (kind) {
      case Timer.connect:
        void this.connect();
        break;
      case Timer.register:
        void this.register();
        break;
      case Timer.lease:
        void this.syncLease();
        break;
      case Timer.status:
        void this.syncStatus();
        break;
      case Timer.csinode:
        void this.ensureCsiNode();
        break;
      case Timer.npd:
        void this.npdHeartbeat();
        break;
    }
  }

  private backoff(initial: number, max: number, failures: number): number {
    return Math.min(max, initial * 2 ** failures);
  }

  // ---- identity and registration

  private async connect(): Promise<void> {
    let secure: NodeCredential;
    try {
      secure = await this.ctx.identity(this.name, this.localAddress);
    } catch (err) {
      if (this.stopped) return;
      this.ctx.events.error(this, 'bootstrap', err);
      if (this.ctx.isFatal(err)) return this.fail();
      this.schedule(Timer.connect, this.backoff(1000, 30_000, this.registerFailures++));
      return;
    }
    if (this.stopped) return;
    this.registerFailures = 0;
    const events = this.ctx.events;
    const common = {
      url: this.ctx.apiserver.url,
      ...(this.ctx.apiserver.servername ? { servername: this.ctx.apiserver.servername } : {}),
      ...(this.localAddress ? { localAddress: this.localAddress } : {}),
      secureContext: secure.secureContext,
      ...(secure.bearer ? { bearer: secure.bearer } : {}),
      onRequest: (verb: string, resource: string) => events.request(verb, resource),
      onEvent: (type: string, resource: string) => events.watchEvent(type, resource),
    };
    // The field manager is the user agent's first word: kubemark's are hollow-kubelet and hollow-proxy.
    const kubemark = this.ctx.profile.shape === 'kubemark';
    const agent = (who: string) =>
      `${kubemark ? `hollow-${who}` : who === 'proxy' ? 'kube-proxy' : 'kubelet'}/${this.ctx.profile.kubeletVersion} (linux/amd64)`;
    this.conn = new ApiConnection({ ...common, userAgent: agent('kubelet'), onBroken: () => this.onBroken() });
    if (this.ctx.profile.proxy === 'per-node') this.proxyConn = new ApiConnection({ ...common, userAgent: agent('proxy') });
    this.phase = 'registering';
    this.ctx.events.changed(this);
    void this.register();
  }

  private onBroken(): void {
    if (this.stopped || this.unreachable) return;
    this.unreachable = true;
    this.resyncPending = true;
    this.ctx.events.changed(this);
  }

  /** A request was answered: the connection works (again). */
  private answered(r: ApiResponse): boolean {
    if (r.status === 0) return false;
    if (this.unreachable) {
      this.unreachable = false;
      this.ctx.events.reconnected(this);
      this.ctx.events.changed(this);
    }
    return true;
  }

  private async register(): Promise<void> {
    const conn = this.conn!;
    const node = initialNode(this.ctx.profile, this.id, new Date(this.ctx.scheduler.now()));
    let r = await conn.request('POST', '/api/v1/nodes', JSON.stringify(node), 'application/json', this.ctx.timings.requestTimeoutMs);
    if (this.stopped) return;
    if (r.status === 409) {
      // Ours from an earlier run: the kubelet reads it back and goes on with it.
      r = await conn.request('GET', `/api/v1/nodes/${this.name}`, undefined, undefined, this.ctx.timings.requestTimeoutMs);
      if (this.stopped) return;
    }
    if (r.status !== 200 && r.status !== 201) {
      this.answered(r);
      const s = statusOf(r);
      this.ctx.events.error(this, 'register', new Error(`register: ${s.code} ${s.reason ?? ''} ${s.message ?? ''}`));
      const t = this.ctx.timings;
      this.schedule(Timer.register, this.backoff(t.registerRetryInitialMs, t.registerRetryMaxMs, this.registerFailures++));
      return;
    }
    this.answered(r);
    const got = JSON.parse(r.body) as { metadata?: { uid?: string }; status?: { conditions?: { type?: string; status?: string }[] } };
    this.uid = got.metadata?.uid;
    // A node that was Ready before the restart is Ready in the API already.
    this.readyReported = got.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true && r.status === 200;
    this.phase = 'registered';
    this.connected = true;
    this.ctx.store.putNode(this.name, this.uid ?? '', null);
    this.ctx.events.firstConnect(this);
    if (this.ctx.profile.events && r.status === 201) this.nodeEvents();
    this.startInformers();
    void this.ensureCsiNode();
    void this.syncLease();
    this.schedule(Timer.status, jitterUp(this.ctx.timings.nodeStatusUpdateMs, this.ctx.timings.nodeStatusJitter, this.ctx.random));
    if (this.ctx.profile.npd) this.schedule(Timer.npd, 0);
    this.ctx.events.changed(this);
  }

  private startInformers(): void {
    const host = { conn: this.conn!, scheduler: this.ctx.scheduler, random: this.ctx.random, timings: this.ctx.timings };
    const ignore = { onList: () => undefined, onEvent: () => undefined };
    const node = new Reflector(host, '/api/v1/nodes', sel('metadata.name', this.name), {
      ...ignore,
      // The kubelet watches its pods only once its Node informer synced.
      onList: () => this.podsReflector?.start(),
    });
    this.podsReflector = new Reflector(host, '/api/v1/pods', sel('spec.nodeName', this.name), {
      onList: (items) => this.podsListed(items as PodObject[]),
      onEvent: (type, o) => this.pods.podChanged(type === 'ADDED' ? 'added' : type === 'MODIFIED' ? 'modified' : 'deleted', o as PodObject, podResource(o)),
    });
    this.reflectors = [
      node,
      new Reflector(host, '/api/v1/services', sel('spec.clusterIP!', 'None'), ignore),
      new Reflector(host, '/apis/storage.k8s.io/v1/csidrivers', '', ignore),
      new Reflector(host, '/apis/node.k8s.io/v1/runtimeclasses', '', ignore),
    ];
    if (this.proxyConn) {
      const proxy = { ...host, conn: this.proxyConn };
      const notProxied = `labelSelector=${encodeURIComponent('!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name')}`;
      this.reflectors.push(
        new Reflector(proxy, '/api/v1/services', notProxied, ignore),
        new Reflector(proxy, '/apis/discovery.k8s.io/v1/endpointslices', notProxied, ignore),
        new Reflector(proxy, '/api/v1/nodes', sel('metadata.name', this.name), ignore),
      );
    }
    for (const r of this.reflectors) r.start();
  }

  /** The pods' list: the first one after a restart takes back the pods the store kept; later ones (after a 410) reconcile. */
  private podsListed(items: PodObject[]): void {
    const stored = this.stored;
    this.stored = undefined;
    let restored = new Set<string>();
    if (stored && stored.podStates.size > 0) {
      const objects = [
        ...stored.objects.filter((o) => !o.resource.includes('/pod/')),
        ...items.filter((p) => stored.podStates.has(p.metadata?.uid ?? '')).map((p) => ({ resource: podResource(p), content: JSON.stringify(p) })),
      ];
      this.pods.restore({ objects, podStates: stored.podStates });
      restored = new Set(this.pods.byUid.keys());
      for (const uid of stored.podStates.keys()) if (!restored.has(uid)) this.ctx.store.deletePodState(this.name, uid);
      // The watch-based manager watches what the restored pods reference again.
      for (const r of this.referenced()) this.queryObject(r, 0);
    }
    const listed = new Set<string>();
    for (const p of items) {
      const uid = p.metadata?.uid ?? '';
      listed.add(uid);
      if (restored.has(uid)) continue;
      this.pods.podChanged(this.pods.byUid.has(uid) ? 'modified' : 'added', p, podResource(p));
    }
    for (const rec of [...this.pods.byUid.values()]) {
      if (!listed.has(rec.uid)) this.pods.podChanged('deleted', null, `${rec.namespace}/pod/${rec.name}`);
    }
  }

  // ---- CSINode, status, lease

  private async ensureCsiNode(): Promise<void> {
    const r = await this.conn!.request(
      'POST',
      '/apis/storage.k8s.io/v1/csinodes',
      JSON.stringify(csiNode(this.name, this.uid ?? '')),
      'application/json',
      this.ctx.timings.requestTimeoutMs,
    );
    if (this.stopped) return;
    if (r.status === 201 || r.status === 409) {
      this.answered(r);
      this.csiDone = true;
      // fastStatusUpdateOnce: the node would now be Ready, tell the API at once.
      if (!this.readyReported) void this.syncStatus(true);
      return;
    }
    this.ctx.events.error(this, 'register', new Error(`CSINode: ${statusOf(r).code} ${statusOf(r).message ?? ''}`));
    this.schedule(Timer.csinode, 1000);
  }

  /** Every nodeStatusUpdateFrequency: patch when the status changed or the report period passed. */
  private async syncStatus(fast = false): Promise<void> {
    const t = this.ctx.timings;
    if (!fast) this.schedule(Timer.status, jitterUp(t.nodeStatusUpdateMs, t.nodeStatusJitter, this.ctx.random));
    const now = this.ctx.scheduler.now();
    const changed = this.csiDone && !this.readyReported;
    if (!changed && now - this.lastReportAt < t.nodeStatusReportMs) return;
    if (changed) this.readySince = now;
    const nowText = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const since = new Date(this.readySince || now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const r = await this.conn!.request(
      'PATCH',
      `/api/v1/nodes/${this.name}/status`,
      statusPatch(nowText, since, this.csiDone, changed),
      SMP,
      t.heartbeatTimeoutMs,
    );
    if (this.stopped) return;
    if (r.status !== 200) {
      this.answered(r);
      this.ctx.events.error(this, 'nodestatus', new Error(`node status: ${statusOf(r).code} ${statusOf(r).message ?? ''}`));
      return;
    }
    this.answered(r);
    this.lastReportAt = now;
    if (changed) {
      this.readyReported = true;
      if (this.ctx.profile.events)
        this.postEvent({ namespace: 'default', kind: 'Node', name: this.name, uid: this.name }, 'NodeReady', `Node ${this.name} status is now: NodeReady`);
      this.ctx.events.changed(this);
    }
  }

  private async npdHeartbeat(): Promise<void> {
    this.schedule(Timer.npd, this.ctx.timings.npdHeartbeatMs);
    const r = await this.conn!.request('PATCH', `/api/v1/nodes/${this.name}/status`, NPD_PATCH, SMP, this.ctx.timings.requestTimeoutMs);
    if (!this.stopped) this.answered(r);
  }

  /** The lease controller: ensure (GET, create with the Node as owner), then renew by PUT from the last lease. */
  private async syncLease(): Promise<void> {
    const t = this.ctx.timings;
    const conn = this.conn!;
    const now = () => this.ctx.scheduler.now();
    let r: ApiResponse;
    if (!this.lease) {
      r = await conn.request('GET', `${LEASES}/${this.name}`, undefined, undefined, t.heartbeatTimeoutMs);
      if (this.stopped) return;
      if (r.status === 404) {
        const body = JSON.stringify(newLease(this.name, this.uid ?? '', t.leaseDurationSeconds, now()));
        r = await conn.request('POST', LEASES, body, 'application/json', t.heartbeatTimeoutMs);
      } else if (r.status === 200) {
        this.lease = JSON.parse(r.body) as LeaseObject;
        r = await this.putLease(now());
      }
    } else {
      r = await this.putLease(now());
    }
    if (this.stopped) return;
    if (r.status === 200 || r.status === 201) {
      this.answered(r);
      this.lease = JSON.parse(r.body) as LeaseObject;
      this.leaseRenewedAt = now();
      this.leaseFailures = 0;
      this.schedule(Timer.lease, jitterUp(t.leaseRenewMs, t.leaseJitter, this.ctx.random));
      if (this.resyncPending) {
        this.resyncPending = false;
        this.pods.resync();
      }
      this.ctx.events.changed(this);
      return;
    }
    this.answered(r);
    // A conflict: someone else wrote the lease; read it again before the next try.
    if (r.status === 409) this.lease = undefined;
    this.ctx.events.error(this, 'lease', new Error(`lease: ${statusOf(r).code} ${statusOf(r).reason ?? ''} ${statusOf(r).message ?? ''}`));
    this.schedule(Timer.lease, this.backoff(t.leaseRetryInitialMs, t.leaseRetryMaxMs, this.leaseFailures++));
    this.ctx.events.changed(this);
  }

  private putLease(nowMs: number): Promise<ApiResponse> {
    const lease = this.lease!;
    lease.spec = { ...lease.spec, renewTime: microTime(nowMs) };
    const body = JSON.stringify(lease);
    return this.conn!.request('PUT', `${LEASES}/${this.name}`, body, 'application/json', this.ctx.timings.heartbeatTimeoutMs);
  }

  // ---- events (the kubelet shape)

  private nodeEvents(): void {
    const ref = { namespace: 'default', kind: 'Node', name: this.name, uid: this.name };
    this.postEvent(ref, 'Starting', 'Starting kubelet.');
    this.postEvent(ref, 'NodeAllocatableEnforced', 'Updated Node Allocatable limit across pods');
    for (const reason of ['NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID']) {
      this.postEvent(ref, reason, `Node ${this.name} status is now: ${reason}`);
    }
  }

  private postEvent(ref: Parameters<typeof kubeletEvent>[0], reason: string, message: string): void {
    const body = JSON.stringify(kubeletEvent(ref, reason, message, this.name, this.ctx.scheduler.now()));
    void this.conn?.request('POST', `/api/v1/namespaces/${ref.namespace}/events`, body, 'application/json', this.ctx.timings.requestTimeoutMs);
  }

  // ---- the pods' requests

  podRequest(kind: PodRequestKind, resource: string, content: unknown, subject: PodRecord | string): void {
    const [ns, , name] = resource.split('/') as [string, string, string];
    switch (kind) {
      case 'patch':
        void this.patchPod(ns, name, content as string, subject as PodRecord);
        break;
      case 'delete':
        void this.deletePod(ns, name, content, subject as PodRecord);
        break;
      case 'query-object':
        this.queryObject(resource);
        break;
      case 'query-token':
        void this.requestToken(ns, name, content, subject as PodRecord);
        break;
    }
  }

  private async patchPod(ns: string, name: string, patch: string, rec: PodRecord): Promise<void> {
    const conn = this.conn!;
    const t = this.ctx.timings;
    const path = `/api/v1/namespaces/${ns}/pods/${name}`;
    const got = await conn.request('GET', path, undefined, undefined, t.requestTimeoutMs);
    if (this.stopped) return;
    if (!this.answered(got)) {
      this.resyncPending = true;
      return this.pods.patchNotSent(rec);
    }
    if (got.status === 404) return this.pods.requestDone(rec, 'patch', { code: 404 });
    if (got.status === 200) {
      const uid = (JSON.parse(got.body) as PodObject).metadata?.uid;
      // The pod was deleted and made again under the same name: not ours to patch.
      if (uid !== rec.uid) return this.pods.requestDone(rec, 'patch', { code: 404 });
    }
    const r = await conn.request('PATCH', `${path}/status`, patch, SMP, t.requestTimeoutMs);
    if (this.stopped) return;
    if (!this.answered(r)) {
      this.resyncPending = true;
      return this.pods.patchNotSent(rec);
    }
    if (rec.step === 'running' && r.status === 200 && this.ctx.profile.events) this.podStartedEvents(rec);
    this.pods.requestDone(rec, 'patch', r.status === 200 ? undefined : apiError(r));
  }

  private readonly startedEvents = new Set<string>();

  /** The events a kubelet posts when a pod's containers start (once per pod). */
  private podStartedEvents(rec: PodRecord): void {
    if (this.startedEvents.has(rec.uid)) return;
    this.startedEvents.add(rec.uid);
    const ref = { namespace: rec.namespace, kind: 'Pod', name: rec.name, uid: rec.uid };
    for (const c of rec.spec.containers ?? []) {
      const at = { ...ref, fieldPath: `spec.containers{${c.name}}` };
      this.postEvent(at, 'Pulled', `Container image "${c.image ?? ''}" already present on machine`);
      this.postEvent(at, 'Created', `Created container ${c.name}`);
      this.postEvent(at, 'Started', `Started container ${c.name}`);
    }
  }

  private async deletePod(ns: string, name: string, options: unknown, rec: PodRecord): Promise<void> {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'DeleteOptions', ...(options as object) });
    const r = await this.conn!.request('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`, body, 'application/json', this.ctx.timings.requestTimeoutMs);
    if (this.stopped) return;
    this.startedEvents.delete(rec.uid);
    if (!this.answered(r)) {
      this.resyncPending = true;
      return;
    }
    this.pods.requestDone(rec, 'delete', r.status === 200 || r.status === 202 ? undefined : apiError(r));
  }

  private async requestToken(ns: string, sa: string, tokenRequest: unknown, rec: PodRecord): Promise<void> {
    const r = await this.conn!.request(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      JSON.stringify(tokenRequest),
      'application/json',
      this.ctx.timings.requestTimeoutMs,
    );
    if (this.stopped) return;
    this.answered(r);
    // The token itself is not kept: the fake runtime mounts nothing.
    this.pods.queryDone(
      'query-token',
      rec,
      r.status === 201 || r.status === 200 ? { resourceVersion: '', content: null } : { error: apiError(r), resourceVersion: '', content: null },
    );
  }

  /** A ConfigMap or Secret: its reflector answers; the first query starts one. */
  private queryObject(resource: string, waiting = 1): void {
    const have = this.objects.get(resource);
    if (have) {
      if (waiting === 0) return;
      if (have.reflector.synced) this.answerObject(resource, have);
      else have.waiting++;
      return;
    }
    const [ns, type, name] = resource.split('/') as [string, 'configmap' | 'secret', string];
    const w: ObjectWatch = { present: false, waiting, reflector: undefined as unknown as Reflector };
    const host = { conn: this.conn!, scheduler: this.ctx.scheduler, random: this.ctx.random, timings: this.ctx.timings };
    w.reflector = new Reflector(host, `/api/v1/namespaces/${ns}/${type}s`, sel('metadata.name', name), {
      onList: (items) => {
        const item = items[0];
        const was = w.present;
        w.present = item !== undefined;
        if (w.waiting > 0) {
          w.waiting = 0;
          this.answerObject(resource, w, item);
        } else if (was !== w.present) this.pods.objectChanged(w.present ? 'added' : 'deleted', resource);
      },
      onRewatch: () => this.dropUnreferenced(),
      onEvent: (type, o) => {
        w.present = type !== 'DELETED';
        if (w.present) this.ctx.store.putObject(this.name, resource, o.metadata?.resourceVersion ?? '', o);
        this.pods.objectChanged(type === 'ADDED' ? 'added' : type === 'MODIFIED' ? 'modified' : 'deleted', resource);
      },
    });
    this.objects.set(resource, w);
    w.reflector.start();
  }

  private answerObject(resource: string, w: ObjectWatch, item?: KubeObject): void {
    if (w.present)
      this.pods.queryDone('query-object', resource, { resourceVersion: item?.metadata?.resourceVersion ?? w.reflector.resourceVersion, content: item ?? {} });
    else this.pods.queryDone('query-object', resource, { error: { code: 404, reason: 'NotFound' }, resourceVersion: '', content: null });
  }

  /** Reflectors of objects no pod of the node references any more stop (checked at each relist). */
  private referenced(): Set<string> {
    const used = new Set<string>();
    for (const rec of this.pods.byUid.values()) for (const d of rec.deps) if (d.kind !== 'token') used.add(depResource(rec.namespace, d));
    return used;
  }

  private dropUnreferenced(): void {
    const used = this.referenced();
    for (const [resource, w] of this.objects) {
      if (!used.has(resource) && w.waiting === 0) {
        w.reflector.stop();
        this.objects.delete(resource);
      }
    }
  }

  /** Whether the node ever registered (its first connection's work is done). */
  get registered(): boolean {
    return this.connected;
  }
}

function podResource(p: KubeObject): string {
  return `${p.metadata?.namespace ?? ''}/pod/${p.metadata?.name ?? ''}`;
}

function apiError(r: ApiResponse): ApiError {
  const s = statusOf(r);
  return { ...(s.code !== undefined ? { code: s.code } : {}), ...(s.reason ? { reason: s.reason } : {}), ...(s.message ? { message: s.message } : {}) };
}
