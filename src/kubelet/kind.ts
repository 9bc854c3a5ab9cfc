/**
 * The hollow kubelet as a node kind: what every kubelet node of one runner
 * process shares, built once. The apiserver's address and CA, the bootstrap
 * token (the first node's TLS bootstrap goes alone, so a refused token is
 * reported once, not by every node), the certificate store (a restarted
 * runner keeps its nodes' identities), one SQLite store, and the context of
 * each group (its shape and timings). Its events become the runner's
 * kind-neutral ones: traffic is counted by verb and resource.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSecureContext } from 'node:tls';
import { EdgemarkError } from '../core/errors.js';
import type { GivenCredential, GivenIdentity, HollowNode, KindContext, KindGroup, NodeKind, NodeKindDefinition, NodeSpec, PodMilestone } from '../kind/kind.js';
import type { PodEnv } from '../pods/host.js';
import { NodeStore } from '../store/store.js';
import { CertStore } from '../transport/bootstrap.js';
import { ApiConnection, statusOf } from './api.js';
import { bootstrapNode, checkBootstrapToken, type NodeIdentityPem } from './bootstrap.js';
import { nodeKubeconfigFile, readNodeKubeconfig } from './given.js';
import { HollowKubeletNode, kubeletStates, type KubeletContext, type KubeletEvents, type NodeCredential } from './node.js';
import { allocatable, kubeletIdentity, kubeletProfile } from './objects.js';
import { kubeletTimings } from './timings.js';

export const KUBELET_KIND = 'kubelet';

const fatalCodes = new Set(['EM_BOOTSTRAP_TOKEN_REJECTED', 'EM_BOOTSTRAP_TOKEN_MALFORMED', 'EM_BOOTSTRAP_FORBIDDEN', 'EM_CSR_DENIED', 'EM_NODE_KUBECONFIG']);

const NODE_USER = 'system:node:';
/** The fix for a shared node kubeconfig that kube-apiserver does not take. */
const REFUSED_FIX = "give a kubeconfig of this cluster's users, or leave --node-kubeconfig out to have each node bootstrap its own identity";

/** The user a client certificate authenticates as (its CN), when it is a node's: system:node:<name>. */
function certNodeName(certPem: string): string | undefined {
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(certPem).subject)?.[1];
  return cn?.startsWith(NODE_USER) ? cn.slice(NODE_USER.length) : undefined;
}

export function isFatalKubeletError(err: unknown): err is EdgemarkError {
  return err instanceof EdgemarkError && fatalCodes.has(err.code);
}

/** A node name the apiserver takes: a DNS-1123 subdomain. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function checkNodeName(name: string): void {
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] node name "${name}" is not a DNS-1123 subdomain: kube-apiserver would refuse it`,
      'use a prefix of lowercase letters, digits, "-" and "." that starts and ends with a letter or digit, such as hollow-kubelet-',
    );
  }
}

class KubeletKind implements NodeKind, KubeletEvents {
  readonly name = KUBELET_KIND;
  readonly states = kubeletStates;
  private readonly certs: CertStore;
  private readonly store: NodeStore;
  private readonly bootId = randomUUID();
  private readonly caPem: string;
  private readonly url: string;
  private readonly token: string | undefined;
  /** Identities given instead of bootstrap (`--node-kubeconfig`). */
  private readonly given: GivenIdentity | undefined;
  /** The shared given identity, built once; and the one node it may act as, when it is a node's. */
  private shared: { credential: NodeCredential; onlyNode: string | undefined } | undefined;
  private firstIdentity: Promise<NodeIdentityPem> | undefined;
  private readonly contexts = new Map<string, KubeletContext>();
  private readonly nodes: HollowKubeletNode[] = [];
  private certRequests = 0;
  private requests = 0;

  constructor(private readonly k: KindContext) {
    if (!k.target.apiserver || !k.target.apiserverCa) {
      throw new EdgemarkError(
        'EM_PLAN_INVALID',
        "[plan] kubelet nodes need kube-apiserver's address and CA (target.apiserver, target.apiserverCa)",
        'run against the local cluster, or give --kubeconfig of a cluster whose kubeconfig names its CA',
      );
    }
    this.url = k.target.apiserver;
    this.caPem = k.target.apiserverCa;
    this.token = k.credentials.bootstrapToken;
    this.given = k.credentials.nodeKubeconfig;
    if (this.token) checkBootstrapToken(this.token);
    this.certs = new CertStore(join(k.dataDir, 'kubelet-certs'));
    this.store = new NodeStore(join(k.dataDir, k.shard === undefined ? 'kubelet.db' : `kubelet-w${k.shard}.db`), k.scheduler);
  }

  async prepare(signal: AbortSignal): Promise<void> {
    const given = this.given;
    if (given && 'shared' in given) {
      const credential = this.credentialOf(given.shared);
      for (let attempt = 0; ; attempt++) {
        try {
          this.shared = { credential, onlyNode: await this.whoIs(credential, given.source) };
          return;
        } catch (err) {
          if (!(err instanceof EdgemarkError) || err.code !== 'EM_APISERVER_UNREACHABLE') throw err;
          this.k.events.warnOnce('unreachable', `${err.message}; retrying (Ctrl-C to stop)`);
          await sleep(Math.min(30_000, 1000 * 2 ** attempt), undefined, { signal }).catch(() => undefined);
          if (signal.aborted) throw new EdgemarkError('EM_INTERRUPTED', '[nodes] interrupted while waiting for kube-apiserver');
        }
      }
    }
    if (given) return;
    if (!this.token) {
      throw new EdgemarkError(
        'EM_PLAN_INVALID',
        '[kubelet] kubelet nodes need a bootstrap token to get their identities',
        'leave --bootstrap-token out against a cluster edgemark can make one in (its kubeconfig may create secrets in kube-system), or pass one',
      );
    }
  }

  createNode(spec: NodeSpec): HollowKubeletNode {
    checkNodeName(spec.name);
    const only = this.shared?.onlyNode;
    if (only !== undefined && only !== spec.name) {
      throw new EdgemarkError(
        'EM_NODE_KUBECONFIG',
        `[kubelet] the shared node kubeconfig authenticates as ${NODE_USER}${only}: the Node authorizer lets it act as node ${only} only, not as ${spec.name}`,
        `give a directory of <node>.kubeconfig (one identity per node), or a shared kubeconfig whose user is bound to ClusterRole system:node`,
      );
    }
    if (this.given && 'dir' in this.given) nodeKubeconfigFile(this.given.dir, spec.name);
    const node = new HollowKubeletNode(
      this.contextOf(spec.group),
      kubeletIdentity(spec.name, spec.index, this.bootId),
      this.store.load(spec.name),
      spec.sourceAddress,
    );
    this.nodes.push(node);
    return node;
  }

  extras(): Record<string, number> {
    let watches = 0;
    for (const n of this.nodes) watches += n.watchCount();
    return {
      certificateRequests: this.certRequests,
      apiRequests: this.requests,
      openWatches: watches,
      storeTransactions: this.store.transactions,
      storeWrites: this.store.writes,
    };
  }

  close(): void {
    this.store.close();
  }

  private contextOf(group: KindGroup): KubeletContext {
    let ctx = this.contexts.get(group.name);
    if (ctx) return ctx;
    const profile = kubeletProfile(group.name, group.profile);
    const timings = kubeletTimings(group.name, group.timings);
    const pods: PodEnv = {
      scheduler: this.k.scheduler,
      stages: this.k.stages,
      random: this.k.random,
      timings,
      store: this.store,
      events: this,
      allocatable: allocatable(profile),
      ...(profile.requireHostPort ? { requireHostPort: true } : {}),
    };
    ctx = {
      scheduler: this.k.scheduler,
      store: this.store,
      stages: this.k.stages,
      timings,
      profile,
      random: this.k.random,
      events: this,
      apiserver: this.apiserver(),
      identity: (name, localAddress) => this.identity(name, localAddress, timings.requestTimeoutMs, timings.csrWarnMs),
      isFatal: isFatalKubeletError,
      pods,
    };
    this.contexts.set(group.name, ctx);
    return ctx;
  }

  /** The apiserver's serving certificate names 127.0.0.1 as an IP SAN: no SNI for an IP. */
  private apiserver(): { url: string; servername?: string } {
    const host = new URL(this.url).hostname;
    return { url: this.url, ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) };
  }

  private credentialOf(c: GivenCredential): NodeCredential {
    return {
      secureContext: createSecureContext({ ca: this.caPem, ...(c.certPem ? { cert: c.certPem, key: c.keyPem } : {}), minVersion: 'TLSv1.2' }),
      ...(c.token ? { bearer: c.token } : {}),
    };
  }

  /**
   * Who the shared identity is, asked of kube-apiserver (a SelfSubjectReview):
   * a refused one is one clear error before any node starts; a node's
   * identity (system:node:<name>) may act as that one node only.
   */
  private async whoIs(credential: NodeCredential, source: string): Promise<string | undefined> {
    const conn = new ApiConnection({
      ...this.apiserver(),
      secureContext: credential.secureContext,
      ...(credential.bearer ? { bearer: credential.bearer } : {}),
      userAgent: 'kubelet hollow (identity check)',
      onRequest: (verb, resource) => this.request(verb, resource),
    });
    try {
      const r = await conn.request(
        'POST',
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
      );
      const s = statusOf(r);
      if (r.status === 0 && /certificate/i.test(s.message ?? '')) {
        // The apiserver ends the TLS handshake on a client certificate it cannot verify.
        throw new EdgemarkError(
          'EM_NODE_KUBECONFIG',
          `[kubelet] kube-apiserver refused the node kubeconfig ${source} in the TLS handshake (${s.message}): its certificate is not signed by the cluster's client CA, or has expired`,
          REFUSED_FIX,
        );
      }
      if (r.status === 0) {
        throw new EdgemarkError(
          'EM_APISERVER_UNREACHABLE',
          `[kubelet] kube-apiserver ${this.url} did not answer: ${s.message}`,
          'check the address and that kube-apiserver runs',
        );
      }
      if (r.status === 401) {
        throw new EdgemarkError(
          'EM_NODE_KUBECONFIG',
          `[kubelet] kube-apiserver refused the node kubeconfig ${source} (401 Unauthorized): its certificate is not signed by the cluster's client CA, has expired, or its token is unknown`,
          REFUSED_FIX,
        );
      }
      if (r.status === 403) {
        // Only an anonymous user may not review itself: the credentials were not taken.
        throw new EdgemarkError(
          'EM_NODE_KUBECONFIG',
          `[kubelet] kube-apiserver refused the node kubeconfig ${source} (403: it sees no user; its certificate is not signed by the cluster's client CA, or has expired)`,
          REFUSED_FIX,
        );
      }
      if (r.status !== 201 && r.status !== 200) {
        // An apiserver without the API (before 1.28): the nodes find out for themselves.
        this.k.log.warn(`cannot ask who the node kubeconfig ${source} is (${r.status} ${s.reason ?? ''}): nodes start without that check`);
        return undefined;
      }
      const user = (JSON.parse(r.body) as { status?: { userInfo?: { username?: string } } }).status?.userInfo?.username ?? '';
      if (user === 'system:anonymous' || user === '') {
        throw new EdgemarkError(
          'EM_NODE_KUBECONFIG',
          `[kubelet] kube-apiserver refused the node kubeconfig ${source}: it sees the request as system:anonymous (the certificate is not signed by the cluster's client CA, or has expired)`,
          REFUSED_FIX,
        );
      }
      this.k.log.info(`kubelet nodes authenticate as ${user} (node kubeconfig ${source})`);
      return user.startsWith(NODE_USER) ? user.slice(NODE_USER.length) : undefined;
    } finally {
      conn.close();
    }
  }

  private givenIdentity(name: string): NodeCredential | undefined {
    if (this.shared) return this.shared.credential;
    if (!this.given || !('dir' in this.given)) return undefined;
    const file = nodeKubeconfigFile(this.given.dir, name);
    const c = readNodeKubeconfig(file);
    const as = c.certPem ? certNodeName(c.certPem) : undefined;
    if (as !== undefined && as !== name) {
      throw new EdgemarkError(
        'EM_NODE_KUBECONFIG',
        `[kubelet] ${file} authenticates as ${NODE_USER}${as}, not as node ${name}: the Node authorizer would refuse it`,
        `issue ${name}'s kubeconfig with a client certificate of CN ${NODE_USER}${name} and O system:nodes`,
      );
    }
    return this.credentialOf(c);
  }

  private async identity(name: string, localAddress: string | undefined, timeoutMs: number, csrWarnMs: number): Promise<NodeCredential> {
    const given = this.givenIdentity(name);
    if (given) return given;
    let id = this.certs.load(name);
    if (!id) {
      this.certRequests++;
      const ask = () =>
        bootstrapNode({
          url: this.url,
          caPem: this.caPem,
          token: this.token!,
          name,
          ...(localAddress ? { localAddress } : {}),
          userAgent: 'kubelet-bootstrap hollow',
          timeoutMs,
          csrWarnMs,
          onPending: (csr) =>
            this.k.events.warnOnce(
              'csr-pending',
              `node ${name}'s certificate request ${csr} is still pending after ${Math.round(csrWarnMs / 1000)} s: is kube-controller-manager's csrapproving controller running, and may the token's group be auto-approved (ClusterRole system:certificates.k8s.io:certificatesigningrequests:nodeclient)? Approve by hand: kubectl certificate approve ${csr}`,
            ),
          onRequest: (verb, resource) => this.request(verb, resource),
        });
      this.k.events.dialing(1);
      try {
        // The first bootstrap goes alone; the rest wait for its verdict.
        if (!this.firstIdentity) {
          this.firstIdentity = ask();
          id = await this.firstIdentity;
        } else {
          await this.firstIdentity.catch(() => undefined);
          id = await ask();
        }
      } catch (err) {
        // An unreachable apiserver is not a verdict on the token: let the next node try again first.
        if (err instanceof EdgemarkError && err.code === 'EM_APISERVER_UNREACHABLE') this.firstIdentity = undefined;
        throw err;
      } finally {
        this.k.events.dialing(-1);
      }
      this.certs.save(name, id);
    }
    return { secureContext: createSecureContext({ ca: this.caPem, cert: id.certPem, key: id.keyPem, minVersion: 'TLSv1.2' }) };
  }

  // KubeletEvents, turned into the runner's events.
  request(verb: string, resource: string): void {
    this.requests++;
    this.k.events.traffic('out', `${verb} ${resource}`);
  }

  watchEvent(type: string, resource: string): void {
    this.k.events.traffic('in', `${type} ${resource}`);
  }

  firstConnect(node: HollowNode): void {
    this.k.events.firstConnect(node);
  }

  reconnected(node: HollowNode): void {
    this.k.events.reconnected(node);
  }

  podTrace(uid: string, event: PodMilestone): void {
    this.k.events.podMilestone(uid, event);
  }

  error(node: HollowNode, kind: Parameters<KubeletEvents['error']>[1], err: unknown): void {
    this.k.events.error(node, kind, err);
    if (isFatalKubeletError(err)) this.k.events.fatal(node, err);
  }

  changed(node: HollowNode): void {
    this.k.events.changed(node);
  }
}

export const kubeletKind: NodeKindDefinition = {
  name: KUBELET_KIND,
  validate(group) {
    kubeletProfile(group.name, group.profile);
    kubeletTimings(group.name, group.timings);
    checkNodeName(`${group.prefix}0`);
  },
  create: (ctx) => new KubeletKind(ctx),
};
