/**
 * The Kubernetes runtime: the plan's nodes as runner pods of K nodes each on
 * an external cluster (a StatefulSet, see manifests.ts). Its events are the
 * merged summaries of the pods, read every 2 s through the apiserver's pod
 * proxy; a pod that cannot start (its image missing, crash loops) is fatal
 * with the reason explained. stop() deletes what start() created there.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { splitHostPort } from '../../core/address.js';
import { type EdgemarkError, errorToJson } from '../../core/errors.js';
import { mergeSummaries, type FleetSummary } from '../../fleet/summary.js';
import { parsePlan, planNodeCount, type FleetPlan } from '../plan.js';
import {
  EventHub,
  finish,
  runningFleet,
  STATUS_EVERY_MS,
  type Credentials,
  type DryRun,
  type FleetResult,
  type Runtime,
  type RunningFleet,
  type RuntimeEvent,
  type StartOptions,
} from '../runtime.js';
import {
  applyObjects,
  deleteFleet,
  ensureNamespace,
  explainWaiting,
  externalKubeConfig,
  podMilestones,
  podLinkFault,
  podResources,
  podSummaries,
  runnerPods,
  type FleetRef,
} from './external.js';
import { DEFAULT_NODES_PER_POD, fleetObjects, objectNames, podCount, RUNNER_PORT, type PodSettings } from './manifests.js';

export interface KubernetesRuntimeOptions {
  /** The external cluster, where the runner pods run. */
  externalKubeconfig: string;
  namespace?: string;
  name?: string;
  image: string;
  imagePullPolicy?: PodSettings['imagePullPolicy'];
  nodesPerPod?: number;
  /** Default: when every CloudCore address of the plan is a loopback one (one machine). */
  hostNetwork?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: PodSettings['tolerations'];
  /** The runner's port (PORT + ordinal on the host network: give fleets that share nodes ranges apart). */
  port?: number;
}

const isLoopback = (hostPort: string) => /^(127\.|localhost$|::1$)/.test(splitHostPort(hostPort)?.host ?? '');

/** The pod settings of these options for this plan. */
/** The host:port addresses the plan's nodes dial: CloudHub for edge nodes, kube-apiserver for kubelet nodes. */
function dialed(plan: FleetPlan): string[] {
  const kinds = new Set(plan.groups.map((g) => g.kind));
  return [
    ...(kinds.has('edge') ? plan.target.cloudcore.map((c) => c.websocket) : []),
    ...(kinds.has('kubelet') && plan.target.apiserver ? [new URL(plan.target.apiserver).host] : []),
  ];
}

/** A loopback address is reachable from the host network only. */
export function podSettings(plan: FleetPlan, o: Omit<KubernetesRuntimeOptions, 'externalKubeconfig'>): PodSettings {
  return {
    name: o.name ?? 'edgemark',
    namespace: o.namespace ?? 'edgemark',
    image: o.image,
    imagePullPolicy: o.imagePullPolicy ?? 'IfNotPresent',
    nodesPerPod: o.nodesPerPod ?? Math.min(DEFAULT_NODES_PER_POD, planNodeCount(plan)),
    hostNetwork: o.hostNetwork ?? dialed(plan).some(isLoopback),
    nodeSelector: o.nodeSelector ?? {},
    tolerations: o.tolerations ?? [],
    port: o.port ?? RUNNER_PORT,
  };
}

/** What creating this fleet does, line by line (dry runs, `fleet create --dry-run`). */
export function fleetActions(plan: FleetPlan, s: PodSettings, external: string): string[] {
  const pods = podCount(plan, s.nodesPerPod);
  const names = objectNames(s.name);
  const g = plan.groups[0]!;
  const lines = [
    `on the external cluster ${external}, namespace ${s.namespace}:`,
    `  Secret ${names.token}: ${[
      ...(plan.groups.some((g) => g.kind === 'edge') ? ['the join token'] : []),
      ...(plan.groups.some((g) => g.kind === 'kubelet') ? ["the kubelet nodes' bootstrap token or shared identity"] : []),
    ].join(' and ')}`,
    `  ConfigMap ${names.plan}: the plan (${planNodeCount(plan)} nodes) and the runner settings`,
    `  Service ${names.service} (headless) and StatefulSet ${names.statefulSet}: ${pods} pod(s) of ${s.nodesPerPod} nodes, image ${s.image} (${s.imagePullPolicy}), ${s.hostNetwork ? 'host network' : 'pod network'}`,
  ];
  for (let o = 0; o < Math.min(pods, 3); o++)
    lines.push(`  pod ${names.statefulSet}-${o}: nodes ${g.prefix}${o * s.nodesPerPod}..${g.prefix}${(o + 1) * s.nodesPerPod - 1}`);
  if (pods > 3) lines.push(`  ... ${pods - 3} more pod(s)`);
  lines.push(`hollow nodes join ${plan.target.name} at ${plan.target.cloudcore.map((c) => c.websocket).join(', ') || plan.target.apiserver}`);
  return lines;
}

export class KubernetesRuntime implements Runtime {
  readonly name = 'kubernetes';

  constructor(private readonly o: KubernetesRuntimeOptions) {}

  dryRun(input: FleetPlan): DryRun {
    const plan = parsePlan(input);
    return { runtime: this.name, plan, actions: fleetActions(plan, podSettings(plan, this.o), this.o.externalKubeconfig) };
  }

  async start(input: FleetPlan, credentials: Credentials, so: StartOptions): Promise<RunningFleet> {
    const plan = parsePlan(input);
    const s = podSettings(plan, this.o);
    const ref: FleetRef = { kc: externalKubeConfig(this.o.externalKubeconfig), namespace: s.namespace, name: s.name };
    const objects = fleetObjects(plan, s, credentials);
    await ensureNamespace(ref.kc, s.namespace);
    await applyObjects(ref.kc, objects);
    so.log.info(
      `${planNodeCount(plan)} nodes as ${podCount(plan, s.nodesPerPod)} pod(s) of ${s.nodesPerPod} in ${s.namespace} of ${this.o.externalKubeconfig}`,
    );
    const hub = new EventHub<RuntimeEvent>();
    const stopping = new AbortController();
    so.signal?.addEventListener('abort', () => stopping.abort(), { once: true });
    let latest: FleetSummary | undefined;
    let fatal: EdgemarkError | undefined;
    const runner = { nodesPerPod: s.nodesPerPod, port: s.port, portPerOrdinal: s.hostNetwork };
    const watch = (async () => {
      while (!stopping.signal.aborted) {
        try {
          const pods = await runnerPods(ref);
          const bad = pods.map((p) => explainWaiting(p, s.image)).find((e) => e);
          if (bad && !fatal) {
            fatal = bad;
            hub.emit({ type: 'fatal', error: errorToJson(bad) });
            break;
          }
          if (plan.observe.tracePods) {
            const m = await podMilestones(ref, runner, pods);
            if (m.length) hub.emit({ type: 'milestones', milestones: m });
          }
          const sums = [...(await podSummaries(ref, runner, pods)).values()];
          if (sums.length) {
            latest = mergeSummaries(sums);
            hub.emit({ type: 'status', summary: latest });
          }
        } catch (err) {
          hub.emit({ type: 'warning', message: `reading the runner pods: ${(err as Error).message}` });
        }
        await sleep(STATUS_EVERY_MS, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    })();
    if (plan.durationSeconds) setTimeout(() => stopping.abort(), plan.durationSeconds * 1000).unref();
    // The end: asked to stop, the duration passed, or a pod that cannot start; then the objects go.
    const done: Promise<FleetResult> = watch.then(async () => {
      const problems = await deleteFleet(ref, { namespaceToo: false });
      return finish(hub, { summary: latest, ...(fatal ? { fatal: errorToJson(fatal) } : {}), problems });
    });
    return runningFleet({
      runtime: this.name,
      hub,
      latest: () => latest,
      metricsUrl: undefined,
      processes: () => [],
      remoteResources: async () => podResources(ref, runner, await runnerPods(ref)),
      done,
      pull: () => stopping.abort(),
      linkFault: async (cmd) => podLinkFault(ref, runner, await runnerPods(ref), cmd),
    });
  }
}
