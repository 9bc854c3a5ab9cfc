/**
 * edged, hollow: what the embedded kubelet of edgecore does for the node
 * itself. Registers the Node (retrying with backoff; AlreadyExists means it is
 * ours from an earlier run), renews the node Lease in kube-node-lease, and
 * patches node status when it changes or when the report period has passed.
 * Its pods are the PodManager's (src/pods), fed by podwire.ts.
 */
import { Op, isObjectResponse, responseError, type BeehiveMessage } from '../../protocol/message.js';
import { jittered } from '../timings.js';
import { Timer } from '../host.js';
import { PodManager } from '../../pods/pods.js';
import type { NodeHost } from '../host.js';
import type { PodHost } from '../../pods/host.js';
import { failureToPods, pushToPods, replyToPods } from './podwire.js';
import type { StoredNode } from '../../store/store.js';
import { Req, type MetaManager, type ReqKind } from '../metamanager/metamanager.js';
import { conditionsDiffer, fullStatusPatch, heartbeatPatch, initialNode, microTime, newLease, type LeaseObject, type NodeIdentity } from './objects.js';

export type EdgedPhase = 'unregistered' | 'registering' | 'registered';

interface ApiObject {
  metadata?: { uid?: string; resourceVersion?: string };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** The object of a reply: the content itself, or its "Object" field. */
export function replyObject<T>(content: unknown): T | undefined {
  let c = content;
  if (typeof c === 'string' && c.startsWith('{')) {
    try {
      c = JSON.parse(c);
    } catch {
      return undefined;
    }
  }
  if (isObjectResponse(c)) return (c.Object ?? undefined) as T | undefined;
  if (typeof c === 'object' && c !== null && !('ErrStatus' in c)) return c as T;
  return undefined;
}

export class Edged {
  phase: EdgedPhase = 'unregistered';
  nodeUid: string | undefined;
  private lease: LeaseObject | undefined;
  /** When the lease was last renewed (cloud answered), ms. */
  leaseRenewedAt = 0;
  private lastStatusSentAt = 0;
  /** A lease query, create or update is waiting for its answer. */
  private leaseInFlight = false;
  /** The API may not show our conditions: the next status patch carries them in full. */
  private statusDirty = true;
  /** lastTransitionTime of our conditions (ms): when we last told the API they changed. */
  private conditionsSince = 0;
  private registerBackoff = 0;

  readonly pods: PodManager;

  constructor(
    private readonly host: NodeHost & PodHost,
    private readonly identity: NodeIdentity,
    private readonly meta: MetaManager,
  ) {
    this.pods = new PodManager(host);
  }

  /** State kept from an earlier run of this node: its registration and pods. */
  restore(stored: StoredNode): void {
    if (stored.uid) {
      this.phase = 'registered';
      this.nodeUid = stored.uid;
    }
    this.pods.restore(stored);
  }

  /** Ready as the node sees it: registered, with a lease renewed within its duration. */
  get ready(): boolean {
    const f = this.host.ctx;
    return this.phase === 'registered' && f.scheduler.now() - this.leaseRenewedAt < f.timings.leaseDurationSeconds * 1000;
  }

  onConnected(): void {
    if (this.phase === 'unregistered') this.register();
    else if (this.phase === 'registered') {
      // Renew at once: the lease may have lapsed while the link was down,
      // and the node lifecycle controller may have marked the node Unknown.
      this.statusDirty = true;
      this.renewLease();
      this.sendStatus();
      this.pods.resync();
    }
  }

  onTimer(kind: number): void {
    switch (kind) {
      case Timer.register:
        if (this.phase === 'unregistered') this.register();
        break;
      case Timer.lease:
        this.renewLease();
        break;
      case Timer.nodeStatus: {
        const f = this.host.ctx;
        if (f.scheduler.now() - this.lastStatusSentAt >= f.timings.nodeStatusReportMs) this.sendStatus();
        this.host.schedule(Timer.nodeStatus, f.timings.nodeStatusUpdateMs);
        break;
      }
    }
  }

  private register(): void {
    this.phase = 'registering';
    const node = initialNode(this.host.ctx.profile, this.identity, new Date(this.host.ctx.scheduler.now()));
    this.meta.request(Req.registerNode, Op.insert, `null/node/${this.host.name}`, node);
  }

  private retryRegister(): void {
    this.phase = 'unregistered';
    const t = this.host.ctx.timings;
    const delay = Math.min(t.registerRetryMaxMs, t.registerRetryInitialMs * 2 ** this.registerBackoff++);
    this.host.schedule(Timer.register, delay);
  }

  onReply(kind: ReqKind, m: BeehiveMessage, subject: unknown): void {
    if (replyToPods(this.pods, kind, m, subject)) return;
    const err = responseError(m.content);
    switch (kind) {
      case Req.registerNode:
        if (err?.reason === 'AlreadyExists' || err?.code === 409) {
          // Ours from an earlier run: read it back to learn its uid.
          this.meta.request(Req.queryNode, Op.query, `null/node/${this.host.name}`, null);
        } else if (err) {
          this.host.ctx.events.error(this.host, 'register', new Error(err.message ?? err.reason ?? 'error'));
          this.retryRegister();
        } else {
          this.registered(replyObject<ApiObject>(m.content));
        }
        break;
      case Req.queryNode: {
        const node = replyObject<ApiObject>(m.content);
        if (err || !node) {
          this.retryRegister();
        } else this.registered(node);
        break;
      }
      case Req.queryLease: {
        this.leaseInFlight = false;
        const lease = replyObject<LeaseObject>(m.content);
        if (lease && !err) {
          this.leaseAnswered(lease);
        } else if (!err || err.reason === 'NotFound' || err.code === 404) {
          this.createLease();
        } else {
          this.leaseFailed(err.message ?? 'query failed');
        }
        break;
      }
      case Req.createLease:
      case Req.updateLease: {
        this.leaseInFlight = false;
        const lease = replyObject<LeaseObject>(m.content);
        if (err?.reason === 'Conflict' || err?.code === 409) {
          // Someone else wrote it (an earlier run, or a clash): re-read.
          this.lease = undefined;
          this.leaseInFlight = true;
          this.meta.request(Req.queryLease, Op.query, `kube-node-lease/lease/${this.host.name}`, null);
        } else if (err || !lease) {
          this.leaseFailed(err?.message ?? 'empty reply');
        } else {
          this.leaseAnswered(lease);
        }
        break;
      }
      case Req.patchNodeStatus:
        if (err) this.host.ctx.events.error(this.host, 'nodestatus', new Error(err.message ?? 'patch failed'));
        else if (subject === true) this.statusDirty = false;
        break;
    }
  }

  onRequestFailed(kind: ReqKind, why: 'not-connected' | 'timeout', subject: unknown): void {
    if (failureToPods(this.pods, kind, why, subject)) return;
    if (kind === Req.registerNode || kind === Req.queryNode) {
      if (why === 'timeout') this.host.ctx.events.error(this.host, 'register-timeout', new Error('no answer to the node registration'));
      this.retryRegister();
    } else if (kind !== Req.patchNodeStatus) {
      this.leaseInFlight = false;
    }
  }

  /** A pushed Node (CloudCore's own updates) keeps our uid current. */
  onPush(m: BeehiveMessage): void {
    if (pushToPods(this.pods, m)) return;
    if (m.route.resource === `null/node/${this.host.name}` && m.route.operation !== Op.delete) {
      const node = replyObject<ApiObject>(m.content);
      if (node?.metadata?.uid) this.nodeUid = node.metadata.uid;
      // The API says something else about our conditions (e.g. Unknown after a
      // long absence): as the kubelet, patch them back at once.
      if (this.phase === 'registered' && node?.status && conditionsDiffer(node) && !this.statusDirty) {
        this.statusDirty = true;
        this.conditionsSince = this.host.ctx.scheduler.now();
        this.sendStatus();
      }
    }
  }

  private registered(node: ApiObject | undefined): void {
    this.phase = 'registered';
    this.registerBackoff = 0;
    this.nodeUid = node?.metadata?.uid;
    if (this.nodeUid) this.host.ctx.store.putNode(this.host.name, this.nodeUid, null);
    this.statusDirty = true;
    if (!this.conditionsSince || conditionsDiffer(node)) this.conditionsSince = this.host.ctx.scheduler.now();
    this.host.ctx.events.changed(this.host);
    this.renewLease();
    this.sendStatus();
    this.host.schedule(Timer.nodeStatus, this.host.ctx.timings.nodeStatusUpdateMs);
  }

  private createLease(): void {
    const f = this.host.ctx;
    this.leaseInFlight = true;
    const lease = newLease(this.host.name, f.timings.leaseDurationSeconds, new Date(f.scheduler.now()), this.nodeUid);
    this.meta.request(Req.createLease, Op.insert, `kube-node-lease/lease/${this.host.name}`, lease);
  }

  private renewLease(): void {
    const f = this.host.ctx;
    this.host.schedule(Timer.lease, jittered(f.timings.leaseRenewMs, f.timings.leaseJitter, f.random));
    // As the kubelet's lease controller, one renewal at a time: a slow answer
    // is waited for, not raced by a second update with the same resourceVersion.
    if (this.leaseInFlight) return;
    this.leaseInFlight = true;
    if (!this.lease) {
      this.meta.request(Req.queryLease, Op.query, `kube-node-lease/lease/${this.host.name}`, null);
      return;
    }
    const renewed: LeaseObject = {
      ...this.lease,
      spec: { ...this.lease.spec, renewTime: microTime(new Date(f.scheduler.now())) },
    };
    this.meta.request(Req.updateLease, Op.update, `kube-node-lease/lease/${this.host.name}`, renewed);
  }

  private leaseAnswered(lease: LeaseObject): void {
    const wasReady = this.ready;
    this.lease = lease;
    this.leaseRenewedAt = this.host.ctx.scheduler.now();
    if (!wasReady) this.host.ctx.events.changed(this.host);
    this.host.schedule(Timer.lease, jittered(this.host.ctx.timings.leaseRenewMs, this.host.ctx.timings.leaseJitter, this.host.ctx.random));
  }

  private leaseFailed(why: string): void {
    this.host.ctx.events.error(this.host, 'lease', new Error(why));
  }

  private sendStatus(): void {
    const now = this.host.ctx.scheduler.now();
    this.lastStatusSentAt = now;
    const full = this.statusDirty;
    const patch = full ? fullStatusPatch(new Date(now), new Date(this.conditionsSince || now)) : heartbeatPatch(new Date(now));
    // The subject says whether this patch set the conditions in full.
    this.meta.request(Req.patchNodeStatus, Op.patch, `null/nodepatch/${this.host.name}`, patch, full);
  }
}
