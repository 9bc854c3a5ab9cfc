/**
 * An in-memory KubeOps for unit tests: just enough of a control plane for the
 * phases. A Deployment's pods appear on the next read and become Running
 * (and available) after a start delay; a deleted pod goes after a delete
 * delay; scaling adds or removes pods; deleting a namespace or a Deployment
 * takes its pods with it. Everything is a function of the injected clock, so
 * it is deterministic. Hooks make pods slow, or lost (never Running).
 */
import type { DeploymentState, KubeOps, PodState } from './context.js';

export interface FakeKubeHooks {
  /** ms from a pod's creation until it is Running; undefined: never (a lost pod). Default 0. */
  startDelayMs?: (pod: { namespace: string; name: string; app: string }) => number | undefined;
  /** ms from a pod's deletion until it is gone. Default 0. */
  deleteDelayMs?: number;
  /** ms from a namespace's creation until its default ServiceAccount exists. Default 0. */
  serviceAccountDelayMs?: number;
}

export interface FakePod {
  namespace: string;
  name: string;
  app: string;
  /** The Deployment it belongs to, if any. */
  owner: string | undefined;
  createdAt: number;
  runningAt: number | undefined;
  goneAt: number | undefined;
}

interface FakeDeployment {
  namespace: string;
  name: string;
  replicas: number;
}

/** One call of a KubeOps method: what, on what, when (by the fake's clock). */
export interface FakeCall {
  op: keyof KubeOps;
  target: string;
  at: number;
  /** The replicas of a scaleDeployment. */
  replicas?: number;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class FakeKube implements KubeOps {
  readonly calls: FakeCall[] = [];
  readonly namespaces = new Map<string, { createdAt: number }>();
  readonly deployments = new Map<string, FakeDeployment>();
  readonly pods = new Map<string, FakePod>();
  readonly nodes = new Set<string>();
  readonly leases = new Set<string>();
  private seq = 0;

  constructor(
    private readonly clock: { now(): number },
    public hooks: FakeKubeHooks = {},
  ) {}

  /** A Node of the run and its Lease, as a hollow node's registration would make them. */
  registerNode(name: string): void {
    this.nodes.add(name);
    this.leases.add(name);
  }

  callsOf(op: keyof KubeOps): FakeCall[] {
    return this.calls.filter((c) => c.op === op);
  }

  async createNamespace(name: string): Promise<void> {
    this.record('createNamespace', name);
    if (this.namespaces.has(name)) throw conflict(`namespace ${name}`);
    this.namespaces.set(name, { createdAt: this.clock.now() });
  }

  async deleteNamespace(name: string): Promise<void> {
    this.record('deleteNamespace', name);
    this.namespaces.delete(name);
    for (const [k, d] of this.deployments) if (d.namespace === name) this.deployments.delete(k);
    for (const p of this.pods.values()) if (p.namespace === name) this.terminate(p);
  }

  async hasDefaultServiceAccount(namespace: string): Promise<boolean> {
    this.record('hasDefaultServiceAccount', namespace);
    const ns = this.namespaces.get(namespace);
    return ns !== undefined && this.clock.now() - ns.createdAt >= (this.hooks.serviceAccountDelayMs ?? 0);
  }

  async createDeployment(namespace: string, name: string, replicas: number): Promise<void> {
    this.record('createDeployment', key(namespace, name));
    this.needNamespace(namespace);
    if (this.deployments.has(key(namespace, name))) throw conflict(`deployment ${key(namespace, name)}`);
    this.deployments.set(key(namespace, name), { namespace, name, replicas });
  }

  async listDeployments(): Promise<DeploymentState[]> {
    this.record('listDeployments', '');
    this.reconcile();
    return [...this.deployments.values()].map((d) => {
      const owned = this.podsOf(d);
      return {
        namespace: d.namespace,
        name: d.name,
        replicas: d.replicas,
        current: owned.length,
        available: owned.filter((p) => p.runningAt !== undefined).length,
      };
    });
  }

  async scaleDeployment(namespace: string, name: string, replicas: number): Promise<void> {
    this.record('scaleDeployment', key(namespace, name), replicas);
    const d = this.deployments.get(key(namespace, name));
    if (!d) throw notFound(`deployment ${key(namespace, name)}`);
    d.replicas = replicas;
  }

  async deleteDeployment(namespace: string, name: string): Promise<void> {
    this.record('deleteDeployment', key(namespace, name));
    const d = this.deployments.get(key(namespace, name));
    if (!d) return;
    for (const p of this.podsOf(d)) this.terminate(p);
    this.deployments.delete(key(namespace, name));
  }

  async createPod(namespace: string, name: string, app: string): Promise<void> {
    this.record('createPod', key(namespace, name));
    this.needNamespace(namespace);
    if (this.pods.has(key(namespace, name))) throw conflict(`pod ${key(namespace, name)}`);
    this.addPod(namespace, name, app, undefined);
  }

  async listPods(): Promise<PodState[]> {
    this.record('listPods', '');
    this.reconcile();
    return [...this.pods.values()].map((p) => ({ namespace: p.namespace, name: p.name, phase: p.runningAt !== undefined ? 'Running' : 'Pending' }));
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    this.record('deletePod', key(namespace, name));
    const p = this.pods.get(key(namespace, name));
    if (p) this.terminate(p);
  }

  async listNodes(): Promise<string[]> {
    this.record('listNodes', '');
    return [...this.nodes];
  }

  async deleteNode(name: string): Promise<void> {
    this.record('deleteNode', name);
    this.nodes.delete(name);
  }

  async deleteNodeLease(name: string): Promise<void> {
    this.record('deleteNodeLease', name);
    this.leases.delete(name);
  }

  /** What a controller manager and the nodes would have done by now. */
  private reconcile(): void {
    const now = this.clock.now();
    for (const [k, p] of this.pods) {
      if (p.goneAt !== undefined && p.goneAt <= now) this.pods.delete(k);
    }
    for (const d of this.deployments.values()) {
      const owned = this.podsOf(d);
      for (let i = owned.length; i < d.replicas; i++) this.addPod(d.namespace, `${d.name}-${(this.seq++).toString(36)}`, d.name, d.name);
      for (const p of owned.slice(d.replicas).reverse()) this.terminate(p);
    }
    for (const p of this.pods.values()) {
      if (p.runningAt === undefined && p.goneAt === undefined) {
        const delay = this.hooks.startDelayMs ? this.hooks.startDelayMs(p) : 0;
        if (delay !== undefined && p.createdAt + delay <= now) p.runningAt = now;
      }
    }
  }

  /** A Deployment's pods that are not being deleted, oldest first. */
  private podsOf(d: FakeDeployment): FakePod[] {
    return [...this.pods.values()].filter((p) => p.owner === d.name && p.namespace === d.namespace && p.goneAt === undefined);
  }

  private addPod(namespace: string, name: string, app: string, owner: string | undefined): void {
    this.pods.set(key(namespace, name), { namespace, name, app, owner, createdAt: this.clock.now(), runningAt: undefined, goneAt: undefined });
  }

  private terminate(p: FakePod): void {
    p.goneAt ??= this.clock.now() + (this.hooks.deleteDelayMs ?? 0);
  }

  private needNamespace(namespace: string): void {
    if (!this.namespaces.has(namespace)) throw notFound(`namespace ${namespace}`);
  }

  private record(op: keyof KubeOps, target: string, replicas?: number): void {
    this.calls.push({ op, target, at: this.clock.now(), ...(replicas !== undefined ? { replicas } : {}) });
  }
}

/** Errors shaped like the client's (an HTTP status in `code`). */
function apiError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}
const notFound = (what: string) => apiError(404, `${what} not found`);
const conflict = (what: string) => apiError(409, `${what} already exists`);
