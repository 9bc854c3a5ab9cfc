/**
 * The fleet's objects on the external cluster (where the runner pods run):
 * apply them, read the fleet back, its runner pods and their summaries
 * (through the apiserver's pod proxy), and delete them. Used by the
 * Kubernetes runtime and by the `edgemark fleet` verbs.
 */
import { EdgemarkError } from '../../core/errors.js';
import { pollUntil } from '../../core/poll.js';
import { apiStatus, isNotFound, k8s } from '../../kube/client.js';
import type { FleetSummary } from '../../fleet/summary.js';
import type { Milestone } from '../../fleet/fleet.js';
import { addLinkResults, type LinkFaultCommand, type LinkFaultResult } from '../../link/model.js';
import { getText, kubeconfigGetOptions, parseProcessMetrics, type ResourceReading } from '../../measure/sources.js';
import { parsePlan, type FleetPlan } from '../plan.js';
import { labelsOf, objectNames, type KubeObject, type RunnerSettings } from './manifests.js';

/** Where a fleet lives: the external cluster's kubeconfig, a namespace, a name. */
export interface FleetRef {
  kc: k8s.KubeConfig;
  namespace: string;
  name: string;
}

export function externalKubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new EdgemarkError(
      'EM_KUBECONFIG',
      `[fleet] cannot read the external cluster's kubeconfig ${path}: ${(err as Error).message}`,
      'pass --external-kubeconfig <file> of the cluster the runner pods run on',
    );
  }
  if (!kc.getCurrentCluster()) throw new EdgemarkError('EM_NO_KUBECONFIG', `[fleet] kubeconfig ${path} has no current cluster`, 'set current-context in it');
  return kc;
}

const MANAGED = { 'app.kubernetes.io/managed-by': 'edgemark' };

/** The namespace, created (and marked as ours, so cleanup deletes it) if missing. */
export async function ensureNamespace(kc: k8s.KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  // A namespace still terminating (a cleanup just before) takes no new object: wait until it is gone.
  const phase = await pollUntil(
    `namespace ${namespace} to finish terminating`,
    async () => {
      try {
        const ns = await core.readNamespace({ name: namespace });
        return ns.status?.phase === 'Terminating' ? undefined : 'there';
      } catch (err) {
        if (!isNotFound(err)) throw unreachable(kc, err);
        return 'missing';
      }
    },
    { timeoutMs: 180_000, intervalMs: 1000, prefix: '[fleet]' },
  );
  if (phase === 'missing') await core.createNamespace({ body: { metadata: { name: namespace, labels: MANAGED } } });
}

export function unreachable(kc: k8s.KubeConfig, err: unknown): EdgemarkError {
  if (err instanceof EdgemarkError) return err;
  const status = apiStatus(err);
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  if (status === 401 || status === 403) {
    return new EdgemarkError(
      'EM_EXTERNAL_RBAC',
      `[fleet] the external cluster ${server} refused: HTTP ${status}`,
      'use credentials that may manage StatefulSets, ConfigMaps, Secrets, Services and Jobs in the namespace (`edgemark fleet setup` lists what is missing)',
    );
  }
  if (status !== undefined)
    return new EdgemarkError(
      'EM_EXTERNAL_UNREACHABLE',
      `[fleet] the external cluster ${server} answered HTTP ${status}: ${(err as Error).message}`,
      'check the cluster and the kubeconfig',
    );
  return new EdgemarkError(
    'EM_EXTERNAL_UNREACHABLE',
    `[fleet] the external cluster ${server} does not answer: ${(err as Error).message}`,
    'check that it runs and that --external-kubeconfig names it',
  );
}

/** Creates each object, or replaces the one there (same name), in order. */
export async function applyObjects(kc: k8s.KubeConfig, objects: KubeObject[]): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) {
    try {
      await api.create(o as k8s.KubernetesObject);
    } catch (err) {
      if (apiStatus(err) !== 409) throw unreachable(kc, err);
      const current = await api.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace ?? '' } });
      await api.replace({ ...o, metadata: { ...o.metadata, resourceVersion: current.metadata?.resourceVersion } } as k8s.KubernetesObject);
    }
  }
}

export interface StoredFleet {
  plan: FleetPlan;
  runner: RunnerSettings;
  /** spec.replicas of the StatefulSet. */
  pods: number;
  image: string;
}

/** The fleet as stored on the external cluster, or undefined when there is none. */
export async function readFleet(ref: FleetRef): Promise<StoredFleet | undefined> {
  const names = objectNames(ref.name);
  const core = ref.kc.makeApiClient(k8s.CoreV1Api);
  const apps = ref.kc.makeApiClient(k8s.AppsV1Api);
  let cm: k8s.V1ConfigMap;
  let sts: k8s.V1StatefulSet;
  try {
    cm = await core.readNamespacedConfigMap({ name: names.plan, namespace: ref.namespace });
    sts = await apps.readNamespacedStatefulSet({ name: names.statefulSet, namespace: ref.namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw unreachable(ref.kc, err);
  }
  return {
    plan: parsePlan(JSON.parse(cm.data?.['plan.json'] ?? '{}')),
    runner: JSON.parse(cm.data?.['runner.json'] ?? '{}') as RunnerSettings,
    pods: sts.spec?.replicas ?? 0,
    image: sts.spec?.template.spec?.containers[0]?.image ?? '',
  };
}

export async function requireFleet(ref: FleetRef): Promise<StoredFleet> {
  const f = await readFleet(ref);
  if (!f) {
    throw new EdgemarkError(
      'EM_FLEET_NOT_FOUND',
      `[fleet] no fleet ${ref.name} in namespace ${ref.namespace} of the external cluster`,
      'create one with `edgemark fleet create N`, or pass its --name and --namespace',
    );
  }
  return f;
}

export interface RunnerPod {
  name: string;
  ordinal: number;
  phase: string;
  ready: boolean;
  /** The external node it runs on. */
  node: string | undefined;
  podIP: string | undefined;
  /** Why its container is not running, when it is waiting or terminated (ErrImageNeverPull, CrashLoopBackOff...). */
  waiting: { reason: string; message: string } | undefined;
  restarts: number;
  /** The scheduler's reason, while it cannot place the pod. */
  unschedulable: string | undefined;
}

export async function runnerPods(ref: FleetRef): Promise<RunnerPod[]> {
  const core = ref.kc.makeApiClient(k8s.CoreV1Api);
  const selector = Object.entries(labelsOf(ref.name))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  let list: k8s.V1PodList;
  try {
    list = await core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selector });
  } catch (err) {
    throw unreachable(ref.kc, err);
  }
  return list.items
    .map((p): RunnerPod => {
      const cs = p.status?.containerStatuses?.[0];
      const w = cs?.state?.waiting ?? (cs?.state?.terminated ? { reason: cs.state.terminated.reason, message: cs.state.terminated.message } : undefined);
      return {
        name: p.metadata?.name ?? '',
        ordinal: Number(/-(\d+)$/.exec(p.metadata?.name ?? '')?.[1] ?? -1),
        phase: p.status?.phase ?? 'Unknown',
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        node: p.spec?.nodeName,
        podIP: p.status?.podIP,
        waiting: w ? { reason: w.reason ?? 'Unknown', message: w.message ?? '' } : undefined,
        restarts: cs?.restartCount ?? 0,
        unschedulable: p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message,
      };
    })
    .sort((a, b) => a.ordinal - b.ordinal);
}

/** What a pod's waiting reason means, and what to do: the failures a user meets first. */
export function explainWaiting(pod: Pick<RunnerPod, 'name' | 'node' | 'waiting' | 'restarts'>, image: string): EdgemarkError | undefined {
  const r = pod.waiting?.reason;
  if (r === 'ErrImageNeverPull' || r === 'ErrImagePull' || r === 'ImagePullBackOff') {
    return new EdgemarkError(
      'EM_IMAGE_NOT_PRESENT',
      `[fleet] pod ${pod.name} on ${pod.node ?? '(unscheduled)'}: ${r}: the image ${image} is not on that node${r === 'ErrImageNeverPull' ? ' and the pull policy is Never' : ' and could not be pulled'}`,
      'build it with `edgemark image build` and import it on every node (`ctr -n k8s.io images import <archive>`, or `edgemark cluster import-image` for the local worker), or push it to a registry and pass --image <registry>/<name>:<tag> --pull-policy IfNotPresent',
    );
  }
  if (r === 'CrashLoopBackOff' || r === 'Error') {
    return new EdgemarkError(
      'EM_FLEET_NOT_READY',
      `[fleet] pod ${pod.name} keeps failing (${r}, ${pod.restarts} restarts)`,
      `read its log: kubectl logs -n <namespace> ${pod.name}`,
    );
  }
  return undefined;
}

/** The runner port a pod serves on. */
export function podPort(runner: RunnerSettings, ordinal: number): number {
  return runner.port + (runner.portPerOrdinal ? ordinal : 0);
}

/** A path of a runner pod through the apiserver's pod proxy. */
function podProxyUrl(ref: FleetRef, pod: string, port: number, path: string): string {
  const server = ref.kc.getCurrentCluster()!.server;
  return `${server.replace(/\/$/, '')}/api/v1/namespaces/${ref.namespace}/pods/${pod}:${port}/proxy/${path}`;
}

/** GET a path of a runner pod through the apiserver's pod proxy. */
export async function podGet(ref: FleetRef, pod: string, port: number, path: string): Promise<string> {
  return getText(podProxyUrl(ref, pod, port, path), { ...(await kubeconfigGetOptions(ref.kc)), timeoutMs: 10_000 });
}

/** Hands a link fault to every Running runner pod (POST /link through the pod proxy); sums what they did. */
export async function podLinkFault(ref: FleetRef, runner: RunnerSettings, pods: RunnerPod[], cmd: LinkFaultCommand): Promise<LinkFaultResult> {
  const opts = await kubeconfigGetOptions(ref.kc);
  const results = await Promise.all(
    pods
      .filter((p) => p.phase === 'Running')
      .map(async (p): Promise<LinkFaultResult> => {
        try {
          return JSON.parse(
            await getText(podProxyUrl(ref, p.name, podPort(runner, p.ordinal), 'link'), {
              ...opts,
              method: 'POST',
              headers: { ...(opts.headers ?? {}), 'content-type': 'application/json' },
              body: Buffer.from(JSON.stringify(cmd)),
              timeoutMs: 10_000,
            }),
          ) as LinkFaultResult;
        } catch {
          // A pod that does not answer (restarting) is left out of the count.
          return { affected: 0, unsupported: 0 };
        }
      }),
  );
  return addLinkResults(results);
}

/** GET `path` of every Running pod and parse it; a pod that does not answer (or parses to undefined) is left out. */
async function fromEachPod<T>(
  ref: FleetRef,
  runner: RunnerSettings,
  pods: RunnerPod[],
  path: string,
  parse: (text: string) => T | undefined,
): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  await Promise.all(
    pods
      .filter((p) => p.phase === 'Running')
      .map(async (p) => {
        try {
          const v = parse(await podGet(ref, p.name, podPort(runner, p.ordinal), path));
          if (v !== undefined) out.set(p.name, v);
        } catch {
          // Not serving yet, or restarting: left out this time.
        }
      }),
  );
  return out;
}

/** The summaries of the Running pods that answer (the others' nodes count as not Ready). */
export function podSummaries(ref: FleetRef, runner: RunnerSettings, pods: RunnerPod[]): Promise<Map<string, FleetSummary>> {
  return fromEachPod(ref, runner, pods, 'summary', (t) => JSON.parse(t) as FleetSummary);
}

/** The pods' milestones since the last call (each pod hands them over once; one that does not answer keeps them). */
export async function podMilestones(ref: FleetRef, runner: RunnerSettings, pods: RunnerPod[]): Promise<Milestone[]> {
  return [...(await fromEachPod(ref, runner, pods, 'milestones', (t) => JSON.parse(t) as Milestone[])).values()].flat();
}

/** CPU and RSS of every Running runner pod's process, from its own /metrics; undefined when none answers. */
export async function podResources(ref: FleetRef, runner: RunnerSettings, pods: RunnerPod[]): Promise<ResourceReading | undefined> {
  const got = [...(await fromEachPod(ref, runner, pods, 'metrics', parseProcessMetrics)).values()];
  if (got.length === 0) return undefined;
  return { cpuSeconds: got.reduce((a, r) => a + r.cpuSeconds, 0), rssBytes: got.reduce((a, r) => a + r.rssBytes, 0) };
}

/** Deletes every object of the fleet on the external cluster, and the namespace if the fleet created it; resolves once its pods are gone, with what could not be deleted. */
export async function deleteFleet(ref: FleetRef, o: { namespaceToo: boolean }): Promise<string[]> {
  const names = objectNames(ref.name);
  const core = ref.kc.makeApiClient(k8s.CoreV1Api);
  const apps = ref.kc.makeApiClient(k8s.AppsV1Api);
  const batch = ref.kc.makeApiClient(k8s.BatchV1Api);
  const ns = ref.namespace;
  const problems: string[] = [];
  const del = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!isNotFound(err)) problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  await del(`StatefulSet ${names.statefulSet}`, () =>
    apps.deleteNamespacedStatefulSet({ name: names.statefulSet, namespace: ns, propagationPolicy: 'Foreground' }),
  );
  await del(`Service ${names.service}`, () => core.deleteNamespacedService({ name: names.service, namespace: ns }));
  await del(`ConfigMap ${names.plan}`, () => core.deleteNamespacedConfigMap({ name: names.plan, namespace: ns }));
  await del(`Secret ${names.token}`, () => core.deleteNamespacedSecret({ name: names.token, namespace: ns }));
  await del(`Job ${ref.name}-setup`, () => batch.deleteNamespacedJob({ name: `${ref.name}-setup`, namespace: ns, propagationPolicy: 'Background' }));
  // Deleted means the pods are gone: one still in its grace period would register its nodes again.
  await pollUntil('the runner pods to go', async () => ((await runnerPods(ref).catch(() => [])).length === 0 ? true : undefined), {
    timeoutMs: 180_000,
    intervalMs: 2000,
    prefix: '[fleet]',
  }).catch((e: Error) => problems.push(e.message));
  if (o.namespaceToo) {
    try {
      const n = await core.readNamespace({ name: ns });
      if (n.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'edgemark') await core.deleteNamespace({ name: ns });
    } catch (err) {
      if (!isNotFound(err)) problems.push(`namespace ${ns}: ${(err as Error).message}`);
    }
  }
  return problems;
}
