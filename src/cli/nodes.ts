/**
 * `edgemark nodes run`: N hollow edge nodes in this process against a real
 * CloudCore (the local cluster's by default), with a live line and a summary.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { TOKEN_SECRET } from '../cluster/health.js';
import { readState } from '../cluster/state.js';
import { EdgemarkError } from '../core/errors.js';
import { formatBytes, formatDuration, type Logger } from '../core/log.js';
import { defaultNodeProfile, type NodeProfile } from '../edge/edged/objects.js';
import { defaultTimings } from '../edge/timings.js';
import { nodeStates, type FleetSummary } from '../fleet/fleet.js';
import { fleetRegistry, serveMetrics, type MetricsServer } from '../fleet/metrics.js';
import { ephemeralPorts, openFileLimit, planCapacity, runFleet, sourceAddressOf, type RunPlan } from '../fleet/runner.js';
import { slicePlan, startWorkers } from '../fleet/workers.js';
import { k8s, loadKubeConfig } from '../kube/client.js';
import { parseToken } from '../transport/token.js';
import { loadLifecycles } from '../lifecycle/schema.js';
import { packageRoot } from '../core/paths.js';
import { cliContext, interruptible, parseNonNegativeInt, parsePositiveInt } from './context.js';

interface RunOptions {
  count: number;
  prefix: string;
  cloudcore?: string;
  cloudcoreHttps?: string;
  token?: string;
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
  workers?: number;
  metrics: string | false;
  tracePods?: string;
}

export function parseHostPort(flag: string): (v: string) => string {
  return (v) => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(v);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new InvalidArgumentError(`${flag} takes host:port (for example 127.0.0.1:10000), not "${v}"`);
    }
    return v;
  };
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

export function registerNodes(program: Command): void {
  const nodes = program.command('nodes').description('hollow edge nodes that speak KubeEdge\'s protocol to a real CloudCore');
  nodes
    .command('run')
    .description('run N hollow edge nodes in this process until Ctrl-C (or --duration)')
    .requiredOption('-n, --count <n>', 'how many nodes', parsePositiveInt('--count'))
    .option('--prefix <p>', 'node names are <prefix><index>', parsePrefix, 'hollow-edge-')
    .option('--cloudcore <host:port>', "CloudHub's websocket address (default: the local cluster's)", parseHostPort('--cloudcore'))
    .option('--cloudcore-https <host:port>', "CloudHub's certificate server (default: same host, port 10002, or the local cluster's)", parseHostPort('--cloudcore-https'))
    .option('--token <token>', "join token (default: read from the local cluster's secret kubeedge/tokensecret); never logged")
    .option('--join-rate <r>', 'nodes started per second', parseRate, 50)
    .option('--max-joining <n>', 'nodes joining at once (started, not yet Ready); the next starts when one is Ready, so joins keep to the pace CloudCore answers at (0: no limit)', parseNonNegativeInt('--max-joining', 'no limit'), 200)
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
    .option('--workers <k>', 'spread the nodes over K worker processes (one summary, one /metrics)', parsePositiveInt('--workers'))
    .option('--metrics <host:port>', 'serve Prometheus metrics of the runner at http://<host:port>/metrics (loopback; port 0 picks a free one)', parseHostPort('--metrics'), '127.0.0.1:0')
    .option('--no-metrics', 'do not serve /metrics')
    .option('--trace-pods <file>', 'append pod milestones at the edge (admitted, running-sent) as JSONL, for delivery latency (workers write <file>.w<k>)')
    .action(async (opts: RunOptions, cmd: Command) => {
      const { log, stateDir } = cliContext(cmd);
      const summary = await runNodes(opts, log, stateDir);
      printSummary(log, summary);
      if (opts.summaryJson) writeSummary(opts.summaryJson, summary);
      if (summary.fatal) {
        throw new EdgemarkError(summary.fatal.code as `EM_${string}`, summary.fatal.message, fixFor(summary.fatal.code));
      }
    });
}

function fixFor(code: string): string | undefined {
  if (code.startsWith('EM_TOKEN')) return 'read the current token from secret kubeedge/tokensecret, or leave --token out on the local cluster';
  if (code === 'EM_CA_HASH_MISMATCH') return 'use the token of the CloudCore you point --cloudcore at';
  return undefined;
}

async function readLocalToken(kubeconfig: string): Promise<string> {
  const core = loadKubeConfig(kubeconfig).makeApiClient(k8s.CoreV1Api);
  const s = await core.readNamespacedSecret({ name: TOKEN_SECRET.name, namespace: TOKEN_SECRET.namespace });
  const data = s.data?.[TOKEN_SECRET.key];
  if (!data) throw new Error('the token secret is empty');
  return Buffer.from(data, 'base64').toString('utf8');
}

async function runNodes(opts: RunOptions, log: Logger, stateDir: string): Promise<FleetSummary> {
  // Bad stage files are refused before anything starts.
  // (Each runner process compiles them again into its StageEngine: runFleet.)
  loadLifecycles([join(packageRoot(), 'stages'), ...(opts.stages ?? [])]);
  const local = readState(stateDir);
  const websocket = opts.cloudcore ?? (local ? `127.0.0.1:${local.ports.cloudhubWebsocket}` : undefined);
  if (!websocket) {
    throw new EdgemarkError(
      'EM_NO_CLOUDCORE',
      `[nodes] no CloudCore to join: no local cluster in ${stateDir} and no --cloudcore`,
      'start the local cluster with `edgemark cluster up`, or pass --cloudcore <host:port> and --token',
    );
  }
  const host = websocket.slice(0, websocket.lastIndexOf(':'));
  const https = `https://${
    opts.cloudcoreHttps ?? (opts.cloudcore || !local ? `${host}:10002` : `127.0.0.1:${local.ports.cloudhubHttps}`)
  }`;
  if (local && !opts.cloudcore && opts.count > local.nodeLimit) {
    throw new EdgemarkError(
      'EM_NODE_LIMIT',
      `[nodes] ${opts.count} nodes asked for, but the local CloudCore takes at most ${local.nodeLimit} (cloudHub.nodeLimit)`,
      `restart it with a higher limit: \`edgemark cluster down && edgemark cluster up --node-limit ${opts.count}\``,
    );
  }
  let tokenText = opts.token;
  if (!tokenText) {
    if (!local || opts.cloudcore) {
      throw new EdgemarkError('EM_NO_TOKEN', '[nodes] --token is required when --cloudcore is not the local cluster', 'pass the join token of that CloudCore (secret kubeedge/tokensecret, key tokendata)');
    }
    try {
      tokenText = await readLocalToken(local.kubeconfig);
    } catch (err) {
      throw new EdgemarkError('EM_NO_TOKEN', `[nodes] cannot read the join token from the local cluster: ${(err as Error).message}`, 'is the cluster up? `edgemark cluster status`', { cause: err });
    }
  }
  parseToken(tokenText); // a malformed token is refused here, before anything starts
  const workers = opts.workers ?? 1;
  if (workers > opts.count) {
    throw new EdgemarkError('EM_BAD_FLAG', `[nodes] --workers ${workers} is more than --count ${opts.count}`, `use --workers ${Math.max(1, Math.min(opts.count, 2))} or fewer`);
  }
  const { perSourceAddress } = planCapacity(opts.count, workers, host, { fdLimit: openFileLimit(), ports: ephemeralPorts() });
  const dataDir = opts.dataDir ?? join(stateDir, 'runner');
  const plan: RunPlan = {
    count: opts.count,
    firstIndex: 0,
    prefix: opts.prefix,
    websocket,
    https,
    token: tokenText,
    joinRate: opts.joinRate,
    maxJoining: opts.maxJoining,
    certDir: join(dataDir, 'certs'),
    storePath: join(dataDir, 'edge.db'),
    stagePaths: opts.stages ?? [],
    ...(opts.recordFrames ? { recordFrames: opts.recordFrames } : {}),
    ...(opts.tracePods ? { tracePods: opts.tracePods } : {}),
    timings: defaultTimings,
    profile: {
      ...defaultNodeProfile,
      cpu: opts.cpu,
      memory: opts.memory,
      pods: opts.pods,
      ephemeralStorage: opts.ephemeralStorage,
      labels: opts.labels ?? {},
      taints: opts.taints ?? [],
    },
    perSourceAddress,
  };
  log.info(
    `${opts.count} hollow edge nodes (${opts.prefix}0..${opts.count - 1}) -> CloudHub ${websocket}, certificates from ${https}, ${opts.joinRate}/s` +
      (opts.maxJoining ? ` with at most ${opts.maxJoining} joining at once` : '') +
      (workers > 1 ? `, ${workers} worker processes` : '') +
      (perSourceAddress ? `, source addresses 127.0.0.1..${sourceAddressOf(opts.count - 1, perSourceAddress)}` : ''),
  );
  return interruptible(log, async (signal) => {
    const stop = new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => resolve(), { once: true });
      if (opts.duration) setTimeout(resolve, opts.duration * 1000).unref();
    });
    return workers > 1 ? runWithWorkers(plan, workers, dataDir, opts, log, stop) : runInProcess(plan, opts, log, signal, stop);
  });
}

async function startMetrics(opts: RunOptions, log: Logger, text: () => Promise<string>, contentType: string): Promise<MetricsServer | undefined> {
  if (opts.metrics === false) return undefined;
  const [h, p] = [opts.metrics.slice(0, opts.metrics.lastIndexOf(':')), Number(opts.metrics.slice(opts.metrics.lastIndexOf(':') + 1))];
  const server = await serveMetrics({ host: h, port: p }, text, contentType);
  log.info(`metrics: ${server.url}`);
  return server;
}

async function runInProcess(plan: RunPlan, opts: RunOptions, log: Logger, signal: AbortSignal, stop: Promise<void>): Promise<FleetSummary & { metricsUrl?: string }> {
  let ticker: NodeJS.Timeout | undefined;
  let metrics: Promise<MetricsServer | undefined> = Promise.resolve(undefined);
  try {
    const { summary } = await runFleet(plan, log, signal, stop, {
      onFleet(fleet) {
        const registry = fleetRegistry(fleet);
        metrics = startMetrics(opts, log, () => registry.metrics(), registry.contentType);
        metrics.catch(() => undefined);
        ticker = setInterval(() => {
          const s = fleet.summary();
          log.info(liveLine(s));
          if (opts.summaryJson) writeSummary(opts.summaryJson, s);
        }, 2000);
      },
    });
    const server = await metrics;
    return { ...summary, ...(server ? { metricsUrl: server.url } : {}) };
  } finally {
    if (ticker) clearInterval(ticker);
    await (await metrics.catch(() => undefined))?.close();
  }
}

async function runWithWorkers(plan: RunPlan, workers: number, dataDir: string, opts: RunOptions, log: Logger, stop: Promise<void>): Promise<FleetSummary & { metricsUrl?: string }> {
  const pool = startWorkers(slicePlan(plan, workers, (k) => join(dataDir, `edge-w${k}.db`)), log);
  let server: MetricsServer | undefined;
  const ticker = setInterval(() => {
    const s = pool.summary();
    if (!s) return;
    log.info(liveLine(s));
    if (opts.summaryJson) writeSummary(opts.summaryJson, s);
  }, 2000);
  try {
    server = await startMetrics(opts, log, () => pool.metrics(), pool.contentType);
    const failure = await Promise.race([stop.then(() => undefined), pool.failed]);
    if (failure) log.warn(`a worker stopped: ${failure.message}; stopping the others`);
    const summary = await pool.stop();
    return { ...summary, ...(failure && !summary.fatal ? { fatal: { code: failure.code, message: failure.message } } : {}), ...(server ? { metricsUrl: server.url } : {}) };
  } finally {
    clearInterval(ticker);
    await server?.close();
  }
}

function writeSummary(file: string, s: FleetSummary): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, file);
}

function liveLine(s: FleetSummary): string {
  const states = nodeStates.filter((k) => s.states[k] > 0).map((k) => `${k} ${s.states[k]}`);
  const errors = Object.values(s.errors).reduce((a, b) => a + b, 0);
  return `[${formatDuration(s.durationMs)}] ${s.started}/${s.nodes} started: ${states.join(', ') || 'none yet'} | pods running ${s.pods.running} | reconnects ${s.reconnects} | errors ${errors} | msgs in ${s.messagesIn} out ${s.messagesOut} | lag p99 ${s.eventLoopLagMs.p99}ms | rss ${formatBytes(s.rssBytes)}`;
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
  log.info(`  at stop: ${nodeStates.filter((k) => s.states[k] > 0).map((k) => `${k} ${s.states[k]}`).join(', ')}`);
  log.info(`  reconnects ${s.reconnects}; messages in ${s.messagesIn}, out ${s.messagesOut}`);
  log.info(`  pods: running ${s.pods.running}, admitted ${s.pods.admitted}, rejected ${s.pods.rejected}`);
  log.info(`  runner: ${s.workers} process${s.workers > 1 ? 'es' : ''}, RSS ${formatBytes(s.rssBytes)}, event-loop lag p99 ${s.eventLoopLagMs.p99} ms (max ${s.eventLoopLagMs.max} ms), ACK latency p99 ${s.ackLatencyMs.p99} ms`);
  if (s.unserved > 0) {
    log.warn(`  ${s.unserved} nodes connected but never served: CloudCore's node limit (cloudHub.nodeLimit) is likely reached`);
    log.warn(`  unserved: ${s.unservedNodes.join(', ')}${s.unserved > s.unservedNodes.length ? ', ...' : ''}`);
  }
  const errs = Object.entries(s.errors);
  if (errs.length) log.info(`  errors: ${errs.map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
