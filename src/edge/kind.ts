/**
 * The KubeEdge edge node as a node kind: what every edge node of one runner
 * process shares, built once. CloudCore's CA (fetched and checked against the
 * join token before the first node), the per-node certificate bootstrap (the
 * first node goes alone, so a refused token is reported once, not by every
 * node), a TLS context cache, one SQLite store, and the context of each group
 * (its profile and timings). Edge events become the runner's kind-neutral ones.
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { EdgemarkError } from '../core/errors.js';
import type { BeehiveMessage } from '../protocol/message.js';
import { CertStore, fetchCloudCa, requestEdgeCertificate, type CloudCa, type EdgeIdentity } from '../transport/bootstrap.js';
import { parseToken, type JoinToken } from '../transport/token.js';
import { EdgeSocket } from '../transport/websocket.js';
import { ImpairedLink, newLinkStats } from '../link/model.js';
import type { LinkFactory } from './edgehub/link.js';
import { defaultNodeProfile, type NodeIdentity, type NodeProfile } from './edged/objects.js';
import type { HollowNode, KindContext, KindGroup, NodeKind, NodeKindDefinition, NodeSpec } from '../kind/kind.js';
import { edgePodEnv } from './edged/podwire.js';
import type { EdgeContext, EdgeEvents, NodeHost } from './host.js';
import { NodeStore } from '../store/store.js';
import { edgeStates, HollowEdgeNode } from './node.js';
import { defaultTimings, reconnectDelay, type EdgeTimings } from './timings.js';

export const EDGE_KIND = 'edge';

/** Errors after which no edge node of the runner can join: the token or the CA is wrong. */
const fatalCodes = new Set(['EM_TOKEN_REJECTED', 'EM_TOKEN_EXPIRED', 'EM_TOKEN_MALFORMED', 'EM_CA_HASH_MISMATCH']);

/** The edge context's isFatal: a bootstrap error with one of the fatal codes stops the node. */
export function isFatalEdgeError(err: unknown): err is EdgemarkError {
  return err instanceof EdgemarkError && fatalCodes.has(err.code);
}

const quantity = z.string().regex(/^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/, 'a Kubernetes quantity such as 2, 500m or 4Gi');
const taint = z.object({ key: z.string().min(1), value: z.string().optional(), effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) }).strict();

/** An edge group's profile: every field optional, the defaults are edgecore's. */
export const edgeProfileSchema = z
  .object({
    cpu: quantity,
    memory: quantity,
    pods: z.string().regex(/^\d+$/, 'a whole number'),
    ephemeralStorage: quantity,
    labels: z.record(z.string(), z.string()),
    taints: z.array(taint),
    kubeletVersion: z.string(),
    containerRuntimeVersion: z.string(),
    osImage: z.string(),
    kernelVersion: z.string(),
    architecture: z.string(),
    operatingSystem: z.string(),
    kubeletPort: z.number().int().min(1).max(65535),
  })
  .partial()
  .strict();

export function edgeProfile(group: KindGroup): NodeProfile {
  const p = edgeProfileSchema.safeParse(group.profile);
  if (!p.success) {
    const issue = p.error.issues[0]!;
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] group ${group.name}: profile.${issue.path.join('.') || '(root)'}: ${issue.message}`,
      `edge profile keys are ${Object.keys(defaultNodeProfile).join(', ')}`,
    );
  }
  return { ...defaultNodeProfile, ...p.data };
}

export function edgeTimings(group: KindGroup): EdgeTimings {
  const unknown = Object.keys(group.timings).filter((k) => !(k in defaultTimings));
  if (unknown.length) {
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] group ${group.name}: unknown edge timing ${unknown.join(', ')}`,
      `edge timings are ${Object.keys(defaultTimings).join(', ')}`,
    );
  }
  for (const [k, v] of Object.entries(group.timings)) {
    if (!Number.isFinite(v) || v < 0) throw new EdgemarkError('EM_PLAN_INVALID', `[plan] group ${group.name}: timing ${k} must be a number >= 0, not ${v}`);
  }
  return { ...defaultTimings, ...group.timings };
}

/** A node's fake addresses and machine id, derived from its global index. */
export function edgeIdentity(name: string, index: number, bootId: string): NodeIdentity {
  return {
    name,
    // A fake InternalIP per node; never dialled.
    ip: `10.${128 + ((index >> 16) & 63)}.${(index >> 8) & 255}.${index & 255}`,
    machineId: createHash('md5').update(`edgemark/${name}`).digest('hex'),
    bootId,
    // A fake /24 pod CIDR per node.
    podCidrPrefix: `10.${(index >> 8) & 255}.${index & 255}`,
  };
}

/** `<operation> <resource type>` of a beehive message: the traffic key. */
export function routeKey(m: BeehiveMessage): string {
  const type = m.route.resource?.split('/')[1] ?? m.route.resource ?? '';
  return `${m.route.operation ?? ''} ${type}`;
}

/**
 * The context every edge node of one group shares, built once per group: the
 * fatal-error rule and the pods' environment come with it. The edge kind and
 * the fast tier's harness both build contexts here, so a test exercises the
 * kind's own rules.
 */
export function edgeContext(o: Omit<EdgeContext, 'pods' | 'isFatal'>): EdgeContext {
  const base: Omit<EdgeContext, 'pods'> = { ...o, isFatal: isFatalEdgeError };
  return { ...base, pods: edgePodEnv(base) };
}

class EdgeKind implements NodeKind, EdgeEvents {
  readonly name = EDGE_KIND;
  readonly states = edgeStates;
  private readonly token: JoinToken;
  private readonly certs: CertStore;
  private readonly store: NodeStore;
  private readonly bootId = randomUUID();
  private ca: CloudCa | undefined;
  private firstIdentity: Promise<EdgeIdentity> | undefined;
  private readonly tlsContexts = new Map<string, SecureContext>();
  /** One context per group and CloudCore address: shared by its nodes. */
  private readonly contexts = new Map<string, EdgeContext>();
  private readonly recorded = new Map<string, number>();
  private certRequests = 0;
  /** What the link model did to this runner's nodes (faults at the transport seam). */
  private readonly linkStats = newLinkStats();
  /** Every node's link: the websocket under the link model (a pass-through until a fault lays a condition on). */
  private readonly link: LinkFactory;

  constructor(private readonly k: KindContext) {
    this.link = (sink) => new ImpairedLink(sink, (s) => new EdgeSocket(s), k.scheduler, k.random, this.linkStats);
    if (k.target.cloudcore.length === 0) {
      throw new EdgemarkError(
        'EM_PLAN_INVALID',
        '[plan] edge nodes need a CloudCore address (target.cloudcore)',
        'pass --cloudcore <host:port>, or run against the local cluster',
      );
    }
    this.token = parseToken(k.credentials.token);
    this.certs = new CertStore(join(k.dataDir, 'certs'));
    this.store = new NodeStore(join(k.dataDir, k.shard === undefined ? 'edge.db' : `edge-w${k.shard}.db`), k.scheduler);
  }

  /** Fetches and checks CloudCore's CA, retrying quietly while it is unreachable. */
  async prepare(signal: AbortSignal): Promise<void> {
    const all = this.k.target.cloudcore;
    for (let attempt = 0; ; attempt++) {
      // Several CloudCores share one CA: any that answers will do.
      const https = all[attempt % all.length]!.https;
      try {
        this.ca = await fetchCloudCa(https, this.token);
        this.certs.saveCa(this.ca);
        return;
      } catch (err) {
        if (!(err instanceof EdgemarkError) || err.code !== 'EM_CLOUDCORE_UNREACHABLE') throw err;
        this.k.events.warnOnce('unreachable', `${err.message}; retrying with backoff (Ctrl-C to stop)`);
        await sleep(reconnectDelay(defaultTimings, attempt, this.k.random), undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw new EdgemarkError('EM_INTERRUPTED', '[nodes] interrupted while waiting for CloudCore');
      }
    }
  }

  createNode(spec: NodeSpec): HollowEdgeNode {
    const addr = this.k.target.cloudcore[spec.index % this.k.target.cloudcore.length]!;
    const ctx = this.contextOf(spec.group, addr);
    return new HollowEdgeNode(
      ctx,
      edgeIdentity(spec.name, spec.index, this.bootId),
      () => this.secureContext(spec.name, addr.https),
      this.store.load(spec.name),
      spec.sourceAddress,
    );
  }

  extras(): Record<string, number> {
    return {
      certificateRequests: this.certRequests,
      storeTransactions: this.store.transactions,
      storeWrites: this.store.writes,
      linkFramesDropped: this.linkStats.framesDropped,
      linkFramesDelayed: this.linkStats.framesDelayed,
      linkDialsFailed: this.linkStats.dialsFailed,
    };
  }

  close(): void {
    this.store.close();
  }

  private contextOf(group: KindGroup, addr: { websocket: string; https: string }): EdgeContext {
    const key = `${group.name} ${addr.websocket}`;
    let ctx = this.contexts.get(key);
    if (!ctx) {
      const all = this.k.target.cloudcore;
      const at = all.indexOf(addr);
      // The others, starting after this one: each node's fallbacks go round the list from its own.
      const fallbacks = [...all.slice(at + 1), ...all.slice(0, at)].map((a) => dialTo(a));
      ctx = edgeContext({
        scheduler: this.k.scheduler,
        store: this.store,
        stages: this.k.stages,
        timings: edgeTimings(group),
        profile: edgeProfile(group),
        dial: { ...dialTo(addr), ...(fallbacks.length ? { fallbacks } : {}) },
        random: this.k.random,
        events: this,
        link: this.link,
      });
      this.contexts.set(key, ctx);
    }
    return ctx;
  }

  private async secureContext(name: string, https: string): Promise<SecureContext> {
    const cached = this.tlsContexts.get(name);
    if (cached) return cached;
    if (!this.ca) throw new EdgemarkError('EM_INTERNAL', '[nodes] CloudCore CA not fetched yet');
    let id = this.certs.load(name);
    if (!id) {
      this.certRequests++;
      // The first bootstrap goes alone; the rest wait for its verdict.
      if (!this.firstIdentity) {
        this.firstIdentity = this.requestCertificate(https, name);
        id = await this.firstIdentity;
      } else {
        await this.firstIdentity;
        id = await this.requestCertificate(https, name);
      }
      this.certs.save(name, id);
    }
    const ctx = createSecureContext({ ca: this.ca.pem, cert: id.certPem, key: id.keyPem, minVersion: 'TLSv1.2' });
    this.tlsContexts.set(name, ctx);
    return ctx;
  }

  /** The node's own CloudCore first; when it is unreachable, the others in turn (they share the CA). */
  private async requestCertificate(https: string, name: string): Promise<EdgeIdentity> {
    const all = this.k.target.cloudcore.map((c) => c.https);
    const order = [https, ...all.filter((h) => h !== https)];
    for (const [i, h] of order.entries()) {
      try {
        return await requestEdgeCertificate(h, this.ca!, this.token, name);
      } catch (err) {
        const unreachable = err instanceof EdgemarkError && err.code === 'EM_CLOUDCORE_UNREACHABLE';
        if (!unreachable || i === order.length - 1) throw err;
      }
    }
    throw new EdgemarkError('EM_INTERNAL', '[nodes] no CloudCore to ask for a certificate');
  }

  // EdgeEvents, turned into the runner's events.
  frameIn(text: string): void {
    const file = this.k.recordFrames;
    if (!file) return;
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
    appendFileSync(file, `${text.trimEnd()}\n`);
  }

  messageIn(m: BeehiveMessage, bytes: number): void {
    this.k.events.traffic('in', routeKey(m), bytes);
  }

  messageOut(m: BeehiveMessage, bytes: number): void {
    this.k.events.traffic('out', routeKey(m), bytes);
  }

  reconnected(node: NodeHost): void {
    this.k.events.reconnected(node);
  }

  firstConnect(node: NodeHost): void {
    this.k.events.firstConnect(node);
  }

  podTrace(uid: string, event: 'admitted' | 'running-sent' | 'duplicate-insert'): void {
    this.k.events.podMilestone(uid, event);
  }

  dialing(delta: 1 | -1): void {
    this.k.events.dialing(delta);
  }

  acked(ms: number): void {
    this.k.events.acked(ms);
  }

  error(node: HollowNode, kind: Parameters<EdgeEvents['error']>[1], err: unknown): void {
    if (isFatalEdgeError(err)) {
      this.k.events.error(node, kind, err);
      this.k.events.fatal(node, err);
      return;
    }
    if (kind === 'register-timeout') {
      this.k.events.warnOnce(
        kind,
        `node ${node.name} is connected but CloudCore never answered its registration: its node limit (cloudHub.nodeLimit) is probably reached`,
      );
    }
    this.k.events.error(node, kind, err);
  }

  changed(node: NodeHost): void {
    this.k.events.changed(node);
  }
}

export const edgeKind: NodeKindDefinition = {
  name: EDGE_KIND,
  validate(group) {
    edgeProfile(group);
    edgeTimings(group);
  },
  create: (ctx) => new EdgeKind(ctx),
};

/** Where a node dials one CloudCore: SNI must not carry an IP (the certificate is then checked against the IP itself). */
function dialTo(addr: { websocket: string; https: string }): { server: string; servername?: string } {
  const host = new URL(addr.https).hostname;
  return { server: addr.websocket, ...(isIP(host) ? {} : { servername: host }) };
}
