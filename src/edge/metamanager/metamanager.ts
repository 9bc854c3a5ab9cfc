/**
 * metamanager: keeps the node's copy of the objects the cloud pushed (and the
 * answers to its requests), ACKs what must be ACKed, and correlates replies
 * with requests by parent_msg_id. Requests that get no answer within
 * remoteQueryTimeout fail, as edgecore's do.
 */
import { ack, edgedRequest, Op, parseResource, type BeehiveMessage } from '../../protocol/message.js';
import type { NodeHost } from '../host.js';

/** What a request was for; the reply goes back to that handler in edged. */
export const Req = {
  registerNode: 0,
  queryNode: 1,
  queryLease: 2,
  createLease: 3,
  updateLease: 4,
  patchNodeStatus: 5,
  patchPodStatus: 6,
  deletePod: 7,
  queryObject: 8,
  queryToken: 9,
} as const;
export type ReqKind = (typeof Req)[keyof typeof Req];

/** Replies metamanager ACKs after storing them (edgecore's processRemote does). */
const ackedReplies = new Set<ReqKind>([Req.registerNode, Req.queryLease, Req.createLease, Req.updateLease, Req.queryObject, Req.queryToken]);

export interface MetaManagerDeps {
  host: NodeHost;
  send(m: BeehiveMessage): boolean;
  onReply(kind: ReqKind, reply: BeehiveMessage, subject: unknown): void;
  onRequestFailed(kind: ReqKind, why: 'not-connected' | 'timeout', subject: unknown): void;
  /** A pushed object was stored (edged reacts to node and pod changes). */
  onPush(m: BeehiveMessage): void;
}

interface Pending {
  kind: ReqKind;
  sentAt: number;
  /** What the request is about (a pod), handed back with the reply. */
  subject: unknown;
}

export class MetaManager {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly d: MetaManagerDeps) {}

  /** Sends an edged request; the reply (or failure) comes back by kind. */
  request(kind: ReqKind, operation: string, resource: string, content: unknown, subject?: unknown): void {
    const m = edgedRequest(operation, resource, content, this.d.host.ctx.scheduler.now());
    if (!this.d.send(m)) {
      this.d.onRequestFailed(kind, 'not-connected', subject);
      return;
    }
    this.pending.set(m.header.msg_id, { kind, sentAt: m.header.timestamp, subject });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Everything that arrives from the cloud. */
  receive(m: BeehiveMessage): void {
    const parent = m.header.parent_msg_id;
    if (parent) {
      const p = this.pending.get(parent);
      if (!p) return; // nobody waits for it any more (timed out, or a duplicate)
      this.pending.delete(parent);
      if (ackedReplies.has(p.kind)) this.d.send(ack(m, this.d.host.ctx.scheduler.now()));
      this.d.onReply(p.kind, m, p.subject);
      return;
    }
    if (m.route.group !== 'resource') return; // twin, user, ...: modules a hollow node leaves out
    this.storePush(m);
  }

  private storePush(m: BeehiveMessage): void {
    const resource = m.route.resource ?? '';
    const ref = parseResource(resource);
    if (!ref) {
      this.d.host.ctx.events.error(this.d.host, 'push', new Error(`push ${m.header.msg_id} has resource "${resource}"`));
      this.d.send(ack(m, this.d.host.ctx.scheduler.now()));
      return;
    }
    const store = this.d.host.ctx.store;
    if (m.route.operation === Op.delete) store.deleteObject(this.d.host.name, resource);
    else store.putObject(this.d.host.name, resource, m.header.resourceversion ?? '', m.content);
    // Stored, then ACKed (after the batch commits). Every push that reaches
    // metamanager is ACKed; CloudHub ignores ACKs of no-ACK messages and
    // resends ACK-mode ones until it sees one.
    const arrived = this.d.host.ctx.scheduler.now();
    store.afterCommit(() => {
      const f = this.d.host.ctx;
      const now = f.scheduler.now();
      if (this.d.send(ack(m, now))) f.events.acked?.(now - arrived);
    });
    this.d.onPush(m);
  }

  /** Fails requests older than the remote query timeout. */
  sweep(now: number): void {
    const limit = this.d.host.ctx.timings.requestTimeoutMs;
    for (const [id, p] of this.pending) {
      if (now - p.sentAt < limit) continue;
      this.pending.delete(id);
      this.d.onRequestFailed(p.kind, 'timeout', p.subject);
    }
  }

  /** On disconnect every outstanding request fails, as in edgecore. */
  failAll(): void {
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const p of failed) this.d.onRequestFailed(p.kind, 'not-connected', p.subject);
  }
}
