/**
 * The pods of one hollow node, of any kind: admission against allocatable (as
 * the kubelet admits), a fake runtime that moves each pod through its
 * lifecycle on the shared scheduler, status patches (`<ns>/podpatch/<name>`,
 * sent only on change), and graceful deletion ending in the UID-preconditioned
 * delete. Its inputs are plain calls in Kubernetes terms, its outputs the
 * host's `podRequest` (host.ts); the kind translates both to its wire.
 */
import { createHash } from 'node:crypto';
import type { TimerTarget } from '../core/scheduler.js';
import type { PodMeta } from '../lifecycle/engine.js';
import type { ApiError, ObjectChange, PodHost, PodSnapshot, QueryResult } from './host.js';
import { podRequests, podStatus, parseQuantity, rfc3339, type PodSpecLite, type PodStep } from './podstatus.js';
import { jittered } from './timings.js';
import { depResource, waitingFor, type PodDependency, type PodSpecDeps } from './deps.js';
import { podShapeProblem } from './shape.js';
import { sharedDependencies, sharedSpec } from './shared.js';

/** The TokenRequest edged sends for a projected service-account token. */
function tokenRequest(rec: PodRecord, d: PodDependency) {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    metadata: { name: d.name, namespace: rec.namespace },
    spec: {
      audiences: d.audience ? [d.audience] : null,
      expirationSeconds: d.expirationSeconds ?? 3600,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: rec.name, uid: rec.uid },
    },
  };
}

export interface PodObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  spec?: PodSpecLite & { nodeName?: string; terminationGracePeriodSeconds?: number };
  status?: { phase?: string; conditions?: { type?: string; status?: string }[] };
}

/** What of a pod record survives a restart besides the Pod object itself: one list, written and read. */
const persistedFields = [
  'step',
  'startTime',
  'startedAt',
  'finishedAt',
  'deleting',
  'podIP',
  'reason',
  'message',
  'lifecycle',
  'stageIndex',
  'restartCount',
  'exitCode',
] as const;
type PersistedField = (typeof persistedFields)[number];
type RestoredField = Exclude<PersistedField, 'podIP'>;

/**
 * A pod's runtime state as persisted (`PodRecord.persisted()`). Fields left
 * undefined are not written; states from before lifecycles lack `lifecycle`,
 * `stageIndex` and `restartCount`, and the record's defaults stand.
 */
export type PersistedPodState = { podIP: string } & { [K in RestoredField]?: PodRecord[K] };

/** Sets one restored field on the record, when the state has it. */
function restoreField<K extends RestoredField>(rec: Pick<PodRecord, RestoredField>, st: PersistedPodState, k: K): void {
  const v = st[k];
  if (v !== undefined) rec[k] = v as PodRecord[K];
}

const enum PodTimer {
  /** Apply the next lifecycle transition. */
  advance = 0,
  stop = 1,
  /** Look again for objects the pod still misses. */
  retry = 2,
}

export class PodRecord implements TimerTarget {
  step: PodStep = 'creating';
  startTime = '';
  startedAt: string | undefined;
  finishedAt: string | undefined;
  deleting = false;
  /** Digest of the last status sent (not the status itself: pods are many). */
  lastSent = '';
  tracedRunning = false;
  private token = 0;
  reason: string | undefined;
  message: string | undefined;
  /** What the containers need from the cloud, and whether the token came. */
  deps: readonly PodDependency[] = [];
  tokenReady = false;
  startScheduled = false;
  waitingReason: string | undefined;
  /** The lifecycle driving this pod, the transition it is at, restarts so far. */
  lifecycle = 'default';
  stageIndex = -1;
  restartCount = 0;
  exitCode: number | undefined;

  constructor(
    readonly pods: PodManager,
    readonly namespace: string,
    readonly name: string,
    readonly uid: string,
    public spec: PodSpecLite,
    readonly podIP: string,
  ) {}

  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  /** What survives a restart besides the Pod object itself (a PersistedPodState, as JSON). */
  persisted(): string {
    const st: { [K in PersistedField]?: PodRecord[K] } = {};
    for (const k of persistedFields) (st as Record<PersistedField, unknown>)[k] = this[k];
    return JSON.stringify(st);
  }

  /** Takes back a persisted state (the pod IP came with the constructor). */
  restore(st: PersistedPodState): void {
    for (const k of persistedFields) if (k !== 'podIP') restoreField(this, st, k);
  }

  get terminal(): boolean {
    return this.step === 'succeeded' || this.step === 'failed' || this.step === 'terminated' || this.step === 'rejected';
  }

  schedule(kind: PodTimer, ms: number): void {
    this.pods.host.env.scheduler.after(ms, this, kind, ++this.token);
  }

  cancel(): void {
    this.token++;
  }

  onTimer(kind: number, token: number): void {
    if (token !== this.token) return;
    this.pods.onPodTimer(this, kind);
  }
}

export class PodManager {
  readonly byUid = new Map<string, PodRecord>();
  /** ConfigMaps and Secrets this node holds (their resource strings). */
  private readonly have = new Set<string>();
  /** Queries on their way (one per object, whoever needs it). */
  private readonly inflight = new Set<string>();
  private nextIp = 0;
  admitted = 0;
  rejected = 0;

  constructor(readonly host: PodHost) {}

  /**
   * Pods kept from an earlier run: the Pod objects metamanager stored and the
   * runtime state of each. They go on where they were; nothing is recreated.
   */
  restore(stored: PodSnapshot): void {
    for (const o of stored.objects) {
      const type = o.resource.split('/')[1];
      if (type === 'configmap' || type === 'secret') this.have.add(o.resource);
    }
    for (const o of stored.objects) {
      if (o.resource.split('/')[1] !== 'pod') continue;
      const pod = JSON.parse(o.content) as PodObject;
      // A stored pod the node cannot take (written malformed, or by an older runner) is left out, counted.
      const problem = podShapeProblem(pod);
      if (problem) {
        this.host.env.events.error(this.host, 'pod-message', new Error(`stored pod ${o.resource} is left out: ${problem}`));
        continue;
      }
      const uid = pod.metadata?.uid;
      const saved = uid ? stored.podStates.get(uid) : undefined;
      if (!uid || !saved || !pod.spec || pod.spec.nodeName !== this.host.name) continue;
      const st = JSON.parse(saved) as PersistedPodState;
      const rec = new PodRecord(this, pod.metadata!.namespace!, pod.metadata!.name!, uid, sharedSpec(pod.spec), st.podIP);
      rec.restore(st);
      rec.deps = sharedDependencies(pod.spec as PodSpecDeps);
      this.byUid.set(uid, rec);
      this.nextIp = Math.max(this.nextIp, Number(st.podIP.split('.')[3]) - 1);
      if (rec.step === 'creating' && !rec.deleting) rec.schedule(PodTimer.retry, 0);
      else if (rec.deleting && !rec.terminal) rec.schedule(PodTimer.stop, this.host.env.timings.podStopMs);
      else if (!rec.terminal) this.scheduleNext(rec);
    }
  }

  /** Running (non-terminal) pods and what they request. */
  usage(): { pods: number; cpu: number; memory: number } {
    let pods = 0;
    let cpu = 0;
    let memory = 0;
    for (const p of this.byUid.values()) {
      if (p.terminal) continue;
      pods++;
      const r = podRequests(p.spec);
      cpu += r.cpu;
      memory += r.memory;
    }
    return { pods, cpu, memory };
  }

  /** A ConfigMap or Secret (`<ns>/configmap/<name>`, `<ns>/secret/<name>`) came to the node or left it: pods waiting for it go on. */
  objectChanged(change: ObjectChange, resource: string): void {
    if (change === 'deleted') this.have.delete(resource);
    else {
      this.have.add(resource);
      this.wakeWaiting();
    }
  }

  /**
   * A pod bound to this node was added, modified or deleted (`resource`:
   * `<ns>/pod/<name>`, which finds a deleted pod that comes without its
   * object). `pod` is what arrived, unchecked; `messageId` names the message
   * in the error when it holds no usable pod.
   */
  podChanged(change: ObjectChange, pod: PodObject | null, resource?: string, messageId?: string): void {
    const uid = pod?.metadata?.uid;
    if (change === 'deleted') {
      const rec = uid ? this.byUid.get(uid) : this.findByKey(resource);
      if (rec) this.forget(rec);
      return;
    }
    const problem = podShapeProblem(pod);
    if (!pod || !uid || !pod.metadata?.name || !pod.metadata.namespace || !pod.spec || problem) {
      this.host.env.events.error(
        this.host,
        'pod-message',
        new Error(`pod message ${messageId ?? resource ?? ''} has no usable pod${problem ? `: ${problem}` : ''}`),
      );
      return;
    }
    if (pod.spec.nodeName !== this.host.name) return;
    const existing = this.byUid.get(uid);
    if (existing && change === 'added') this.host.env.events.podTrace?.(uid, 'duplicate-insert');
    if (existing) {
      if (pod.metadata.deletionTimestamp && !existing.deleting) this.beginDeletion(existing, pod);
      else if (!existing.deleting && existing.lastSent && this.apiDisagrees(existing, pod)) {
        // As the kubelet's status manager reconciles: the API holds another
        // status (e.g. Ready=False set by the node lifecycle controller while
        // the node was unreachable): send ours again.
        existing.lastSent = '';
        this.sendStatus(existing);
      }
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    this.admit(pod);
  }

  /** The pushed pod's phase or Ready condition is not what this node last reported. */
  private apiDisagrees(rec: PodRecord, pod: PodObject): boolean {
    const ours = this.statusOf(rec) as PodObject['status'] & {};
    const ready = (c: { type?: string; status?: string }[] | undefined) => c?.find((x) => x.type === 'Ready')?.status;
    return pod.status?.phase !== ours.phase || ready(pod.status?.conditions) !== ready(ours.conditions);
  }

  private findByKey(resource: string | undefined): PodRecord | undefined {
    const [ns, , name] = (resource ?? '').split('/');
    for (const p of this.byUid.values()) if (p.namespace === ns && p.name === name) return p;
    return undefined;
  }

  private admit(pod: PodObject): void {
    const md = pod.metadata!;
    const spec = pod.spec!;
    const rec = new PodRecord(this, md.namespace!, md.name!, md.uid!, sharedSpec(spec), this.allocateIp());
    const now = this.host.env.scheduler.now();
    rec.startTime = rfc3339(new Date(now));
    this.byUid.set(rec.uid, rec);
    const refusal = (this.host.env.requireHostPort ? hostPortRefusal(spec) : undefined) ?? this.admissionRefusal(rec);
    if (refusal) {
      rec.step = 'rejected';
      rec.reason = refusal.reason;
      rec.message = refusal.message;
      this.rejected++;
      this.sendStatus(rec);
      return;
    }
    this.admitted++;
    this.host.env.events.podTrace?.(rec.uid, 'admitted');
    rec.lifecycle = this.host.env.stages.select(md as PodMeta).metadata.name;
    rec.deps = sharedDependencies(spec as PodSpecDeps);
    if (md.deletionTimestamp) {
      this.sendStatus(rec);
      return this.beginDeletion(rec, pod);
    }
    this.resolve(rec);
  }

  /**
   * Asks the cloud for what the pod needs and does not have; when nothing
   * required is missing, the containers start. While something is missing the
   * pod waits with the kubelet's reason, and looks again every retry period.
   */
  private resolve(rec: PodRecord): void {
    if (rec.step !== 'creating' || rec.deleting) return;
    let blocking: PodDependency | undefined;
    for (const d of rec.deps) {
      const resource = depResource(rec.namespace, d);
      if (d.kind === 'token') {
        if (rec.tokenReady) continue;
        if (!this.inflight.has(`${resource}#${rec.uid}`)) {
          this.inflight.add(`${resource}#${rec.uid}`);
          this.host.podRequest('query-token', resource, tokenRequest(rec, d), rec);
        }
        blocking ??= d;
        continue;
      }
      if (this.have.has(resource)) continue;
      if (!this.inflight.has(resource)) {
        this.inflight.add(resource);
        this.host.podRequest('query-object', resource, null, resource);
      }
      if (!d.optional) blocking ??= d;
    }
    const t = this.host.env.timings;
    if (blocking) {
      const w = blocking.kind === 'token' ? { reason: 'ContainerCreating' } : waitingFor(blocking);
      rec.waitingReason = w.reason;
      rec.message = w.message;
      this.sendStatus(rec);
      rec.schedule(PodTimer.retry, t.podRetryMs);
      return;
    }
    rec.waitingReason = undefined;
    rec.message = undefined;
    this.sendStatus(rec);
    if (!rec.startScheduled) {
      rec.startScheduled = true;
      this.scheduleNext(rec);
    }
  }

  /** Arms the pod's next lifecycle transition, if it has one. */
  private scheduleNext(rec: PodRecord): void {
    const f = this.host.env;
    const next = f.stages.next(f.stages.get(rec.lifecycle), rec.stageIndex, rec.restartCount, f.random);
    if (next) rec.schedule(PodTimer.advance, next.afterMs);
  }

  /** Applies the pod's next transition (the fake runtime acting). */
  private advance(rec: PodRecord, now: string): void {
    const f = this.host.env;
    const next = f.stages.next(f.stages.get(rec.lifecycle), rec.stageIndex, rec.restartCount, f.random);
    if (!next) return;
    rec.stageIndex = next.index;
    rec.exitCode = next.exitCode;
    rec.startedAt ??= now;
    switch (next.to) {
      case 'running':
      case 'not-ready':
        rec.step = next.to;
        break;
      case 'restart':
        rec.restartCount++;
        rec.startedAt = now;
        rec.step = 'running';
        break;
      case 'succeeded':
      case 'failed':
        rec.step = next.to;
        rec.finishedAt = now;
        break;
    }
    this.sendStatus(rec);
    if (!rec.terminal) this.scheduleNext(rec);
  }

  private wakeWaiting(): void {
    for (const rec of this.byUid.values()) if (rec.step === 'creating' && !rec.startScheduled) this.resolve(rec);
  }

  /**
   * The answer to a ConfigMap/Secret query (subject: its resource) or a token
   * request (subject: the pod); no result: no answer came (timed out, or not
   * sent while disconnected).
   */
  queryDone(kind: 'query-object' | 'query-token', subject: PodRecord | string, result: QueryResult | undefined): void {
    const err = result ? result.error : { reason: 'NoAnswer' };
    if (kind === 'query-token') {
      const rec = subject as PodRecord;
      this.inflight.delete(`${depResource(rec.namespace, rec.deps.find((d) => d.kind === 'token')!)}#${rec.uid}`);
      if (!err && this.byUid.get(rec.uid) === rec) {
        rec.tokenReady = true;
        this.resolve(rec);
      }
      return;
    }
    const resource = subject as string;
    this.inflight.delete(resource);
    if (!err && result) {
      this.host.env.store.putObject(this.host.name, resource, result.resourceVersion, result.content);
      this.have.add(resource);
      this.wakeWaiting();
    }
  }

  /** The kubelet's resource admission: pods, cpu and memory against allocatable. */
  private admissionRefusal(rec: PodRecord): { reason: string; message: string } | undefined {
    const used = this.usage();
    const req = podRequests(rec.spec);
    // `usage` already counts this pod: compare what was used before it.
    const before = { pods: used.pods - 1, cpu: used.cpu - req.cpu, memory: used.memory - req.memory };
    const alloc = this.host.env.allocatable;
    const capacity = { pods: Number(alloc.pods), cpu: parseQuantity(alloc.cpu), memory: parseQuantity(alloc.memory) };
    const fmt = (k: 'pods' | 'cpu' | 'memory', v: number) => String(k === 'cpu' ? Math.round(v * 1000) : Math.round(v));
    const check = (k: 'pods' | 'cpu' | 'memory', want: number) =>
      before[k] + want > capacity[k]
        ? {
            reason: `OutOf${k}`,
            message: `Pod was rejected: Node didn't have enough resource: ${k}, requested: ${fmt(k, want)}, used: ${fmt(k, before[k])}, capacity: ${fmt(k, capacity[k])}`,
          }
        : undefined;
    return check('pods', 1) ?? check('cpu', req.cpu) ?? check('memory', req.memory);
  }

  private allocateIp(): string {
    const n = this.nextIp++ % 253;
    return `${this.host.podCidrPrefix}.${n + 2}`;
  }

  onPodTimer(rec: PodRecord, kind: number): void {
    const now = rfc3339(new Date(this.host.env.scheduler.now()));
    if (kind === PodTimer.retry) {
      this.resolve(rec);
      return;
    }
    if (kind === PodTimer.advance && !rec.deleting) {
      this.advance(rec, now);
    } else if (kind === PodTimer.stop && rec.deleting && !rec.terminal) {
      rec.step = 'terminated';
      rec.finishedAt = now;
      rec.startedAt ??= now;
      this.sendStatus(rec);
    }
  }

  private beginDeletion(rec: PodRecord, pod: PodObject): void {
    rec.deleting = true;
    rec.cancel();
    if (rec.terminal) return this.deleteFromApi(rec);
    const grace = (pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    const t = this.host.env.timings;
    rec.schedule(PodTimer.stop, Math.min(grace, jittered(t.podStopMs, t.podStopJitter, this.host.env.random)));
  }

  private statusOf(rec: PodRecord) {
    return podStatus({
      spec: rec.spec,
      step: rec.step,
      hostIP: this.host.hostIP,
      podIP: rec.podIP,
      startTime: rec.startTime,
      startedAt: rec.startedAt,
      finishedAt: rec.finishedAt,
      restartCount: rec.restartCount,
      ...(rec.exitCode !== undefined ? { exitCode: rec.exitCode } : {}),
      uidHex: rec.uid.replace(/-/g, ''),
      reason: rec.reason,
      message: rec.message,
      ...(rec.waitingReason ? { waitingReason: rec.waitingReason } : {}),
    });
  }

  private sendStatus(rec: PodRecord): void {
    const status = this.statusOf(rec);
    const patch = JSON.stringify({ metadata: { uid: rec.uid }, status });
    const digest = createHash('md5').update(patch).digest('base64');
    if (digest === rec.lastSent) return; // only when something changed
    rec.lastSent = digest;
    this.host.env.store.putPodState(this.host.name, rec.uid, rec.persisted());
    this.host.podRequest('patch', `${rec.namespace}/podpatch/${rec.name}`, patch, rec);
    if (rec.step === 'running' && !rec.tracedRunning) {
      rec.tracedRunning = true;
      this.host.env.events.podTrace?.(rec.uid, 'running-sent');
    }
  }

  /**
   * A status patch got no answer in time (CloudCore drops messages when its
   * edgecontroller queue is full): send it again now, as the kubelet's status
   * manager resends a status the API has not confirmed. A patch that could not
   * go out (disconnected) waits for the resync after the reconnect.
   */
  patchTimedOut(rec: PodRecord): void {
    rec.lastSent = '';
    if (this.byUid.get(rec.uid) === rec) this.sendStatus(rec);
  }

  /** A status patch could not go out (the node is disconnected): it goes out with the resync after the reconnect. */
  patchNotSent(rec: PodRecord): void {
    rec.lastSent = '';
  }

  /** The answer to a status patch or to the final delete: done, or refused with `error`. */
  requestDone(rec: PodRecord, what: 'patch' | 'delete', error?: ApiError): void {
    const err = error;
    if (what === 'patch') {
      if (err?.code === 404) return this.forget(rec);
      if (err) {
        rec.lastSent = ''; // resend on the next change
        this.host.env.events.error(this.host, 'podpatch', new Error(err.message ?? 'patch failed'));
        return;
      }
      // The kubelet deletes once the API holds the terminal status.
      if (rec.deleting && rec.terminal) this.deleteFromApi(rec);
    }
  }

  private deleteFromApi(rec: PodRecord): void {
    this.host.podRequest('delete', `${rec.namespace}/pod/${rec.name}`, { gracePeriodSeconds: 0, preconditions: { uid: rec.uid } }, rec);
  }

  /** After a (re)connect: statuses not yet sent go out, and deletions finish. */
  resync(): void {
    for (const rec of this.byUid.values()) {
      if (rec.lastSent === '') this.sendStatus(rec);
      else if (rec.deleting && rec.terminal) this.deleteFromApi(rec);
    }
  }

  private forget(rec: PodRecord): void {
    rec.cancel();
    this.byUid.delete(rec.uid);
    this.host.env.store.deletePodState(this.host.name, rec.uid);
  }
}

/**
 * EdgeSite's admission rule (seed 004: its pods reach the network through the
 * host, so each container port needs a hostPort equal to it): the refusal, or
 * undefined when every port has one.
 */
export function hostPortRefusal(spec: {
  containers?: { name: string; ports?: { containerPort: number; hostPort?: number }[] }[];
}): { reason: string; message: string } | undefined {
  for (const c of spec.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.hostPort !== p.containerPort) {
        return {
          reason: 'HostPortRequired',
          message: `Pod was rejected: container ${c.name} port ${p.containerPort} has ${p.hostPort === undefined ? 'no hostPort' : `hostPort ${p.hostPort}`}; this node admits a port only with a hostPort equal to its containerPort (EdgeSite)`,
        };
      }
    }
  }
  return undefined;
}
