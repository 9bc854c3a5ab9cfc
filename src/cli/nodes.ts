/**
 * `edgemark nodes run`: N hollow nodes against a real control plane (the local
 * cluster's by default, or an existing one), through a runtime (this process
 * or local worker processes), with a live line and a summary. The flags build
 * a FleetPlan; `--dry-run` prints it and what would start, and `--plan` runs
 * one from a file.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { parse as parseYaml, stringify } from 'yaml';
import { splitHostPort } from '../core/address.js';
import { EdgemarkError, errorFromJson } from '../core/errors.js';
import { formatBytes, formatDuration, type Logger } from '../core/log.js';
import { defaultNodeProfile, type NodeProfile } from '../edge/edged/objects.js';
import { liveLine, stateList, type FleetSummary } from '../fleet/summary.js';
import { createRuntime, oneGroupPlan, parsePlan, planNodeCount, runtimeNames, type FleetPlan, type Runtime } from '../runtime/index.js';
import { stagesOf } from '../runtime/shard.js';
import { FaultDriver, type ControlPlaneFaults } from '../faults/driver.js';
import { localControlPlaneFaults } from '../run/controlplane.js';
import { parseFaultFlag, planFaults, type FaultSpec, type PlannedFault } from '../faults/spec.js';
import { checkNodeLimit, resolveTarget, type Target, type TargetFlags } from '../target/target.js';
import { join } from 'node:path';
import { cliContext, interruptible, parseNonNegativeInt, parsePositiveInt } from './context.js';
import { kubernetesOptions, NODES_RUN_PORT, podOptions, type PodFlags } from './pod-flags.js';

interface NodesFlags extends TargetFlags, PodFlags {
  count?: number;
  prefix: string;
  joinRate: number;
  maxJoining: number;
  duration?: number;
  dataDir?: string;
  summaryJson?: string;
  recordFrames?: string;
  stages?: string[];
  cpu: string;
  memory: string;
  pods: string;
  ephemeralStorage: string;
  labels?: Record<string, string>;
  taints?: NodeProfile['taints'];
  timings?: Record<string, number>;
  workers?: number;
  runtime?: string;
  metrics: string | false;
  plan?: string;
  dryRun?: boolean;
  kind: 'edge' | 'kubelet';
  shape?: 'kubemark' | 'kubelet';
  proxy?: 'per-node' | 'off';
  npd?: boolean;
  requireHostPort?: boolean;
  fault?: FaultSpec[];
}

function collectFault(v: string, prev: FaultSpec[] = []): FaultSpec[] {
  try {
    return [...prev, parseFaultFlag(v)];
  } catch (err) {
    throw new InvalidArgumentError(`--fault ${v}: ${(err as Error).message}`);
  }
}

function parseKind(v: string): 'edge' | 'kubelet' {
  if (v !== 'edge' && v !== 'kubelet')
    throw new InvalidArgumentError(`--kind is edge (a KubeEdge edgecore) or kubelet (a kubelet 1.32 talking to kube-apiserver), not "${v}"`);
  return v;
}

function parseShape(v: string): 'kubemark' | 'kubelet' {
  if (v !== 'kubemark' && v !== 'kubelet')
    throw new InvalidArgumentError(`--shape is kubemark (as cmd/kubemark's hollow node) or kubelet (a real-looking node), not "${v}"`);
  return v;
}

function parseProxy(v: string): 'per-node' | 'off' {
  if (v !== 'per-node' && v !== 'off') throw new InvalidArgumentError(`--proxy is per-node or off, not "${v}"`);
  return v;
}

export function parseHostPort(flag: string): (v: string) => string {
  return (v) => {
    const hp = splitHostPort(v);
    if (!hp || hp.port < 1 || hp.port > 65535) {
      throw new InvalidArgumentError(`${flag} takes host:port (for example 127.0.0.1:10000), not "${v}"`);
    }
    return v;
  };
}

/** host:port, or several comma-separated. */
export function parseHostPorts(flag: string): (v: string) => string {
  const one = parseHostPort(flag);
  return (v) =>
    v
      .split(',')
      .map((s) => one(s.trim()))
      .join(',');
}

export function parseLabels(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of v.split(',').filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(pair);
    if (!m) throw new InvalidArgumentError(`--labels takes key=value[,key=value], and "${pair}" is not one`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

export function parseTaints(v: string): NodeProfile['taints'] {
  return v
    .split(',')
    .filter(Boolean)
    .map((t) => {
      const m = /^([A-Za-z0-9./_-]+)(?:=([A-Za-z0-9._-]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(t);
      if (!m) throw new InvalidArgumentError(`--taints takes key[=value]:Effect (NoSchedule, PreferNoSchedule or NoExecute), and "${t}" is not one`);
      return { key: m[1]!, ...(m[2] !== undefined ? { value: m[2] } : {}), effect: m[3] as NodeProfile['taints'][number]['effect'] };
    });
}

/** key=milliseconds[,key=...]: overrides of the node kind's timings. */
export function parseTimings(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pair of v.split(',').filter(Boolean)) {
    const m = /^([A-Za-z]+)=(\d+(\.\d+)?)$/.exec(pair);
    if (!m) throw new InvalidArgumentError(`--timings takes name=number[,name=number] (for example leaseRenewMs=10000), and "${pair}" is not one`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function parseRate(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--join-rate takes nodes per second above 0, not "${v}"`);
  return n;
}

function parsePrefix(v: string): string {
  if (!/^[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9.-])?$/.test(v)) {
    throw new InvalidArgumentError(`--prefix must be lowercase letters, digits, "-" or "." (a node name is <prefix><index>), not "${v}"`);
  }
  return v;
}

export function parseRuntimeName(v: string): string {
  if (!runtimeNames().includes(v)) throw new InvalidArgumentError(`--runtime takes one of ${runtimeNames().join(', ')}, not "${v}"`);
  return v;
}

/** The target flags every verb that runs nodes takes. */
export function targetOptions(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'an existing cluster under test (default: the local cluster); needs --cloudcore')
    .option(
      '--cloudcore <host:port,...>',
      "CloudHub's websocket address(es) (default: the local cluster's); nodes spread over several",
      parseHostPorts('--cloudcore'),
    )
    .option(
      '--cloudcore-https <host:port>',
      "CloudHub's certificate server (default: the CloudCore's host, port 10002, or the local cluster's)",
      parseHostPort('--cloudcore-https'),
    )
    .option('--token <token>', 'join token (default: read from secret kubeedge/tokensecret of the target); never logged')
    .option('--token-file <file>', 'read the join token from this file')
    .option(
      '--bootstrap-token <id.secret>',
      'kubelet nodes: the bootstrap token to get their certificates with (default: make one through the kubeconfig); never logged',
    )
    .option('--bootstrap-token-file <file>', 'kubelet nodes: read the bootstrap token from this file')
    .option(
      '--node-kubeconfig <file|dir>',
      'kubelet nodes: a given identity instead of TLS bootstrap: a kubeconfig all nodes share, or a directory with <node>.kubeconfig per node',
    );
}

export function registerNodes(program: Command): void {
  const nodes = program.command('nodes').description('hollow nodes that speak their real protocol to a real control plane');
  const run = nodes
    .command('run')
    .description('run N hollow edge nodes until Ctrl-C (or --duration)')
    .option('-n, --count <n>', 'how many nodes', parsePositiveInt('--count'))
    .option('--prefix <p>', 'node names are <prefix><index> (default hollow-edge-, or hollow-kubelet- with --kind kubelet)', parsePrefix)
    .option('--kind <kind>', 'edge: KubeEdge edgecore 1.23 through CloudCore; kubelet: kubelet 1.32 straight to kube-apiserver', parseKind, 'edge')
    .option('--shape <shape>', 'kubelet nodes: kubemark (1 CPU, 3840Mi, 110 pods, as cmd/kubemark) or kubelet (a real-looking node)', parseShape)
    .option('--proxy <mode>', 'kubelet nodes: a hollow kube-proxy per node (per-node) or none (off, default)', parseProxy)
    .option('--npd', "kubelet nodes: a hollow node-problem-detector's status heartbeat every 5 minutes")
    .option('--require-host-port', "kubelet nodes: admit a pod only when each container port has a hostPort equal to it (EdgeSite's rule)");
  podOptions(targetOptions(run))
    .option('--join-rate <r>', 'nodes started per second', parseRate, 50)
    .option(
      '--max-joining <n>',
      'nodes joining at once (started, not yet Ready); the next starts when one is Ready, so joins keep to the pace CloudCore answers at (0: no limit)',
      parseNonNegativeInt('--max-joining', 'no limit'),
      200,
    )
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositiveInt('--duration'))
    .option('--data-dir <dir>', "node certificates and the runner's store, edge.db (default: <state-dir>/runner)")
    .option('--summary-json <file>', 'write the summary as JSON to this file (rewritten every 2 s while running)')
    .option('--stages <path...>', 'extra PodLifecycle files or directories (YAML), on top of the built-in stages/')
    .option('--record-frames <file>', 'append a sample of the frames CloudCore sends (two per kind) to a JSONL file')
    .option('--cpu <q>', 'node capacity: cpu', defaultNodeProfile.cpu)
    .option('--memory <q>', 'node capacity: memory', defaultNodeProfile.memory)
    .option('--pods <n>', 'node capacity: pods', defaultNodeProfile.pods)
    .option('--ephemeral-storage <q>', 'node capacity: ephemeral-storage', defaultNodeProfile.ephemeralStorage)
    .option('--labels <k=v,...>', 'extra node labels', parseLabels)
    .option('--taints <k=v:Effect,...>', 'node taints', parseTaints)
    .option('--timings <name=ms,...>', 'override node timings (see docs/architecture.md; e.g. leaseRenewMs=10000)', parseTimings)
    .option('--workers <k>', 'spread the nodes over K worker processes (one summary, one /metrics); implies --runtime workers', parsePositiveInt('--workers'))
    .option('--runtime <name>', `where the nodes run: ${runtimeNames().join(', ')} (default inprocess, or workers with --workers)`, parseRuntimeName)
    .option(
      '--metrics <host:port>',
      'serve Prometheus metrics of the runner at http://<host:port>/metrics (loopback; port 0 picks a free one)',
      parseHostPort('--metrics'),
      '127.0.0.1:0',
    )
    .option('--no-metrics', 'do not serve /metrics')
    .option(
      '--fault <spec>',
      'a fault, at=<s> after all nodes are Ready: partition=out|in|both, latency=<ms>,jitter=<ms>,loss=<0..1>,rate=<3Mbit>,flap=<down>/<every>, disconnect=backoff|none, or kill=<component>[/SIGTERM]; with duration=<s> and group=, count= or percent= (repeatable)',
      collectFault,
    )
    .option('--plan <file>', 'run this FleetPlan (YAML or JSON, as --dry-run prints it) instead of building one from the flags')
    .option('--dry-run', 'print the plan and what would start; start nothing, read no token')
    .action(async (opts: NodesFlags, cmd: Command) => {
      const { log, stateDir, cacheDir } = cliContext(cmd);
      const target = resolveTarget({ ...opts, needsCloudcore: opts.kind !== 'kubelet' }, stateDir);
      const plan = opts.plan ? planFromFile(opts.plan, cmd) : planFromFlags(opts, target, stateDir, cmd);
      checkNodeLimit(
        target,
        plan.groups.filter((g) => g.kind === 'edge').reduce((a, g) => a + g.count, 0),
        'nodes',
      );
      // Bad stage files are refused before anything starts (each runner process compiles them again).
      stagesOf(plan.stagePaths);
      const runtime = runtimeFor(opts);
      const faults = planFaults(opts.fault ?? [], plan.groups);
      if (opts.dryRun) {
        printDryRun(runtime, plan, target);
        for (const f of faults)
          process.stdout.write(
            `# fault ${f.name}: ${f.description} on ${f.nodes.length} node(s), ${f.atMs / 1000} s after all are Ready, for ${f.durationMs / 1000} s\n`,
          );
        return;
      }
      if (faults.some((f) => f.kill) && !target.local) {
        throw new EdgemarkError(
          'EM_FAULT_INVALID',
          '[nodes] a kill fault stops and starts a component of the local control plane; the target is not the local cluster',
          'run against the local cluster, or drop the kill faults',
        );
      }
      const controlPlane = target.local ? localControlPlaneFaults(stateDir, cacheDir, log) : undefined;
      const summary = await runPlan(runtime, plan, target, log, opts.summaryJson, faults, controlPlane);
      printSummary(log, summary);
      if (opts.summaryJson) writeSummary(opts.summaryJson, summary);
      if (summary.fatal) throw errorFromJson(summary.fatal);
    });
}

function runtimeFor(opts: NodesFlags): Runtime {
  const name = opts.runtime ?? (opts.workers ? 'workers' : 'inprocess');
  if (opts.workers && name !== 'workers')
    throw new EdgemarkError('EM_BAD_FLAG', `[nodes] --workers goes with --runtime workers, not ${name}`, 'leave --runtime out, or drop --workers');
  return createRuntime(name, {
    ...(opts.workers ? { workers: opts.workers } : {}),
    // `nodes run --runtime kubernetes`: the fleet edgemark-nodes in namespace edgemark of the external cluster, deleted when the run stops.
    ...(name === 'kubernetes' ? { kubernetes: kubernetesOptions(opts, 'edgemark-nodes', NODES_RUN_PORT) } : {}),
  });
}

/** Flags that build the plan, refused beside --plan (the plan says it all). */
const planFlags = [
  'count',
  'prefix',
  'joinRate',
  'maxJoining',
  'duration',
  'dataDir',
  'recordFrames',
  'stages',
  'cpu',
  'memory',
  'pods',
  'ephemeralStorage',
  'labels',
  'taints',
  'timings',
  'metrics',
  'kubeconfig',
  'cloudcore',
  'cloudcoreHttps',
  'kind',
  'shape',
  'proxy',
  'npd',
  'requireHostPort',
];

function planFromFile(file: string, cmd: Command): FleetPlan {
  const clash = planFlags.filter((f) => cmd.getOptionValueSource(f) === 'cli');
  if (clash.length)
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      `[nodes] --plan says what to run; --${clash.map(kebab).join(', --')} cannot go with it`,
      'edit the plan file instead, or leave --plan out',
    );
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] cannot read ${file}: ${(err as Error).message}`,
      'pass a FleetPlan in YAML or JSON, as `edgemark nodes run --dry-run` prints one',
      { cause: err },
    );
  }
  return parsePlan(raw);
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function planFromFlags(opts: NodesFlags, target: Target, stateDir: string, cmd?: Command): FleetPlan {
  if (!opts.count) throw new EdgemarkError('EM_BAD_FLAG', '[nodes] how many nodes? --count is missing', 'pass -n <count>, or --plan <file>');
  const kubelet = opts.kind === 'kubelet';
  if (!kubelet && (opts.shape || opts.proxy || opts.npd || opts.requireHostPort)) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      '[nodes] --shape, --proxy, --npd and --require-host-port are for kubelet nodes',
      'add --kind kubelet, or leave them out',
    );
  }
  // A kubelet node's shape gives its capacity; only what the user set overrides it.
  const given = (k: 'cpu' | 'memory' | 'pods' | 'ephemeralStorage') => !kubelet || cmd?.getOptionValueSource(k) === 'cli';
  const capacity = Object.fromEntries((['cpu', 'memory', 'pods', 'ephemeralStorage'] as const).filter(given).map((k) => [k, opts[k]]));
  return oneGroupPlan({
    target: {
      name: target.name,
      cloudcore: target.cloudcore,
      apiserver: target.apiserver,
      ...(kubelet && target.apiserverCa ? { apiserverCa: target.apiserverCa } : {}),
    },
    count: opts.count,
    prefix: opts.prefix ?? (kubelet ? 'hollow-kubelet-' : 'hollow-edge-'),
    kind: opts.kind,
    profile: {
      ...capacity,
      labels: opts.labels ?? {},
      taints: opts.taints ?? [],
      ...(opts.shape ? { shape: opts.shape } : {}),
      ...(opts.proxy ? { proxy: opts.proxy } : {}),
      ...(opts.npd ? { npd: true } : {}),
      ...(opts.requireHostPort ? { requireHostPort: true } : {}),
    },
    timings: opts.timings ?? {},
    joinRate: opts.joinRate,
    maxJoining: opts.maxJoining,
    stagePaths: opts.stages ?? [],
    dataDir: opts.dataDir ?? join(stateDir, 'runner'),
    metrics: opts.metrics,
    ...(opts.recordFrames ? { recordFrames: opts.recordFrames } : {}),
    ...(opts.duration ? { durationSeconds: opts.duration } : {}),
  });
}

function printDryRun(runtime: Runtime, plan: FleetPlan, target: Target): void {
  const d = runtime.dryRun(plan);
  process.stdout.write(`# dry run: nothing started, no token read\n# runtime: ${d.runtime}\n`);
  for (const a of d.actions) process.stdout.write(`#   ${a}\n`);
  process.stdout.write(`#   token: from ${target.tokenSource}\n`);
  process.stdout.write(stringify(d.plan));
}

/** Runs the plan until Ctrl-C, its duration, or a fatal error; live line every 2 s. */
async function runPlan(
  runtime: Runtime,
  plan: FleetPlan,
  target: Target,
  log: Logger,
  summaryJson: string | undefined,
  faults: PlannedFault[] = [],
  controlPlane?: ControlPlaneFaults,
): Promise<FleetSummary & { metricsUrl?: string }> {
  const count = planNodeCount(plan);
  const hasEdge = plan.groups.some((g) => g.kind === 'edge');
  const hasKubelet = plan.groups.some((g) => g.kind === 'kubelet');
  const token = hasEdge ? await target.token() : '';
  const kubelet = hasKubelet ? await target.kubeletCredentials() : {};
  const first = plan.groups[0]!;
  log.info(
    `${count} hollow ${hasEdge && hasKubelet ? '' : hasKubelet ? 'kubelet ' : 'edge '}nodes (${first.prefix}0..${first.count - 1}${plan.groups.length > 1 ? `, and ${plan.groups.length - 1} more group(s)` : ''}) -> ${target.name}: ${hasEdge ? `CloudHub ${plan.target.cloudcore.map((c) => c.websocket).join(', ')}` : ''}${hasKubelet ? `${hasEdge ? ', ' : ''}kube-apiserver ${plan.target.apiserver}` : ''}, ${plan.pacing.joinRate}/s` +
      (plan.pacing.maxJoining ? ` with at most ${plan.pacing.maxJoining} joining at once` : '') +
      `, runtime ${runtime.name}` +
      (hasEdge ? `; token from ${target.tokenSource}` : '') +
      (hasKubelet ? `; kubelet identities: ${target.kubeletIdentitySource}` : ''),
  );
  return interruptible(log, async (signal) => {
    const fleet = await runtime.start(plan, { token, ...kubelet }, { log, signal });
    if (fleet.metricsUrl) log.info(`metrics: ${fleet.metricsUrl}`);
    // The faults' clock starts when every node is Ready for the first time.
    const driver = new FaultDriver(faults, fleet, log, Date.now(), controlPlane);
    fleet.on((e) => {
      if (e.type === 'status') {
        if (faults.length && e.summary.joined >= count) driver.start();
        log.info(liveLine(e.summary));
        if (summaryJson) writeSummary(summaryJson, e.summary);
      } else if (e.type === 'fatal') log.warn(`stopping: ${e.error.message}`);
    });
    const result = await fleet.done;
    await driver.settle();
    driver.stop();
    for (const f of driver.records())
      log.info(
        `fault ${f.name} (${f.description}): ${f.startMs === undefined ? (f.error ?? 'did not start') : `${(f.startMs / 1000).toFixed(1)} s to ${((f.endMs ?? f.startMs) / 1000).toFixed(1)} s after the start, on ${f.affected ?? 0} of ${f.nodes.length} node(s)`}`,
      );
    for (const p of result.problems) log.warn(`not cleaned up: ${p}`);
    const summary = result.summary;
    if (!summary) {
      const f = result.fatal ?? { code: 'EM_INTERNAL', message: '[nodes] the runner ended without a summary' };
      throw errorFromJson(f);
    }
    return { ...summary, ...(result.fatal && !summary.fatal ? { fatal: result.fatal } : {}), ...(fleet.metricsUrl ? { metricsUrl: fleet.metricsUrl } : {}) };
  });
}

function writeSummary(file: string, s: FleetSummary): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, file);
}

function printSummary(log: Logger, s: FleetSummary): void {
  log.info(`summary after ${formatDuration(s.durationMs)}:`);
  log.info(`  nodes ${s.nodes}, started ${s.started}; ready at least once ${s.joined} (${s.joinRatePerSec}/s over ${formatDuration(s.joinDurationMs)})`);
  if (s.joinWindow.waitedMs > 0) {
    log.info(`  joins waited ${formatDuration(s.joinWindow.waitedMs)} for CloudCore's answers (at most ${s.joinWindow.size} joining at once; --max-joining)`);
  }
  if (s.connected > 0) {
    log.info(
      `  connected at least once ${s.connected} (${s.connectRatePerSec}/s over ${formatDuration(s.connectDurationMs)}; ` +
        `runner CPU until then ${(s.connectCpuMs / s.connected).toFixed(1)} ms per node)`,
    );
  }
  log.info(`  at stop: ${stateList(s).join(', ')}`);
  if (Object.keys(s.groups).length > 1)
    log.info(
      `  groups: ${Object.entries(s.groups)
        .map(([g, v]) => `${g} (${v.kind}) ${v.ready}/${v.nodes} ready`)
        .join(', ')}`,
    );
  log.info(`  reconnects ${s.reconnects}; messages in ${s.messagesIn}, out ${s.messagesOut}`);
  log.info(`  pods: running ${s.pods.running}, admitted ${s.pods.admitted}, rejected ${s.pods.rejected}`);
  log.info(
    `  runner: ${s.workers} process${s.workers > 1 ? 'es' : ''}, RSS ${formatBytes(s.rssBytes)}, event-loop lag p99 ${s.eventLoopLagMs.p99} ms (max ${s.eventLoopLagMs.max} ms), ACK latency p99 ${s.ackLatencyMs.p99} ms`,
  );
  if (s.unserved > 0) {
    log.warn(`  ${s.unserved} nodes connected but never served: CloudCore's node limit (cloudHub.nodeLimit) is likely reached`);
    log.warn(`  unserved: ${s.unservedNodes.join(', ')}${s.unserved > s.unservedNodes.length ? ', ...' : ''}`);
  }
  const errs = Object.entries(s.errors);
  if (errs.length) log.info(`  errors: ${errs.map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
