/**
 * The hollow kubelet as a node kind: what every kubelet node of one runner
 * process shares, built once. The apiserver's address and CA, the bootstrap
 * token (the first node's TLS bootstrap goes alone, so a refused token is
 * reported once, not by every node), the certificate store (a restarted
 * runner keeps its nodes' identities), one SQLite store, and the context of
 * each group (its shape and timings). Its events become the runner's
 * kind-neutral ones: traffic is counted by verb and resource.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { EdgemarkError } from '../core/errors.js';
import type { HollowNode, KindContext, KindGroup, NodeKind, NodeKindDefinition, NodeSpec, PodMilestone } from '../kind/kind.js';
import type { PodEnv } from '../pods/host.js';
import { NodeStore } from '../store/store.js';
import { CertStore } from '../transport/bootstrap.js';
import { bootstrapNode, checkBootstrapToken, type NodeIdentityPem } from './bootstrap.js';
import { HollowKubeletNode, kubeletStates, type KubeletContext, type KubeletEvents } from './node.js';
import { allocatable, kubeletIdentity, kubeletProfile } from './objects.js';
import { kubeletTimings } from './timings.js';

export const KUBELET_KIND = 'kubelet';

const fatalCodes = new Set(['EM_BOOTSTRAP_TOKEN_REJECTED', 'EM_BOOTSTRAP_TOKEN_MALFORMED', 'EM_BOOTSTRAP_FORBIDDEN', 'EM_CSR_DENIED']);

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
    if (this.token) checkBootstrapToken(this.token);
    this.certs = new CertStore(join(k.dataDir, 'kubelet-certs'));
    this.store = new NodeStore(join(k.dataDir, k.shard === undefined ? 'kubelet.db' : `kubelet-w${k.shard}.db`), k.scheduler);
  }

  async prepare(): Promise<void> {
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
    const host = new URL(this.url).hostname;
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
      // The apiserver's serving certificate names 127.0.0.1 as an IP SAN: no SNI for an IP.
      apiserver: { url: this.url, ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) },
      identity: (name, localAddress) => this.identity(name, localAddress, timings.requestTimeoutMs, timings.csrWarnMs),
      isFatal: isFatalKubeletError,
      pods,
    };
    this.contexts.set(group.name, ctx);
    return ctx;
  }

  private async identity(name: string, localAddress: string | undefined, timeoutMs: number, csrWarnMs: number): Promise<SecureContext> {
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
    return createSecureContext({ ca: this.caPem, cert: id.certPem, key: id.keyPem, minVersion: 'TLSv1.2' });
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
