/**
 * `edgemark run`: a load test on the local control plane. It checks the
 * target before anything starts, runs the hollow edge nodes as a child
 * process (so the runner's own event loop is measured apart from this one),
 * executes the test's phases, measures throughout, and on the way out (done,
 * failed or Ctrl-C) removes what it created and writes every artifact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { EdgemarkError } from '../core/errors.js';
import { formatDuration, type Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import type { FleetSummary } from '../fleet/fleet.js';
import { isConflict, isNotFound, k8s, loadKubeConfig } from '../kube/client.js';
import type { LoadTest, Phase } from './config.js';
import { apiserverGet, NodeTimeline, parseRequestDurations, PodTimeline, ResourceSeries, runnerGroup, type ApiHistograms } from './measure.js';
import { analyse, type FootprintStep, type RunRecord } from './results.js';
import { writeArtifacts } from './artifacts.js';
import { ensureTarget } from './target.js';

export interface RunOptions {
  test: LoadTest;
  /** Where the YAML the user gave came from (recorded with the run). */
  configSource: string;
  stateDir: string;
  cacheDir: string;
  outDir: string;
  log: Logger;
  signal: AbortSignal;
}

export interface RunOutcome {
  dir: string;
  record: RunRecord;
  failedSlos: string[];
  invalid: boolean;
}

const RUN_LABEL = 'edgemark.io/run';

/** Paces calls at `qps` per second. */
class Pacer {
  private next = Date.now();
  constructor(private readonly qps: number) {}
  async wait(signal: AbortSignal): Promise<void> {
    const now = Date.now();
    if (this.next > now) await sleep(this.next - now, undefined, { signal }).catch(() => undefined);
    this.next = Math.max(now, this.next) + 1000 / this.qps;
  }
}

export async function runTest(o: RunOptions): Promise<RunOutcome> {
  const { test, log, signal } = o;
  const started = Date.now();
  const runId = `${test.metadata.name}-${new Date(started).toISOString().slice(0, 19).replace(/[-:T]/g, '').replace(/^(\d{8})/, '$1-')}`;
  const dir = join(o.outDir, runId);

  // ---- the target, before anything starts ----
  const state = await ensureTarget(o, test.spec.nodes.count);
  const kc = loadKubeConfig(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'test.yaml'), stringify(test));
  log.info(`run ${runId}: ${test.spec.phases.length} phases, ${test.spec.nodes.count} nodes; artifacts in ${dir}`);

  const prefix = `${test.spec.nodes.prefix}`;
  const pods = new PodTimeline(kc, runId);
  const nodes = new NodeTimeline(kc, prefix);
  let runner: ChildProcess | undefined;
  const groups: Record<string, () => number[]> = {};
  for (const [name, rec] of Object.entries(state.components)) if (rec) groups[name] = () => [rec.pid];
  groups.runner = runnerGroup(() => runner?.pid);
  const resources = new ResourceSeries(groups, started);
  const namespaces: string[] = [];
  const phaseLog: RunRecord['phases'] = [];
  const footprint: FootprintStep[] = [];
  let apiBefore: ApiHistograms = new Map();
  let apiAfter: ApiHistograms = new Map();
  let partial = false;
  let failure: string | undefined;
  const summaryFile = join(dir, 'runner-summary.json');
  const traceFile = join(dir, 'pod-trace.jsonl');
  const deadline = started + test.spec.timeoutSeconds * 1000;
  const bounded = (ms: number) => Math.max(1000, Math.min(ms, deadline - Date.now()));
  const abortedOrLate = () => signal.aborted || Date.now() > deadline;

  const until = async (whatOf: string | (() => string), fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 1000) => {
    const what = () => (typeof whatOf === 'string' ? whatOf : whatOf());
    const end = Date.now() + bounded(timeoutMs);
    let lastLog = Date.now();
    for (;;) {
      if (signal.aborted) throw new EdgemarkError('EM_INTERRUPTED', `[run] interrupted while waiting for ${what()}`);
      if (await fn()) return;
      if (Date.now() > end) throw new EdgemarkError('EM_RUN_TIMEOUT', `[run] timed out waiting for ${what()}`, 'raise spec.timeoutSeconds, or lower the load');
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log.info(`  ... waiting for ${what()} (${formatDuration(Date.now() - started)})`);
      }
      await sleep(everyMs, undefined, { signal }).catch(() => undefined);
    }
  };

  const podsOfRun = async () => (await core.listPodForAllNamespaces({ labelSelector: `${RUN_LABEL}=${runId}` })).items;
  const deploymentsOfRun = async () => (await apps.listDeploymentForAllNamespaces({ labelSelector: `${RUN_LABEL}=${runId}` })).items;
  const podTemplate = (app: string): k8s.V1PodTemplateSpec => ({
    metadata: { labels: { [RUN_LABEL]: runId, app }, ...(test.spec.podLifecycle ? { annotations: { 'edgemark.io/lifecycle': test.spec.podLifecycle } } : {}) },
    spec: {
      nodeSelector: { [RUN_LABEL]: runId },
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'app', image: 'registry.invalid/edgemark/app:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
    },
  });
  const allAvailable = async () => {
    const ds = await deploymentsOfRun();
    return ds.every((d) => (d.status?.availableReplicas ?? 0) === (d.spec?.replicas ?? 0) && (d.status?.replicas ?? 0) === (d.spec?.replicas ?? 0));
  };
  /**
   * Every deployment available, or no progress for `stallMs`: pods a control
   * plane under load never delivered are the run's finding (counted as lost,
   * with a warning), not a reason to wait until the timeout.
   */
  const untilAvailable = async (what: string, stallMs = 120_000) => {
    let best = -1;
    let since = Date.now();
    let want = 0;
    let have = 0;
    await until(() => `${what}: ${have}/${want} pods available`, async () => {
      const ds = await deploymentsOfRun();
      want = ds.reduce((a, d) => a + (d.spec?.replicas ?? 0), 0);
      have = ds.reduce((a, d) => a + Math.min(d.status?.availableReplicas ?? 0, d.spec?.replicas ?? 0), 0);
      if (have > best) {
        best = have;
        since = Date.now();
      }
      if (await allAvailable()) return true;
      if (Date.now() - since > stallMs && have > 0) {
        log.warn(`  ${want - have} of ${want} pods never became available in ${stallMs / 1000} s; going on (they count as lost)`);
        return true;
      }
      return false;
    }, Math.max(600_000, expectedPods() * 150), 2000);
  };
  const expectedPods = () => test.spec.nodes.count * 110;
  const noPodsLeft = async () => (await podsOfRun()).length === 0;

  async function createDeployment(ns: string, name: string, replicas: number): Promise<void> {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name, labels: { [RUN_LABEL]: runId } },
        spec: { replicas, selector: { matchLabels: { [RUN_LABEL]: runId, app: name } }, template: podTemplate(name) },
      },
    });
  }

  async function scaleAll(replicas: number, qps: number): Promise<void> {
    const pace = new Pacer(qps);
    for (const d of await deploymentsOfRun()) {
      await pace.wait(signal);
      await apps.patchNamespacedDeploymentScale(
        { name: d.metadata!.name!, namespace: d.metadata!.namespace!, body: { spec: { replicas } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    }
  }

  const phases: Record<Phase['kind'], (p: never) => Promise<void>> = {
    nodesUp: async () => {
      const n = test.spec.nodes;
      const args = [
        join(packageRoot(), 'dist/src/cli/main.js'), '--state-dir', o.stateDir, 'nodes', 'run', '-n', String(n.count), '--prefix', prefix,
        '--workers', String(Math.min(n.workers, n.count)), '--join-rate', String(n.joinRate), '--labels', `${RUN_LABEL}=${runId}`,
        '--cpu', n.cpu, '--memory', n.memory, '--pods', n.pods, '--summary-json', summaryFile, '--trace-pods', traceFile,
        '--data-dir', join(dir, 'runner'), '--duration', String(test.spec.timeoutSeconds + 60),
      ];
      const logFd = openSync(join(dir, 'runner.log'), 'a');
      runner = spawn(process.execPath, args, { stdio: ['ignore', logFd, logFd] });
      const exited = new Promise<void>((r) => runner!.once('exit', () => r()));
      void exited.then(() => {
        if (!stopping) failure ??= `the runner exited early (see ${join(dir, 'runner.log')})`;
      });
      await until(() => `${n.count} nodes Ready: ${nodes.readyCount()} so far`, () => {
        if (failure) throw new EdgemarkError('EM_RUNNER_FAILED', `[run] ${failure}`);
        return nodes.readyCount() >= n.count;
      }, 120_000 + (n.count / n.joinRate) * 3000);
    },
    namespaces: async (p: Extract<Phase, { kind: 'namespaces' }>) => {
      for (let i = 0; i < p.count; i++) {
        const name = `${runId}-${namespaces.length}`;
        await core.createNamespace({ body: { metadata: { name, labels: { [RUN_LABEL]: runId } } } });
        namespaces.push(name);
      }
      await until('default service accounts', async () => {
        for (const ns of namespaces) {
          try {
            await core.readNamespacedServiceAccount({ name: 'default', namespace: ns });
          } catch {
            return false;
          }
        }
        return true;
      }, 60_000);
    },
    deployments: async (p: Extract<Phase, { kind: 'deployments' }>) => {
      const pace = new Pacer(p.qps);
      const existing = (await deploymentsOfRun()).length;
      const all = needNamespaces().length * p.perNamespace;
      const replicas = p.replicas ?? Math.ceil(((p.podsPerNode ?? 0) * test.spec.nodes.count) / all);
      log.info(`  ${all} deployment(s) of ${replicas} replicas: ${all * replicas} pods`);
      for (const ns of needNamespaces()) {
        for (let j = 0; j < p.perNamespace; j++) {
          await pace.wait(signal);
          if (signal.aborted) return;
          await createDeployment(ns, `deploy-${existing + j}`, replicas);
        }
      }
      await untilAvailable('every deployment available');
    },
    pods: async (p: Extract<Phase, { kind: 'pods' }>) => {
      const pace = new Pacer(p.qps);
      let i = 0;
      for (const ns of needNamespaces()) {
        for (let j = 0; j < p.perNamespace; j++) {
          await pace.wait(signal);
          if (signal.aborted) return;
          await core.createNamespacedPod({ namespace: ns, body: { metadata: { ...podTemplate('bare').metadata, name: `pod-${Date.now().toString(36)}-${i++}` }, spec: podTemplate('bare').spec! } });
        }
      }
      await until('every pod Running', async () => (await podsOfRun()).every((x) => x.status?.phase === 'Running'), 600_000, 2000);
    },
    wait: async (p: Extract<Phase, { kind: 'wait' }>) => {
      await sleep(bounded(p.seconds * 1000), undefined, { signal }).catch(() => undefined);
    },
    scale: async (p: Extract<Phase, { kind: 'scale' }>) => {
      await scaleAll(p.replicas, p.qps);
      await untilAvailable(`every deployment at ${p.replicas} replicas`);
    },
    delete: async (p: Extract<Phase, { kind: 'delete' }>) => {
      const pace = new Pacer(p.qps);
      if (p.what === 'deployments') {
        for (const d of await deploymentsOfRun()) {
          await pace.wait(signal);
          await apps.deleteNamespacedDeployment({ name: d.metadata!.name!, namespace: d.metadata!.namespace!, propagationPolicy: 'Foreground' }).catch(ignoreNotFound);
        }
      } else {
        for (const x of await podsOfRun()) {
          await pace.wait(signal);
          await core.deleteNamespacedPod({ name: x.metadata!.name!, namespace: x.metadata!.namespace! }).catch(ignoreNotFound);
        }
      }
      await until('the pods to be gone', noPodsLeft, Math.max(600_000, expectedPods() * 150), 2000);
    },
    churn: async (p: Extract<Phase, { kind: 'churn' }>) => {
      const ns = needNamespaces()[0]!;
      const pace = new Pacer(p.podsPerSecond);
      const end = Date.now() + p.seconds * 1000;
      const toDelete: { at: number; name: string }[] = [];
      let i = 0;
      while (Date.now() < end && !abortedOrLate()) {
        await pace.wait(signal);
        const name = `churn-${i++}`;
        await core.createNamespacedPod({ namespace: ns, body: { metadata: { ...podTemplate('churn').metadata, name }, spec: podTemplate('churn').spec! } });
        toDelete.push({ at: Date.now() + p.lifetimeSeconds * 1000, name });
        while (toDelete.length && toDelete[0]!.at <= Date.now()) {
          const d = toDelete.shift()!;
          await core.deleteNamespacedPod({ name: d.name, namespace: ns }).catch(ignoreNotFound);
        }
      }
      log.info(`  churn: created ${i} pods`);
    },
    footprint: async (p: Extract<Phase, { kind: 'footprint' }>) => {
      const ns = needNamespaces()[0]!;
      await createDeployment(ns, 'footprint', p.from);
      for (let n = p.from; n <= p.to && !abortedOrLate(); n += p.step) {
        await apps.patchNamespacedDeploymentScale(
          { name: 'footprint', namespace: ns, body: { spec: { replicas: n } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        await until(`${n} footprint pods available`, allAvailable, 300_000, 1000);
        const from = resources.points.length;
        await sleep(bounded(p.holdSeconds * 1000), undefined, { signal }).catch(() => undefined);
        resources.sample();
        const window = resources.points.slice(from);
        footprint.push({ pods: n, cpu: averageBy(window, 'cpu'), rss: averageBy(window, 'rss') });
        log.info(`  footprint: ${n} pods; runner ${((footprint.at(-1)!.rss.runner ?? 0) / 2 ** 20).toFixed(0)} MiB, cloudcore ${((footprint.at(-1)!.cpu.cloudcore ?? 0) * 1000).toFixed(0)} millicores`);
      }
    },
    nodesDown: async () => {
      await stopRunner();
      await deleteNodes();
    },
  };

  function needNamespaces(): string[] {
    if (namespaces.length === 0) throw new EdgemarkError('EM_CONFIG_INVALID', '[run] a phase needs namespaces, and none was created before it', 'add a `kind: namespaces` phase before it');
    return namespaces;
  }

  let stopping = false;
  async function stopRunner(): Promise<void> {
    if (!runner || runner.exitCode !== null || runner.signalCode !== null) return;
    stopping = true;
    const gone = new Promise((r) => runner!.once('exit', r));
    runner.kill('SIGINT');
    const t = setTimeout(() => runner?.kill('SIGKILL'), 30_000);
    await gone;
    clearTimeout(t);
  }

  async function deleteNodes(): Promise<void> {
    const list = await core.listNode({ labelSelector: `${RUN_LABEL}=${runId}` });
    for (const n of list.items) await core.deleteNode({ name: n.metadata!.name! }).catch(ignoreNotFound);
    const coord = kc.makeApiClient(k8s.CoordinationV1Api);
    for (const n of list.items) await coord.deleteNamespacedLease({ name: n.metadata!.name!, namespace: 'kube-node-lease' }).catch(ignoreNotFound);
  }

  // ---- run ----
  await pods.start();
  await nodes.start();
  resources.start(test.spec.sampleEverySeconds * 1000);
  try {
    apiBefore = parseRequestDurations(await apiserverGet(kc, '/metrics'));
    for (const [i, p] of test.spec.phases.entries()) {
      if (abortedOrLate()) {
        partial = true;
        break;
      }
      const t0 = Date.now();
      log.info(`phase ${i + 1}/${test.spec.phases.length}: ${describe(p)}`);
      await phases[p.kind](p as never);
      phaseLog.push({ kind: p.kind, description: describe(p), startMs: t0 - started, endMs: Date.now() - started });
      if (failure) throw new EdgemarkError('EM_RUNNER_FAILED', `[run] ${failure}`);
    }
    if (signal.aborted) partial = true;
  } catch (err) {
    partial = true;
    failure ??= err instanceof Error ? err.message : String(err);
    log.warn(`run stopped early: ${failure}`);
  } finally {
    // Measure the window before cleaning up, then clean up whatever happened.
    apiAfter = await apiserverGet(kc, '/metrics').then(parseRequestDurations, () => new Map());
    resources.stop();
    log.info('cleaning up: runner, namespaces, nodes');
    await stopRunner().catch(() => undefined);
    for (const ns of namespaces) await core.deleteNamespace({ name: ns }).catch(ignoreNotFound);
    await deleteNodes().catch(() => undefined);
    pods.stop();
    nodes.stop();
  }

  const record = analyse({
    runId,
    test,
    configSource: o.configSource,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    partial,
    ...(failure ? { failure } : {}),
    phases: phaseLog,
    pods: [...pods.pods.values()],
    nodes: [...nodes.nodes.values()],
    resources: resources.points,
    api: { before: apiBefore, after: apiAfter },
    runnerSummary: readJson<FleetSummary>(summaryFile),
    trace: readTrace(dir),
    footprint,
    versions: { edgemark: packageVersion(), ...state.versions },
  });
  const { failedSlos, invalid } = writeArtifacts(dir, record);
  return { dir, record, failedSlos, invalid };
}

function describe(p: Phase): string {
  switch (p.kind) {
    case 'nodesUp':
      return 'hollow edge nodes up';
    case 'namespaces':
      return `${p.count} namespace(s)`;
    case 'deployments':
      return `${p.perNamespace} deployment(s) per namespace (${p.replicas !== undefined ? `${p.replicas} replicas` : `${p.podsPerNode} pods per node`}) at ${p.qps} qps`;
    case 'pods':
      return `${p.perNamespace} pod(s) per namespace at ${p.qps} qps`;
    case 'wait':
      return `steady for ${p.seconds} s`;
    case 'scale':
      return `every deployment to ${p.replicas} replicas`;
    case 'delete':
      return `delete the ${p.what}`;
    case 'churn':
      return `${p.podsPerSecond} pods/s for ${p.seconds} s, each living ${p.lifetimeSeconds} s`;
    case 'footprint':
      return `pods ${p.from} to ${p.to} by ${p.step}, ${p.holdSeconds} s each`;
    case 'nodesDown':
      return 'hollow edge nodes down';
  }
}

function averageBy(points: { cpu: Record<string, number>; rss: Record<string, number> }[], key: 'cpu' | 'rss'): Record<string, number> {
  const out: Record<string, number> = {};
  if (!points.length) return out;
  for (const p of points) for (const [k, v] of Object.entries(p[key])) out[k] = (out[k] ?? 0) + v / points.length;
  return out;
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err) && !isConflict(err)) throw err;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The runner's pod milestones (one file, or one per worker). */
function readTrace(dir: string): { uid: string; event: string; ms: number }[] {
  const out: { uid: string; event: string; ms: number }[] = [];
  for (const f of readdirSync(dir).filter((x) => x.startsWith('pod-trace.jsonl'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as { uid: string; event: string; ms: number });
      } catch {
        /* a line cut by a kill */
      }
    }
  }
  return out;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
