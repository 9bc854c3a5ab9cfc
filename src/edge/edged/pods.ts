/**
 * The pods of one hollow node: admission against allocatable (as the kubelet
 * admits), a fake runtime that moves each pod through its lifecycle on the
 * shared scheduler, status patches by the podpatch route (sent only on change),
 * and graceful deletion ending in the UID-preconditioned delete.
 */
import type { TimerTarget } from '../../core/scheduler.js';
import { Op, responseError, type BeehiveMessage } from '../../protocol/message.js';
import type { NodeHost } from '../host.js';
import { jittered } from '../timings.js';
import { podRequests, podStatus, parseQuantity, type PodSpecLite, type PodStep } from './podstatus.js';
import { rfc3339 } from './objects.js';
import type { StoredNode } from '../metamanager/store.js';

export interface PodObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  spec?: PodSpecLite & { nodeName?: string; terminationGracePeriodSeconds?: number };
  status?: { phase?: string };
}

/** What the pods module asks of its node (requests go out through metamanager). */
export interface PodHost extends NodeHost {
  readonly podCidrPrefix: string;
  readonly hostIP: string;
  podRequest(pod: PodRecord, operation: string, resource: string, content: unknown): void;
}

const enum PodTimer {
  start = 0,
  stop = 1,
}

export class PodRecord implements TimerTarget {
  step: PodStep = 'creating';
  startTime = '';
  startedAt: string | undefined;
  finishedAt: string | undefined;
  deleting = false;
  lastSent = '';
  private token = 0;
  reason: string | undefined;
  message: string | undefined;

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

  /** What survives a restart besides the Pod object itself. */
  persisted(): string {
    return JSON.stringify({
      step: this.step,
      startTime: this.startTime,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      deleting: this.deleting,
      podIP: this.podIP,
      reason: this.reason,
      message: this.message,
    });
  }

  get terminal(): boolean {
    return this.step === 'succeeded' || this.step === 'failed' || this.step === 'terminated' || this.step === 'rejected';
  }

  schedule(kind: PodTimer, ms: number): void {
    this.pods.host.fleet.scheduler.after(ms, this, kind, ++this.token);
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
  private nextIp = 0;
  admitted = 0;
  rejected = 0;

  constructor(readonly host: PodHost) {}

  /**
   * Pods kept from an earlier run: the Pod objects metamanager stored and the
   * runtime state of each. They go on where they were; nothing is recreated.
   */
  restore(stored: StoredNode): void {
    for (const o of stored.objects) {
      if (o.resource.split('/')[1] !== 'pod') continue;
      const pod = JSON.parse(o.content) as PodObject;
      const uid = pod.metadata?.uid;
      const saved = uid ? stored.podStates.get(uid) : undefined;
      if (!uid || !saved || !pod.spec || pod.spec.nodeName !== this.host.name) continue;
      const st = JSON.parse(saved) as ReturnType<typeof JSON.parse>;
      const rec = new PodRecord(this, pod.metadata!.namespace!, pod.metadata!.name!, uid, { containers: pod.spec.containers ?? [], initContainers: pod.spec.initContainers, restartPolicy: pod.spec.restartPolicy }, st.podIP);
      Object.assign(rec, { step: st.step, startTime: st.startTime, startedAt: st.startedAt, finishedAt: st.finishedAt, deleting: st.deleting, reason: st.reason, message: st.message });
      this.byUid.set(uid, rec);
      this.nextIp = Math.max(this.nextIp, Number(st.podIP.split('.')[3]) - 1);
      const t = this.host.fleet.timings;
      if (rec.step === 'creating' && !rec.deleting) rec.schedule(PodTimer.start, jittered(t.podStartMs, t.podStartJitter, this.host.fleet.random));
      else if (rec.deleting && !rec.terminal) rec.schedule(PodTimer.stop, t.podStopMs);
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

  /** A pod pushed by CloudCore (insert, update or delete). */
  onPush(m: BeehiveMessage): void {
    const pod = m.content as PodObject | null;
    const uid = pod?.metadata?.uid;
    if (m.route.operation === Op.delete) {
      const rec = uid ? this.byUid.get(uid) : this.findByKey(m.route.resource);
      if (rec) this.forget(rec);
      return;
    }
    if (!pod || !uid || !pod.metadata?.name || !pod.metadata.namespace || !pod.spec) {
      this.host.fleet.events.error(this.host, 'pod-message', new Error(`pod message ${m.header.msg_id} has no usable pod`));
      return;
    }
    if (pod.spec.nodeName !== this.host.name) return;
    const existing = this.byUid.get(uid);
    if (existing) {
      if (pod.metadata.deletionTimestamp && !existing.deleting) this.beginDeletion(existing, pod);
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    this.admit(pod);
  }

  private findByKey(resource: string | undefined): PodRecord | undefined {
    const [ns, , name] = (resource ?? '').split('/');
    for (const p of this.byUid.values()) if (p.namespace === ns && p.name === name) return p;
    return undefined;
  }

  private admit(pod: PodObject): void {
    const md = pod.metadata!;
    const spec = pod.spec!;
    const rec = new PodRecord(this, md.namespace!, md.name!, md.uid!, { containers: spec.containers ?? [], initContainers: spec.initContainers, restartPolicy: spec.restartPolicy }, this.allocateIp());
    const now = this.host.fleet.scheduler.now();
    rec.startTime = rfc3339(new Date(now));
    this.byUid.set(rec.uid, rec);
    const refusal = this.admissionRefusal(rec);
    if (refusal) {
      rec.step = 'rejected';
      rec.reason = refusal.reason;
      rec.message = refusal.message;
      this.rejected++;
      this.sendStatus(rec);
      return;
    }
    this.admitted++;
    this.sendStatus(rec);
    if (md.deletionTimestamp) return this.beginDeletion(rec, pod);
    const t = this.host.fleet.timings;
    rec.schedule(PodTimer.start, jittered(t.podStartMs, t.podStartJitter, this.host.fleet.random));
  }

  /** The kubelet's resource admission: pods, cpu and memory against allocatable. */
  private admissionRefusal(rec: PodRecord): { reason: string; message: string } | undefined {
    const p = this.host.fleet.profile;
    const used = this.usage();
    const req = podRequests(rec.spec);
    // `usage` already counts this pod: compare what was used before it.
    const before = { pods: used.pods - 1, cpu: used.cpu - req.cpu, memory: used.memory - req.memory };
    const capacity = { pods: Number(p.pods), cpu: parseQuantity(p.cpu), memory: parseQuantity(p.memory) };
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
    const now = rfc3339(new Date(this.host.fleet.scheduler.now()));
    if (kind === PodTimer.start && rec.step === 'creating' && !rec.deleting) {
      rec.step = 'running';
      rec.startedAt = now;
      this.sendStatus(rec);
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
    const t = this.host.fleet.timings;
    rec.schedule(PodTimer.stop, Math.min(grace, jittered(t.podStopMs, t.podStartJitter, this.host.fleet.random)));
  }

  private sendStatus(rec: PodRecord): void {
    const status = podStatus({
      spec: rec.spec,
      step: rec.step,
      hostIP: this.host.hostIP,
      podIP: rec.podIP,
      startTime: rec.startTime,
      startedAt: rec.startedAt,
      finishedAt: rec.finishedAt,
      restartCount: 0,
      uidHex: rec.uid.replace(/-/g, ''),
      reason: rec.reason,
      message: rec.message,
    });
    const patch = JSON.stringify({ metadata: { uid: rec.uid }, status });
    if (patch === rec.lastSent) return; // only when something changed
    rec.lastSent = patch;
    this.host.fleet.store.putPodState(this.host.name, rec.uid, rec.persisted());
    this.host.podRequest(rec, Op.patch, `${rec.namespace}/podpatch/${rec.name}`, patch);
  }

  /** The answer to a status patch or to the final delete. */
  onReply(rec: PodRecord, m: BeehiveMessage): void {
    const err = responseError(m.content);
    if (m.route.resource?.includes('/podpatch/')) {
      if (err?.code === 404) return this.forget(rec);
      if (err) {
        rec.lastSent = ''; // resend on the next change
        this.host.fleet.events.error(this.host, 'podpatch', new Error(err.message ?? 'patch failed'));
        return;
      }
      // The kubelet deletes once the API holds the terminal status.
      if (rec.deleting && rec.terminal) this.deleteFromApi(rec);
    }
  }

  private deleteFromApi(rec: PodRecord): void {
    this.host.podRequest(rec, Op.delete, `${rec.namespace}/pod/${rec.name}`, { gracePeriodSeconds: 0, preconditions: { uid: rec.uid } });
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
    this.host.fleet.store.deletePodState(this.host.name, rec.uid);
  }
}
