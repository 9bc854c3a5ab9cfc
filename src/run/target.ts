/**
 * Where a run goes. The local control plane in the state directory (started
 * here if there is none; refused, before anything is created, if a component
 * is unhealthy or CloudCore cannot take the test's nodes), or an existing one
 * named by --kubeconfig and --cloudcore. What the run samples follows: /proc
 * for the local cluster's processes, the components' own /metrics for an
 * existing one (kube-apiserver through the kubeconfig, the others at the URLs
 * given). A local runner is sampled from /proc; runner pods (--runtime kubernetes) from their own metrics (run.ts).
 */
import { clusterStatus, clusterUp } from '../cluster/cluster.js';
import { readState } from '../cluster/state.js';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { type k8s, loadKubeConfig } from '../kube/client.js';
import { metricsSources, procSource, procSources, type MetricsSpec, type ResourceSource } from '../measure/sources.js';
import { checkNodeLimit, resolveTarget, type Target, type TargetFlags } from '../target/target.js';
import type { LoadTest } from './config.js';
import { apiserverGet } from './measure.js';

export interface TargetOptions {
  test: LoadTest;
  stateDir: string;
  cacheDir: string;
  log: Logger;
  signal: AbortSignal;
  /** An existing control plane instead of the local one (--kubeconfig, --cloudcore, token). */
  target?: TargetFlags;
  /** /metrics URLs of the existing control plane's other components (etcd, controller-manager, scheduler, cloudcore). */
  componentMetrics?: Omit<MetricsSpec, 'apiserver'>;
}

export interface RunTarget {
  target: Target;
  kc: k8s.KubeConfig;
  /** Component versions for the record. */
  versions: Record<string, string>;
  /** What the run samples: the control plane's components, and the runner's processes. */
  sources(runnerPids: () => number[]): ResourceSource[];
}

/** True when the flags name an existing control plane rather than the local one. */
export function isExternal(flags: TargetFlags | undefined): boolean {
  return Boolean(flags?.kubeconfig || flags?.cloudcore);
}

export async function ensureTarget(o: TargetOptions, nodeCount: number): Promise<RunTarget> {
  return isExternal(o.target) ? externalTarget(o, nodeCount) : localTarget(o, nodeCount);
}

/** The local cluster, up and able to take the nodes; started here if there is none. */
async function localTarget(o: TargetOptions, nodeCount: number): Promise<RunTarget> {
  if (o.componentMetrics && Object.keys(o.componentMetrics).length) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      '[run] --component-metrics is for an existing control plane (--kubeconfig); the local cluster is sampled from /proc',
      'leave --component-metrics out, or pass --kubeconfig and --cloudcore',
    );
  }
  let state = readState(o.stateDir);
  const wantLimit = Math.max(o.test.spec.cluster.nodeLimit ?? 0, nodeCount + 10);
  if (!state) {
    o.log.info(`no local control plane in ${o.stateDir}: bringing one up (node limit ${Math.max(wantLimit, 1000)})`);
    state = await clusterUp({ stateDir: o.stateDir, cacheDir: o.cacheDir, nodeLimit: Math.max(wantLimit, 1000), signal: o.signal });
  }
  const { components } = await clusterStatus(o.stateDir);
  const bad = components.filter((c) => !c.health.healthy);
  if (bad.length) {
    throw new EdgemarkError(
      'EM_TARGET_UNREACHABLE',
      `[run] the local control plane in ${o.stateDir} is not healthy: ${bad.map((c) => `${c.name} (${c.health.detail})`).join(', ')}`,
      '`edgemark cluster up` restarts what stopped; `edgemark cluster status` shows each component',
    );
  }
  if (nodeCount > state.nodeLimit) {
    throw new EdgemarkError(
      'EM_NODE_LIMIT',
      `[run] the test runs ${nodeCount} nodes but the local CloudCore takes at most ${state.nodeLimit}`,
      `\`edgemark cluster down && edgemark cluster up --node-limit ${nodeCount + 10}\`, or lower spec.nodes.count`,
    );
  }
  const target = resolveTarget(o.target ?? {}, o.stateDir);
  const s = state;
  const groups: Record<string, () => number[]> = {};
  for (const [name, rec] of Object.entries(s.components)) if (rec) groups[name] = () => [rec.pid];
  return {
    target,
    kc: loadKubeConfig(s.kubeconfig),
    versions: s.versions,
    sources: (runnerPids) => [...procSources(groups), procSource('runner', runnerPids)],
  };
}

/** An existing control plane: reachable through its kubeconfig, sampled through metrics. */
async function externalTarget(o: TargetOptions, nodeCount: number): Promise<RunTarget> {
  const flags = o.target!;
  if (!flags.kubeconfig) {
    throw new EdgemarkError(
      'EM_NO_KUBECONFIG',
      "[run] a run against an existing CloudCore needs its cluster's kubeconfig too (it creates and watches pods)",
      'pass --kubeconfig <file> with --cloudcore',
    );
  }
  const target = resolveTarget(flags, o.stateDir);
  checkNodeLimit(target, nodeCount, 'run');
  const kc = loadKubeConfig(target.kubeconfig!);
  let version: string;
  try {
    version = (JSON.parse(await apiserverGet(kc, '/version')) as { gitVersion?: string }).gitVersion ?? 'unknown';
  } catch (err) {
    throw new EdgemarkError(
      'EM_TARGET_UNREACHABLE',
      `[run] kube-apiserver of ${target.name} does not answer: ${(err as Error).message}`,
      'check the kubeconfig (server address, credentials) with `kubectl --kubeconfig ... get --raw /version`',
      { cause: err },
    );
  }
  // A bad token is refused before anything is created.
  await target.token();
  o.log.info(
    `target: ${target.name} (Kubernetes ${version}); CloudHub ${target.cloudcore.map((c) => c.websocket).join(', ')}; token from ${target.tokenSource}`,
  );
  const spec: MetricsSpec = { apiserver: 'kubeconfig', ...(o.componentMetrics ?? {}) };
  return {
    target,
    kc,
    versions: { kubernetes: version },
    sources: (runnerPids) => [...metricsSources(spec, kc), procSource('runner', runnerPids)],
  };
}
