/**
 * bench/density: what a hollow edge node costs, side by side with KubeEdge's
 * own Edgemark (the hollow edgecore of the same release), on a private local
 * control plane. For each step (default 1,000, 2,000, 5,000 nodes) it runs the
 * nodes through the workers runtime (`--workers` processes), gives each node 10 pods
 * with the load driver's phases (namespaces, deployments, and scale fed
 * --pods-ahead ahead of the available pods) (at most --max-pods in all,
 * default 50,000; CloudCore delivers about 20 new pods a second on 2 cores, so
 * the 5,000 step alone takes over half an hour), holds a steady window and
 * samples the runner and every control-plane component from /proc. Before
 * that, on the clean control plane, it runs as many KubeEdge Edgemark
 * instances as asked (each in its own network and mount namespace) with the
 * same pods per node. It prints per node: RSS,
 * steady-state CPU, join rate, event-loop lag p99, and the ratio of KubeEdge's
 * Edgemark to ours; and writes JSON with the machine's facts to bench/results/.
 *
 *   node dist/bench/density.js [--steps 1000,2000,5000] [--pods-per-node 10]
 *        [--max-pods 50000] [--workers 2] [--peer-count 20] [--steady 60]
 *        [--join-rate 200] [--max-joining 200] [--pods-ahead 300] [--pods-deadline s]
 *        [--peer-binary path]
 *
 * Loopback only; every wait is bounded; Ctrl-C stops, writes what was
 * measured (marked partial) and removes what it started.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { resolvePins } from '../src/cluster/pins.js';
import { defaultCacheDir, packageRoot } from '../src/core/paths.js';
import { createLogger } from '../src/core/log.js';
import { pollUntil } from '../src/core/poll.js';
import { createRuntime, oneGroupPlan, type RunningFleet } from '../src/runtime/index.js';
import { resolveTarget } from '../src/target/target.js';
import { createKubeOps, RUN_LABEL } from '../src/workload/kube.js';
import { RunContext, type FleetControl, type KubeOps } from '../src/workload/context.js';
import { runPhase } from '../src/workload/phases/index.js';
import { testSchema } from '../src/run/config.js';
import { ResourceSeries } from '../src/run/measure.js';
import { procSources } from '../src/measure/sources.js';
import { isEdgemarkError } from '../src/core/errors.js';
import { k8s, loadKubeConfig } from '../src/kube/client.js';
import { GroupSampler, groupCpuSeconds, processTree, sampleGroups, type GroupUsage } from '../src/measure/procsample.js';
import { findEdgemarkBinary, startKubeEdgeEdgemark, type PeerFleet } from './lib/kubeedge-edgemark.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000,2000,5000' },
    'pods-per-node': { type: 'string', default: '10' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'peer-count': { type: 'string', default: '20' },
    /** Cap on the pods of a step (CloudCore on 2 cores delivers about 20 new pods/s). */
    'max-pods': { type: 'string', default: '50000' },
    steady: { type: 'string', default: '60' },
    'join-rate': { type: 'string', default: '200' },
    /** Seconds a step waits for its pods; then it is measured with those available (0: wait for all, bounded, else fail the step). */
    'pods-deadline': { type: 'string', default: '0' },
    /** Pods created ahead of those available (fed at CloudCore's delivery pace). */
    'pods-ahead': { type: 'string', default: '300' },
    /** Nodes joining at once per run (nodes run --max-joining): joins keep to the pace the control plane answers at. */
    'max-joining': { type: 'string', default: '200' },
    /** KubeEdge's edgemark to run as the peer (default: the one `edgemark setup --peers` built). */
    'peer-binary': { type: 'string' },
    out: { type: 'string', default: join(packageRoot(), 'bench', 'results') },
  },
});
const steps = values.steps
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const podsPerNode = Number(values['pods-per-node']);
const maxPods = Number(values['max-pods']);
const workers = Number(values.workers);
const peerCount = Number(values['peer-count']);
const steadyMs = Number(values.steady) * 1000;
const joinRate = Number(values['join-rate']);
const maxJoining = Number(values['max-joining']);
const podsAhead = Number(values['pods-ahead']);
const podsDeadlineMs = Number(values['pods-deadline']) * 1000;
if (!steps.length || [podsPerNode, workers, peerCount, steadyMs, joinRate, maxJoining, podsAhead, podsDeadlineMs].some((n) => !Number.isFinite(n) || n < 0)) {
  process.stderr.write(
    'usage: density.js [--steps 1000,2000,5000] [--pods-per-node 10] [--workers K] [--peer-count N] [--steady s] [--join-rate r] [--max-joining n] [--pods-ahead n] [--pods-deadline s]\n',
  );
  process.exit(2);
}

const ac = new AbortController();
process.on('SIGINT', () => {
  if (ac.signal.aborted) process.exit(130);
  log('SIGINT: stopping; writing what was measured (Ctrl-C again to force)');
  ac.abort();
});
const t0 = Date.now();
function log(s: string) {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
}
function aborted() {
  if (ac.signal.aborted) throw new Error('interrupted');
}
/** The shared poll (src/core/poll.ts): API errors are retried, Ctrl-C ends the wait. */
function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 2000): Promise<T> {
  return pollUntil(what, fn, { timeoutMs, intervalMs: everyMs, signal: ac.signal, retryErrors: true, prefix: '[bench]' });
}

interface StepResult {
  implementation: 'edgemark' | 'kubeedge-edgemark';
  nodes: number;
  /** Pods available during the steady window; podsTarget when --pods-deadline cut the pod phase short. */
  pods: number;
  podsTarget?: number;
  processes: number;
  joinSeconds: number;
  joinRatePerSec: number;
  /** Nodes that joined in this step (not reloaded from an earlier one). */
  newNodes: number;
  /** Runner CPU per joining node during the join phase (gross: the work of nodes already joined included), and what one core could join per second at that cost. */
  runnerCpuPerJoinMs?: number;
  runnerJoinsPerCoreSecond?: number;
  /** The same net of the steady-state CPU of the nodes already Ready (node-seconds of the join phase x steady CPU per node). */
  runnerNetCpuPerJoinMs?: number;
  /** Runner side of the join (bootstrap, TLS, websocket open): nodes connected per second, and the runner's CPU per node until the last one connected (the runner's own summary). */
  connectRatePerSec?: number;
  runnerCpuPerConnectMs?: number;
  /** How long the runner waited for a free slot of its join window (the control plane's pace). */
  joinWindowWaitSeconds?: number;
  /** CPU (cores) of each process group during the join phase: the busiest names the bottleneck. */
  joinPhaseCores: Record<string, number>;
  /** The same while the step's pods came up, and how many became available per second. */
  podPhaseCores?: Record<string, number>;
  podsPerSecond?: number;
  /** Seconds new pods were held back because some nodes waited for a lease answer (CloudCore's dispatcher saturated). */
  podsHeldSeconds?: number;
  podsRunningSeconds: number;
  runner: GroupUsage;
  rssPerNodeKiB: number;
  /** The same by PSS: pages shared between the processes (the Node or Go binary) counted once. */
  pssPerNodeKiB: number;
  coresPerNode: number;
  nodesPerCore: number;
  eventLoopLagP99Ms?: number;
  ackLatencyP99Ms?: number;
  controlPlane: Record<string, GroupUsage>;
}

const results: StepResult[] = [];
const stateDir = mkdtempSync(join(tmpdir(), 'em-density-'));
// Runner and peer logs outlive the private cluster's state.
const logDir = mkdtempSync(join(tmpdir(), 'em-density-logs-'));
const maxNodes = Math.max(...steps) + peerCount + 100;
let runner: RunningFleet | undefined;
let peer: PeerFleet | undefined;
let partial = false;

function goVersion(): string {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

const facts = {
  date: new Date().toISOString(),
  cores: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  go: goVersion(),
  openFileLimit: /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1],
  versions: Object.fromEntries(Object.entries(resolvePins({})).map(([k, p]) => [k, p.version])),
  settings: {
    steps,
    podsPerNode,
    maxPods,
    workers,
    peerCount,
    steadySeconds: steadyMs / 1000,
    joinRate,
    maxJoining,
    podsAhead,
    podsDeadlineSeconds: podsDeadlineMs / 1000,
    peerBinary: values['peer-binary'] ?? 'edgemark-startfix of edgemark setup --peers',
  },
};

log(`private control plane (node limit ${maxNodes}) in ${stateDir}; peer logs in ${logDir}`);
const state = await clusterUp({ stateDir, cacheDir: defaultCacheDir(), ports: 'auto', nodeLimit: maxNodes, signal: ac.signal });
const kc = loadKubeConfig(state.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const componentGroups = Object.fromEntries(Object.entries(state.components).map(([name, rec]) => [name, () => (rec ? [rec.pid] : [])])) as Record<
  string,
  () => number[]
>;

/**
 * The Kubernetes side of a step goes through the load driver's operations
 * (src/workload/kube.ts), as the run's phases do: a step's nodes, namespace,
 * Deployment and pods carry edgemark.io/run=<label>, and the Deployment's pods
 * select those nodes.
 */
const opsOf = new Map<string, KubeOps>();
function ops(label: string): KubeOps {
  const o = opsOf.get(label) ?? createKubeOps(kc, { runId: label });
  opsOf.set(label, o);
  return o;
}

async function readyNodes(label: string): Promise<number> {
  const list = await core.listNode({ labelSelector: `${RUN_LABEL}=${label}` });
  return list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

/**
 * A step's pod workload is the run's phases (src/workload/phases) over a
 * RunContext of the step: its nodes, a deadline for its pod phases, and its
 * fleet. The namespace is `<label>-0`, the Deployment `deploy-0`.
 */
function stepContext(o: {
  label: string;
  nodes: number;
  timeoutSeconds: number;
  fleet: FleetControl;
  nodesReady: () => number;
  pids: () => number[];
}): RunContext {
  const test = testSchema.parse({
    apiVersion: 'edgemark.io/v1alpha1',
    kind: 'LoadTest',
    metadata: { name: 'density' },
    spec: { nodes: { count: o.nodes, prefix: `${o.label}-`, joinRate }, timeoutSeconds: o.timeoutSeconds, phases: [{ kind: 'nodesUp' }] },
  });
  const series = new ResourceSeries(procSources({ runner: o.pids, ...componentGroups }), Date.now());
  return new RunContext({
    runId: o.label,
    test,
    log: createLogger({ level: 'info', prefix: '[bench]' }),
    signal: ac.signal,
    kube: ops(o.label),
    fleet: o.fleet,
    resources: {
      sample: async () => {
        await series.sample();
      },
      get points() {
        return series.points;
      },
    },
    nodesReady: o.nodesReady,
    // A stall of the control plane is measured (with the pods it delivered), after this long without progress.
    stallMs: 300_000,
  });
}

/** The hollow nodes of a bench step, started when the step's context asks (`up`), on the workers runtime. */
class StepFleet implements FleetControl {
  running: RunningFleet | undefined;
  private stoppedBy: string | undefined;
  private stopping = false;

  constructor(private readonly start: () => Promise<RunningFleet>) {}

  async up(): Promise<void> {
    const f = await this.start();
    this.running = f;
    runner = f;
    f.on((e) => {
      if (e.type === 'fatal') this.stoppedBy ??= `the runner stopped: ${e.error.message}`;
    });
    void f.done.then((r) => {
      if (!this.stopping) this.stoppedBy ??= `the runner ended early${r.fatal ? `: ${r.fatal.message}` : ''}`;
    });
  }

  async down(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    const { problems } = await this.running.stop();
    for (const p of problems) log(`warning: not cleaned up: ${p}`);
    this.running = undefined;
    runner = undefined;
  }

  failure(): string | undefined {
    return this.stoppedBy;
  }
}

async function availablePods(label: string): Promise<number> {
  return (await ops(label).listDeployments()).reduce((a, d) => a + d.available, 0);
}

async function removeStep(ns: string, label: string): Promise<void> {
  const o = ops(label);
  await o.deleteNamespace(ns).catch(() => undefined);
  for (const name of await o.listNodes()) {
    await o.deleteNode(name).catch(() => undefined);
    await o.deleteNodeLease(name).catch(() => undefined);
  }
  // Pods bound to deleted nodes are collected by the pod GC; wait until the step's pods are gone.
  await until(`the pods of ${ns} to be deleted`, async () => ((await o.listPods()).length === 0 ? true : undefined), 600_000, 3000).catch((e: Error) =>
    log(`warning: ${e.message}`),
  );
}

function cores(u: Record<string, { cores: number }>): Record<string, number> {
  return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, Math.round(v.cores * 100) / 100]));
}

function perNode(r: Omit<StepResult, 'rssPerNodeKiB' | 'pssPerNodeKiB' | 'coresPerNode' | 'nodesPerCore'>): StepResult {
  return {
    ...r,
    rssPerNodeKiB: Math.round(r.runner.rssBytes / r.nodes / 1024),
    pssPerNodeKiB: Math.round(r.runner.pssBytes / r.nodes / 1024),
    coresPerNode: r.runner.cores / r.nodes,
    nodesPerCore: r.runner.cores > 0 ? Math.round(r.nodes / r.runner.cores) : Infinity,
  };
}

/**
 * Our steps are cumulative: one runner data directory and one Deployment.
 * Each step restarts the runner with more nodes (node g stays on worker
 * g mod K, so the nodes it had reload their pods from the store), scales the
 * Deployment to nodes x pods-per-node, and samples a steady window.
 */
const label = 'em';
const dataDir = join(stateDir, 'runner');
let deployed = false;

async function ourStep(n: number): Promise<void> {
  const w = Math.max(1, Math.min(workers, n));
  log(`edgemark: ${n} nodes on ${w} worker process(es), joining at ${joinRate}/s`);
  // Worker processes even for one: the runner's CPU and memory are its own, apart from this script's.
  const target = resolveTarget({}, stateDir);
  const plan = oneGroupPlan({
    target,
    count: n,
    prefix: `${label}-`,
    joinRate,
    maxJoining,
    profile: { labels: { [RUN_LABEL]: label } },
    dataDir,
    durationSeconds: 7200,
  });
  const control = new StepFleet(async () =>
    createRuntime('workers', { workers: w }).start(plan, { token: await target.token() }, { log: createLogger({ level: 'warn', prefix: `[runner ${n}] ` }) }),
  );
  const podsWait = podsDeadlineMs > 0 ? podsDeadlineMs : 300_000 + Math.min(n * podsPerNode, maxPods) * 150;
  await control.up();
  const fleet = control.running!;
  const readSummary = () => fleet.latest();
  const runnerPids = () => fleet.processes().flatMap((pid) => processTree(pid));
  const newNodes = n - (results.filter((r) => r.implementation === 'edgemark').at(-1)?.nodes ?? 0);
  const joinSampler = new GroupSampler({ runner: () => runnerPids(), ...componentGroups });
  try {
    // Node-seconds of Ready nodes during the join phase, to separate their steady work from the joins'.
    let nodeSeconds = 0;
    let lastAt = Date.now();
    let lastJoined = 0;
    const joined = await until(
      `${n} nodes Ready`,
      async () => {
        const s = readSummary();
        const now = Date.now();
        nodeSeconds += (lastJoined * (now - lastAt)) / 1000;
        lastAt = now;
        lastJoined = s?.joined ?? lastJoined;
        return s && s.joined >= n ? s : undefined;
      },
      120_000 + (n / 5) * 1000,
    );
    const joinCpu = joinSampler.read();
    await until(`${n} nodes Ready in the API`, async () => ((await readyNodes(label)) >= n ? true : undefined), 300_000);
    const joinSeconds = joined.joinDurationMs / 1000;
    const cpuPerJoinMs = (joinCpu.runner!.cpuSeconds / newNodes) * 1000;
    log(
      `  join phase: runner ${cpuPerJoinMs.toFixed(1)} ms CPU per new node; cores: ${Object.entries(joinCpu)
        .map(([k, v]) => `${k} ${v.cores.toFixed(2)}`)
        .join(', ')}`,
    );
    let pods = Math.min(n * podsPerNode, maxPods);
    log(`  ${n} Ready in ${joinSeconds.toFixed(1)} s (${joined.joinRatePerSec}/s runner-side); scaling to ${pods} pods`);
    const podsAt = Date.now();
    const podSampler = new GroupSampler({ runner: () => runnerPids(), ...componentGroups });
    const podsBefore = deployed ? await availablePods(label) : 0;
    // Pods are fed at the pace CloudCore delivers them: at most --pods-ahead
    // more than are available (the scale phase's `ahead`). CloudCore hands every
    // message to the edge through one dispatcher that writes an ObjectSync
    // (create, then status) for each new pod before the next message, lease
    // answers included; a backlog of thousands of pods there would hold the
    // nodes' lease answers for minutes and make the step measure that queue
    // instead. At 5,000 nodes even 300 ahead saturated it, so the feed holds
    // while any node waits for its lease answer (Ready in the runner's view).
    const podsCtx = stepContext({
      label,
      nodes: n,
      timeoutSeconds: Math.ceil(podsWait / 1000),
      fleet: control,
      nodesReady: () => readSummary()?.states.ready ?? 0,
      pids: runnerPids,
    });
    let available = podsBefore;
    const complete = await (async () => {
      if (!deployed) {
        await runPhase(podsCtx, { kind: 'namespaces', count: 1 });
        await runPhase(podsCtx, { kind: 'deployments', perNamespace: 1, replicas: Math.min(pods, podsAhead), qps: 20 });
        deployed = true;
      }
      await runPhase(podsCtx, { kind: 'scale', replicas: pods, qps: 20, ahead: podsAhead });
      available = await availablePods(label);
      return available >= pods;
    })().catch(async (e: unknown) => {
      if (podsDeadlineMs <= 0 || ac.signal.aborted || !isEdgemarkError(e) || e.code !== 'EM_RUN_TIMEOUT') throw e;
      // --pods-deadline: measure with the pods the control plane made available
      // by then, and stop feeding it so that the window is steady.
      available = await availablePods(label);
      await runPhase(stepContext({ label, nodes: n, timeoutSeconds: 600, fleet: control, nodesReady: () => n, pids: runnerPids }), {
        kind: 'scale',
        replicas: available,
        qps: 20,
      }).catch((err: Error) => log(`warning: ${err.message}`));
      log(`  pods deadline (${podsDeadlineMs / 1000} s): ${available} of ${pods} pods available; measuring with those`);
      return false;
    });
    const heldSeconds = Math.round(podsCtx.heldMs / 100) / 10;
    const podsTarget = pods;
    pods = complete ? pods : available;
    const podsRunningSeconds = (Date.now() - podsAt) / 1000;
    const podCpu = podSampler.read();
    const podsPerSecond = Math.round(((available - podsBefore) / podsRunningSeconds) * 10) / 10;
    log(
      `  pods available after ${podsRunningSeconds.toFixed(0)} s (${podsPerSecond}/s); cores: ${Object.entries(podCpu)
        .map(([k, v]) => `${k} ${v.cores.toFixed(2)}`)
        .join(', ')}; steady window ${steadyMs / 1000} s`,
    );
    const usage = await sampleGroups({ runner: () => runnerPids(), ...componentGroups }, steadyMs);
    const s = readSummary()!;
    const { runner: r, ...cp } = usage;
    const netCpuPerJoinMs = ((joinCpu.runner!.cpuSeconds - (r!.cores / n) * nodeSeconds) / newNodes) * 1000;
    log(`  join phase net of the Ready nodes' steady work (${Math.round(nodeSeconds)} node-seconds): ${netCpuPerJoinMs.toFixed(1)} ms per new node`);
    results.push(
      perNode({
        implementation: 'edgemark',
        nodes: n,
        pods,
        ...(pods < podsTarget ? { podsTarget } : {}),
        processes: runnerPids().length,
        joinSeconds,
        joinRatePerSec: joined.joinRatePerSec,
        newNodes,
        runnerCpuPerJoinMs: Math.round(cpuPerJoinMs * 10) / 10,
        runnerNetCpuPerJoinMs: Math.round(netCpuPerJoinMs * 10) / 10,
        connectRatePerSec: joined.connectRatePerSec,
        runnerCpuPerConnectMs: joined.connected ? Math.round((joined.connectCpuMs / joined.connected) * 10) / 10 : undefined,
        runnerJoinsPerCoreSecond: Math.round(1000 / cpuPerJoinMs),
        joinPhaseCores: cores(joinCpu),
        joinWindowWaitSeconds: Math.round(joined.joinWindow.waitedMs / 100) / 10,
        podPhaseCores: cores(podCpu),
        podsPerSecond,
        podsHeldSeconds: heldSeconds,
        podsRunningSeconds,
        runner: r!,
        eventLoopLagP99Ms: s.eventLoopLagMs.p99,
        ackLatencyP99Ms: s.ackLatencyMs.p99,
        controlPlane: cp,
      }),
    );
    log(`  runner ${(r!.cores).toFixed(2)} cores, ${(r!.rssBytes / 2 ** 20).toFixed(0)} MiB; lag p99 ${s.eventLoopLagMs.p99} ms`);
  } finally {
    await control.down();
  }
}

async function peerStep(count: number): Promise<void> {
  const binary = values['peer-binary'] ?? findEdgemarkBinary(defaultCacheDir());
  if (!binary) {
    log("KubeEdge's edgemark (edgemark-startfix) is not built: run `edgemark setup --peers`; skipping the peer");
    return;
  }
  const label = 'ke-peer';
  const secret = await core.readNamespacedSecret({ name: 'tokensecret', namespace: 'kubeedge' });
  const token = Buffer.from(secret.data!.tokendata!, 'base64').toString();
  log(`KubeEdge edgemark: ${count} instances`);
  const started = Date.now();
  const workDir = join(logDir, 'peer');
  mkdirSync(workDir, { recursive: true });
  const peerPids: { current: () => number[] } = { current: () => [] };
  const joinSampler = new GroupSampler({ runner: () => peerPids.current(), ...componentGroups });
  // KubeEdge's edgemark reports no failure of its own: the waits below bound it.
  const control: FleetControl = {
    up: async () => {
      peer = await startKubeEdgeEdgemark({
        binary,
        count,
        token,
        wsPort: state.ports.cloudhubWebsocket,
        httpsPort: state.ports.cloudhubHttps,
        workDir,
        prefix: 'ke-edgemark-',
        labels: { [RUN_LABEL]: label },
        log: (l) => log(`  peer: ${l}`),
      });
    },
    down: async () => {
      await peer?.stop();
      peer = undefined;
    },
    failure: () => undefined,
  };
  // The peer's pods are the same phases as ours, bounded by 100 s.
  const ctx = stepContext({ label, nodes: count, timeoutSeconds: 100, fleet: control, nodesReady: () => count, pids: () => peer?.pids() ?? [] });
  await control.up(ctx);
  peerPids.current = () => peer?.pids() ?? [];
  try {
    await until(`${count} KubeEdge edgemark nodes Ready`, async () => ((await readyNodes(label)) >= count ? true : undefined), 300_000);
    const joinSeconds = (Date.now() - started) / 1000;
    const joinCpu = joinSampler.read();
    // The peer's processes started before the sampler could see them: their whole CPU so far is the join's.
    const peerJoinCpu = peerPids.current().reduce((a, p) => a + groupCpuSeconds([p]), 0);
    const cpuPerJoinMs = (peerJoinCpu / count) * 1000;
    log(`  ${count} Ready in ${joinSeconds.toFixed(1)} s; ${count * podsPerNode} pods`);
    const podsAt = Date.now();
    // The peer's own behaviour decides how many of its pods come up; the
    // bench measures it either way, and records how many did.
    await (async () => {
      await runPhase(ctx, { kind: 'namespaces', count: 1 });
      await runPhase(ctx, { kind: 'deployments', perNamespace: 1, replicas: count * podsPerNode, qps: 20 });
    })().catch((e: unknown) => {
      if (!isEdgemarkError(e) || e.code !== 'EM_RUN_TIMEOUT') throw e;
      log(`  peer: ${e.message}; measuring anyway`);
    });
    const podsAvailable = await availablePods(label);
    const podsRunningSeconds = (Date.now() - podsAt) / 1000;
    const usage = await sampleGroups({ runner: () => peer!.pids(), ...componentGroups }, steadyMs);
    const { runner: r, ...cp } = usage;
    results.push(
      perNode({
        implementation: 'kubeedge-edgemark',
        nodes: count,
        pods: podsAvailable,
        processes: count,
        joinSeconds,
        joinRatePerSec: Math.round((count / joinSeconds) * 10) / 10,
        newNodes: count,
        runnerCpuPerJoinMs: Math.round(cpuPerJoinMs * 10) / 10,
        runnerJoinsPerCoreSecond: Math.round(1000 / cpuPerJoinMs),
        joinPhaseCores: cores(joinCpu),
        podsRunningSeconds,
        runner: r!,
        controlPlane: cp,
      }),
    );
    log(`  peer ${(r!.cores).toFixed(2)} cores, ${(r!.rssBytes / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await control.down();
    await removeStep(`${label}-0`, label);
  }
}

function table(): string {
  const ours = results.filter((r) => r.implementation === 'edgemark');
  const theirs = results.find((r) => r.implementation === 'kubeedge-edgemark');
  const lines = [
    '| implementation | nodes | pods | RSS (PSS) per node | CPU per node (millicores) | nodes per core | Ready per s | connected per s | runner CPU per join (gross / net) | joins per core-second (net) | event-loop lag p99 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const net = r.runnerNetCpuPerJoinMs ?? r.runnerCpuPerJoinMs;
    lines.push(
      `| ${r.implementation} | ${r.nodes} | ${r.pods}${r.podsTarget ? ` of ${r.podsTarget}` : ''} | ${r.rssPerNodeKiB} (${r.pssPerNodeKiB}) KiB | ${(r.coresPerNode * 1000).toFixed(3)} | ${r.nodesPerCore} | ${r.joinRatePerSec} | ${r.connectRatePerSec ?? '-'} | ${r.runnerCpuPerJoinMs ?? '-'} / ${net ?? '-'} ms | ${net ? Math.round(1000 / net) : '-'} | ${r.eventLoopLagP99Ms !== undefined ? `${r.eventLoopLagP99Ms} ms` : 'n/a'} |`,
    );
  }
  if (ours.length >= 2) {
    const [a, b] = [ours[0]!, ours[ours.length - 1]!];
    const marginal = (b.runner.rssBytes - a.runner.rssBytes) / (b.nodes - a.nodes) / 1024;
    lines.push('', `marginal RSS per added node (${a.nodes} -> ${b.nodes}): ${Math.round(marginal)} KiB`);
  }
  if (theirs && ours.length) {
    const big = ours[ours.length - 1]!;
    lines.push(
      '',
      `KubeEdge edgemark / edgemark (at ${big.nodes} nodes): RSS per node x${(theirs.rssPerNodeKiB / big.rssPerNodeKiB).toFixed(1)} (PSS x${(theirs.pssPerNodeKiB / big.pssPerNodeKiB).toFixed(1)}), ` +
        `CPU per node x${(theirs.coresPerNode / big.coresPerNode).toFixed(1)}, runner CPU per join x${((theirs.runnerCpuPerJoinMs ?? 0) / (ours[0]!.runnerCpuPerJoinMs ?? 1)).toFixed(1)} (gross, at ${ours[0]!.nodes}), ` +
        `observed join rate: ours x${(ours[0]!.joinRatePerSec / theirs.joinRatePerSec).toFixed(1)}`,
    );
  }
  return lines.join('\n');
}

try {
  // The peer first, on a clean control plane; then ours, cumulatively.
  if (peerCount > 0) await peerStep(peerCount);
  for (const n of steps) {
    aborted();
    await ourStep(n);
  }
} catch (err) {
  partial = true;
  log(`stopped early: ${(err as Error).message}`);
} finally {
  await runner?.stop();
  await peer?.stop();
  const out = { facts, partial, results };
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `density-${facts.date.slice(0, 19).replace(/[:T]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${table()}\n\nresults: ${file}${partial ? ' (partial)' : ''}\n`);
  await clusterDown({ stateDir, purge: true });
  rmSync(stateDir, { recursive: true, force: true });
}
