/**
 * The local control plane: build (cached), PKI, configs, then each component in
 * order, waiting for health. Everything started is recorded in the state file
 * at once, so `down`, or an interrupted `up`, can stop it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from '../core/errors.js';
import { tailLines } from '../core/files.js';
import { API_VERSION } from '../core/versioned.js';
import { isSameProcess, processStartMs, readProcStat, rssBytes, terminate } from '../core/proc.js';
import { loadKubeConfig } from '../kube/client.js';
import { applyCrds, ensureCloudcoreFlowSchema, ensureCloudcoreRbac } from './bootstrap.js';
import { ensureBuilt, type BuildEvent } from './build.js';
import { cloudcoreConfigName, components, type ComponentContext, type ComponentSpec } from './components.js';
import {
  checkEnvelope,
  createEnvelope,
  DEFAULT_ENVELOPE,
  envelopeTooSmall,
  envelopeUsage,
  goMemLimit,
  inEnvelope,
  mib,
  removeEnvelope,
  type EnvelopeRecord,
  type EnvelopeSpec,
  type EnvelopeUsage,
} from './envelope.js';
import { AUDIT_POLICY, renderAuditPolicy, renderCloudcoreConfig, renderSchedulerConfig } from './configs.js';
import { probe, type Health } from './health.js';
import { kubeconfigPath, writeKubeconfig } from './kubeconfig.js';
import { resolvePins, type ToolsetName, type VersionChoice } from './pins.js';
import { clientIdentities, ensureApiserverKubeletClient, ensurePki, pkiPaths } from './pki.js';
import { addCloudcorePorts, assertPortsFree, choosePorts, cloudcorePorts, defaultPorts, LOOPBACK, MAX_CLOUDCORES, portOf, type PortName } from './ports.js';
import {
  allComponentNames,
  cloudcoreCount,
  clusterComponentNames,
  readState,
  requireState,
  writeState,
  type ClusterState,
  type ComponentName,
  type ProcessRecord,
} from './state.js';
import {
  checkWorkerRequest,
  startWorker,
  stopWorker,
  workerRunning,
  workerStatus,
  type WorkerDownResult,
  type WorkerEvent,
  type WorkerStatus,
} from './worker/worker.js';

export const DEFAULT_NODE_LIMIT = 1000;
/** Grace period between SIGTERM and SIGKILL at `down`. */
export const STOP_GRACE_MS = 10_000;

export type UpEvent =
  | BuildEvent
  | WorkerEvent
  | { kind: 'step'; message: string }
  | { kind: 'component-starting'; name: ComponentName; log: string }
  | { kind: 'component-healthy'; name: ComponentName; elapsedMs: number };

export interface UpOptions {
  stateDir: string;
  cacheDir: string;
  ports?: 'default' | 'auto';
  nodeLimit?: number;
  /** CloudCore instances, 1 (default) to MAX_CLOUDCORES; each with its own ports, config and log. */
  cloudcores?: number;
  /** Real worker nodes (a kubelet and containerd each) to run; 0 (default) or 1. */
  workers?: number;
  /** kube-apiserver's audit log (request metadata, JSON lines) in logs/audit.log; kept by later `up`s of the same state. */
  audit?: boolean;
  /** edgesite: no CloudCore, every component inside one cgroup envelope (seed 004's small master). */
  profile?: 'default' | 'edgesite';
  /** The EdgeSite envelope (default 2 CPUs, 1Gi); only with profile edgesite. */
  envelope?: Partial<EnvelopeSpec>;
  versions?: VersionChoice;
  signal?: AbortSignal;
  onEvent?: (e: UpEvent) => void;
}

export class AlreadyUpError extends EdgemarkError {
  constructor(readonly state: ClusterState) {
    super('EM_CLUSTER_ALREADY_UP', `[cluster] the local cluster in ${state.stateDir} is already up`, 'nothing to do; `edgemark cluster down` stops it');
  }
}

export function runningComponents(state: ClusterState): ComponentName[] {
  return clusterComponentNames(state).filter((n) => {
    const p = state.components[n];
    return p !== undefined && isSameProcess(p.pid, p.startTicks);
  });
}

function contextFor(state: Pick<ClusterState, 'stateDir' | 'ports' | 'audit' | 'profile'>, bin: Record<ToolsetName, string>): ComponentContext {
  return {
    stateDir: state.stateDir,
    audit: state.audit === true,
    profile: state.profile ?? 'default',
    ports: state.ports,
    pki: pkiPaths(state.stateDir),
    bin,
    kubeconfig: (id) => kubeconfigPath(state.stateDir, id),
    configFile: (name) => join(state.stateDir, 'config', name),
  };
}

export function logPath(stateDir: string, name: ComponentName): string {
  return join(stateDir, 'logs', `${name}.log`);
}

export async function clusterUp(o: UpOptions): Promise<ClusterState> {
  const workers = o.workers ?? 0;
  // Before anything starts: a worker count this machine cannot run, or its packages missing.
  checkWorkerRequest(workers);
  checkCloudcoreCount(o.cloudcores);
  const previous = readState(o.stateDir);
  const profile = o.profile ?? previous?.profile ?? 'default';
  if (previous && (previous.profile ?? 'default') !== profile) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      `[cluster] the local cluster in ${o.stateDir} has the ${previous.profile ?? 'default'} profile, not ${profile}`,
      `run \`edgemark cluster down --purge\` first, or use another --state-dir`,
    );
  }
  if (profile === 'edgesite' && (o.cloudcores !== undefined || workers > 0)) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      '[cluster] an EdgeSite control plane has no CloudCore and no real worker node: its workers are kubelet-kind hollow nodes',
      'leave out --cloudcores and --workers with --profile edgesite',
    );
  }
  if (profile !== 'edgesite' && o.envelope) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      '[cluster] --envelope-cpus and --envelope-memory are for --profile edgesite',
      'add --profile edgesite, or leave them out',
    );
  }
  const envelope: EnvelopeSpec | undefined =
    profile === 'edgesite'
      ? {
          cpus: o.envelope?.cpus ?? previous?.envelope?.cpus ?? DEFAULT_ENVELOPE.cpus,
          memoryBytes: o.envelope?.memoryBytes ?? previous?.envelope?.memoryBytes ?? DEFAULT_ENVELOPE.memoryBytes,
        }
      : undefined;
  if (envelope) checkEnvelope(envelope);
  const running = previous ? runningComponents(previous) : [];
  if (previous && running.length > 0 && o.cloudcores !== undefined && o.cloudcores !== cloudcoreCount(previous)) {
    throw new EdgemarkError(
      'EM_CLOUDCORES_RUNNING',
      `[cluster] the local cluster in ${o.stateDir} runs with ${cloudcoreCount(previous)} CloudCore(s); --cloudcores ${o.cloudcores} needs a restart`,
      `run \`edgemark cluster down\`, then \`edgemark cluster up --cloudcores ${o.cloudcores}\``,
    );
  }
  const controlPlaneUp = previous !== undefined && running.length === clusterComponentNames(previous).length;
  const workersMissing = Array.from({ length: workers }, (_, i) => i).filter((i) => !previous?.workers?.some((w) => w.index === i && workerRunning(w)));
  if (previous && controlPlaneUp && workersMissing.length === 0) throw new AlreadyUpError(previous);
  const pins = resolvePins(o.versions);
  const bin = {} as Record<ToolsetName, string>;
  for (const toolset of Object.keys(pins) as ToolsetName[]) {
    // An EdgeSite needs no KubeEdge.
    if (toolset === 'kubeedge' && profile === 'edgesite') continue;
    bin[toolset] = await ensureBuilt({ pin: pins[toolset], part: 'core' }, { cacheDir: o.cacheDir, onEvent: o.onEvent, signal: o.signal });
    if (o.signal?.aborted) throw interrupted();
  }
  const kubeletDir =
    workers > 0 ? await ensureBuilt({ pin: pins.kubernetes, part: 'worker' }, { cacheDir: o.cacheDir, onEvent: o.onEvent, signal: o.signal }) : '';
  if (previous && controlPlaneUp) {
    await startWorkers(previous, workersMissing, kubeletDir, o, false);
    return previous;
  }
  if (previous && running.length > 0) {
    const repaired = await repair(previous, running, bin, o);
    await startWorkers(repaired, workersMissing, kubeletDir, o, false);
    return repaired;
  }

  const cloudcores = profile === 'edgesite' ? 0 : (o.cloudcores ?? previous?.cloudcores ?? 1);
  // Keep the ports of an earlier run, so kubeconfigs handed out stay valid;
  // CloudCores it did not have get ports of the same kind (well-known or free).
  const ports =
    previous && o.ports === undefined
      ? await addCloudcorePorts(previous.ports, previous.ports.apiserver === defaultPorts.apiserver ? 'default' : 'auto', cloudcores)
      : await choosePorts(o.ports ?? 'default', cloudcores);
  await assertPortsFree(ports);

  mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
  // Nothing runs, so a worker in the state file is what a killed run left: remove it first.
  for (const w of previous?.workers ?? []) await stopWorker(previous!, w, { apiserverUp: false });
  const pki = pkiPaths(o.stateDir);
  const { generated } = await ensurePki(o.stateDir, { cloudcoreIps: [LOOPBACK] });
  await ensureApiserverKubeletClient(o.stateDir);
  o.onEvent?.({ kind: 'step', message: generated ? `generated PKI in ${pki.dir}` : `reusing PKI in ${pki.dir}` });
  const server = `https://${LOOPBACK}:${ports.apiserver}`;
  for (const id of clientIdentities) writeKubeconfig(o.stateDir, pki, id.id, server);

  const state: ClusterState = {
    apiVersion: API_VERSION,
    kind: 'LocalCluster',
    stateDir: o.stateDir,
    ports,
    versions: Object.fromEntries(Object.values(pins).map((p) => [p.toolset, p.version])),
    nodeLimit: o.nodeLimit ?? previous?.nodeLimit ?? DEFAULT_NODE_LIMIT,
    cloudcores,
    ...((o.audit ?? previous?.audit) ? { audit: true } : {}),
    ...(envelope ? { profile, envelope: createEnvelope(o.stateDir, envelope) } : {}),
    kubeconfig: kubeconfigPath(o.stateDir, 'admin'),
    components: {},
  };
  const ctx = contextFor(state, bin);
  writeConfigs(state, ctx);
  writeState(state);
  await startMissing(state, ctx, bin, o, new Set());
  await startWorkers(state, workersMissing, kubeletDir, o, true);
  return state;
}

/**
 * Starts the worker nodes not running, after the control plane is healthy.
 * A worker that fails is removed again; so is the control plane when this
 * `up` started it, as a failed `up` leaves nothing running.
 */
async function startWorkers(state: ClusterState, indices: number[], kubeletDir: string, o: UpOptions, controlPlaneStartedNow: boolean) {
  for (const index of indices) {
    const stale = state.workers?.find((w) => w.index === index);
    if (stale) await removeWorker(state, stale);
    try {
      await startWorker(state, index, { kubeletDir, cacheDir: o.cacheDir, signal: o.signal, onEvent: o.onEvent });
      writeState(state);
    } catch (err) {
      o.onEvent?.({ kind: 'step', message: 'stopping what was started' });
      const w = state.workers?.find((x) => x.index === index);
      if (w) await removeWorker(state, w);
      if (controlPlaneStartedNow) await clusterDown({ stateDir: state.stateDir });
      if (!o.signal?.aborted) throw err;
      if (controlPlaneStartedNow) throw interrupted();
      throw new EdgemarkError(
        'EM_INTERRUPTED',
        '[cluster] interrupted; the worker node was removed and the control plane left running',
        'run `edgemark cluster up --workers 1` again',
      );
    }
  }
}

async function removeWorker(state: ClusterState, w: NonNullable<ClusterState['workers']>[number]): Promise<WorkerDownResult> {
  const r = await stopWorker(state, w, { apiserverUp: runningComponents(state).includes('kube-apiserver') });
  state.workers = (state.workers ?? []).filter((x) => x !== w);
  writeState(state);
  return r;
}

/**
 * Some components run and some do not (one crashed, or was killed): start only
 * the missing ones, in order, with the recorded ports and configs. What runs
 * is left alone, so edge nodes see only the restart of what had stopped.
 */
async function repair(state: ClusterState, running: ComponentName[], bin: Record<ToolsetName, string>, o: UpOptions) {
  const missing = clusterComponentNames(state).filter((n) => !running.includes(n));
  o.onEvent?.({ kind: 'step', message: `${running.join(', ')} running; starting ${missing.join(', ')}` });
  const ports = Object.fromEntries(
    components(cloudcoreCount(state))
      .filter((c) => missing.includes(c.name))
      .flatMap((c) => c.ports.map((p) => [p, portOf(state.ports, p)])),
  ) as Partial<Record<PortName, number>>;
  await assertPortsFree(ports);
  await ensureApiserverKubeletClient(state.stateDir);
  // The envelope's cgroups may be gone (a reboot): made again with the recorded limits.
  if (state.envelope) state.envelope = createEnvelope(state.stateDir, state.envelope);
  if (o.nodeLimit !== undefined && o.nodeLimit !== state.nodeLimit) {
    if (runningCloudcores(running).length > 0) {
      throw new EdgemarkError(
        'EM_NODE_LIMIT_RUNNING',
        `[cluster] CloudCore is running with nodeLimit ${state.nodeLimit}; --node-limit ${o.nodeLimit} needs a restart`,
        `run \`edgemark cluster down\`, then \`edgemark cluster up --node-limit ${o.nodeLimit}\``,
      );
    }
    state.nodeLimit = o.nodeLimit;
  }
  const ctx = contextFor(state, bin);
  writeConfigs(state, ctx);
  await startMissing(state, ctx, bin, o, new Set(running));
  return state;
}

async function startMissing(
  state: ClusterState,
  ctx: ComponentContext,
  bin: Record<ToolsetName, string>,
  o: UpOptions,
  running: Set<ComponentName>,
): Promise<void> {
  const todo = components(cloudcoreCount(state)).filter((c) => !running.has(c.name));
  let cloudcorePrepared = false;
  try {
    for (const spec of todo) {
      if (spec.name === 'kube-scheduler' && todo.some((c) => c.name === 'kube-controller-manager')) continue;
      if (spec.name === 'kube-controller-manager') {
        // kcm and the scheduler only need the apiserver; start them together.
        const sched = todo.find((c) => c.name === 'kube-scheduler');
        await Promise.all([startComponent(spec, state, ctx, o), ...(sched ? [startComponent(sched, state, ctx, o)] : [])]);
        continue;
      }
      if (spec.toolset === 'kubeedge' && !cloudcorePrepared) {
        await prepareForCloudcore(state, bin, o);
        cloudcorePrepared = true;
      }
      // One CloudCore after the other, each healthy before the next starts:
      // at start each negotiates a tunnel port in the ConfigMap
      // kubeedge/tunnelport (a Get, then a Create when it is missing, after
      // a random 0 to 9 s sleep), and panics when its Create loses a race
      // with another instance's. Started in turn, the later ones find it.
      await startComponent(spec, state, ctx, o);
    }
  } catch (err) {
    o.onEvent?.({ kind: 'step', message: 'stopping what was started' });
    if (running.size === 0) await clusterDown({ stateDir: state.stateDir });
    else
      await stopComponents(
        state,
        todo.map((c) => c.name),
      );
    throw o.signal?.aborted ? interrupted() : err;
  }
  state.upAt = new Date().toISOString();
  writeState(state);
}

function interrupted(): EdgemarkError {
  return new EdgemarkError('EM_INTERRUPTED', '[cluster] interrupted; every component started was stopped', 'run `edgemark cluster up` again');
}

function writeConfigs(state: ClusterState, ctx: ComponentContext): void {
  mkdirSync(join(state.stateDir, 'config'), { recursive: true, mode: 0o700 });
  mkdirSync(join(state.stateDir, 'run'), { recursive: true, mode: 0o700 });
  writeFileSync(ctx.configFile('kube-scheduler.yaml'), renderSchedulerConfig({ kubeconfig: ctx.kubeconfig('kube-scheduler') }));
  if (state.audit) writeFileSync(ctx.configFile(AUDIT_POLICY), renderAuditPolicy());
  for (let instance = 0; instance < cloudcoreCount(state); instance++) {
    writeFileSync(
      ctx.configFile(cloudcoreConfigName(instance)),
      renderCloudcoreConfig({
        stateDir: state.stateDir,
        kubeconfig: ctx.kubeconfig('cloudcore'),
        pki: ctx.pki,
        ports: cloudcorePorts(state.ports, instance),
        instance,
        nodeLimit: state.nodeLimit,
        advertiseAddress: [LOOPBACK],
      }),
    );
  }
}

function checkCloudcoreCount(n: number | undefined): void {
  if (n === undefined || (Number.isInteger(n) && n >= 1 && n <= MAX_CLOUDCORES)) return;
  throw new EdgemarkError(
    'EM_BAD_FLAG',
    `[cluster] --cloudcores takes 1 to ${MAX_CLOUDCORES} CloudCore instances (got ${n})`,
    `use --cloudcores 2 for two CloudCores behind one apiserver; more than ${MAX_CLOUDCORES} on one machine would only share its cores`,
  );
}

const runningCloudcores = (names: readonly ComponentName[]) => names.filter((n) => n.startsWith('cloudcore'));

async function prepareForCloudcore(state: ClusterState, bin: Record<ToolsetName, string>, o: UpOptions) {
  const kc = loadKubeConfig(state.kubeconfig);
  await ensureCloudcoreRbac(kc, clientIdentities.find((c) => c.id === 'cloudcore')!.cn);
  await ensureCloudcoreFlowSchema(kc, clientIdentities.find((c) => c.id === 'cloudcore')!.cn);
  const n = await applyCrds(kc, join(bin.kubeedge, 'crds'), o.signal);
  o.onEvent?.({ kind: 'step', message: `installed ${n} KubeEdge CRDs (Established)` });
}

async function startComponent(spec: ComponentSpec, state: ClusterState, ctx: ComponentContext, o: UpOptions) {
  const log = logPath(state.stateDir, spec.name);
  mkdirSync(join(state.stateDir, 'logs'), { recursive: true });
  const binary = join(ctx.bin[spec.toolset], spec.binary);
  o.onEvent?.({ kind: 'component-starting', name: spec.name, log });
  const fd = openSync(log, 'a');
  writeFileSync(fd, `\n==== edgemark: starting ${spec.name} at ${new Date().toISOString()}\n`);
  const started = Date.now();
  const oomBefore = state.envelope ? envelopeUsage(state.envelope).oomKills : 0;
  // Detached: its own process group, so it outlives this CLI and a Ctrl-C in
  // the terminal reaches only us; we stop it ourselves.
  // Inside an EdgeSite's envelope: the component joins its cgroups before it execs, with a Go memory limit of its share.
  const run = state.envelope ? inEnvelope(state.envelope, binary, spec.args(ctx)) : { command: binary, args: spec.args(ctx), env: {} };
  const env = state.envelope ? { ...process.env, ...run.env, GOMEMLIMIT: String(goMemLimit(state.envelope, spec.name)) } : process.env;
  const child = spawn(run.command, run.args, { detached: true, stdio: ['ignore', fd, fd], cwd: state.stateDir, env });
  closeSync(fd);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', reject);
  });
  child.unref();
  const stat = readProcStat(pid);
  const record: ProcessRecord = {
    pid,
    startTicks: stat?.startTicks ?? 0,
    startedAt: new Date().toISOString(),
    binary,
    log,
  };
  state.components[spec.name] = record;
  writeState(state);

  let last: Health = { healthy: false, detail: 'not probed' };
  while (Date.now() - started < spec.startTimeoutMs) {
    if (o.signal?.aborted) throw interrupted();
    // Any OOM kill in the envelope while a component starts: the envelope is too small for the control plane.
    const oom = state.envelope ? envelopeUsage(state.envelope).oomKills - oomBefore : 0;
    if (oom > 0) {
      const dead = Object.entries(state.components)
        .filter(([, p]) => p && !isSameProcess(p.pid, p.startTicks))
        .map(([n]) => n);
      throw envelopeTooSmall(
        `the envelope's ${mib(state.envelope!.memoryBytes)} are too small for the control plane: ${oom} OOM kill(s) in it while ${spec.name} started${dead.length ? ` (${dead.join(', ')} killed)` : ''}`,
        'raise --envelope-memory (the default 1Gi holds the control plane with room for its nodes)',
      );
    }
    if (!isSameProcess(pid, record.startTicks)) {
      throw new EdgemarkError(
        'EM_COMPONENT_EXITED',
        `[cluster] ${spec.name} exited during start-up; log: ${log}`,
        `the last log lines are above; \`edgemark cluster logs ${spec.name}\` shows the whole log`,
        { details: ['last lines of the log:', ...tailLines(log, 15)] },
      );
    }
    last = await probe(spec.health, ctx);
    if (last.healthy) {
      o.onEvent?.({ kind: 'component-healthy', name: spec.name, elapsedMs: Date.now() - started });
      return;
    }
    await sleep(200);
  }
  throw new EdgemarkError(
    'EM_COMPONENT_UNHEALTHY',
    `[cluster] ${spec.name} was not healthy after ${spec.startTimeoutMs / 1000}s (last probe: ${last.detail}); log: ${log}`,
    `the last log lines are above; \`edgemark cluster logs ${spec.name}\` shows the whole log`,
    { details: ['last lines of the log:', ...tailLines(log, 15)] },
  );
}

/** Kept for src/cli/cluster.ts; the helper lives in core/files.ts. */
export { tailLines as tail } from '../core/files.js';

export interface DownResult {
  stopped: { name: ComponentName; how: Awaited<ReturnType<typeof terminate>> }[];
  /** Each worker node: what stopped, what was removed, what could not be. */
  workers: WorkerDownResult[];
  purged: boolean;
  /** What could not be removed (an envelope cgroup still holding a process). */
  problems: string[];
}

/** Stops the named components, in reverse start order (CloudCore first, etcd last). */
async function stopComponents(state: ClusterState, names: readonly ComponentName[], graceMs = STOP_GRACE_MS) {
  const stopped: DownResult['stopped'] = [];
  for (const name of [...allComponentNames].reverse()) {
    const p = state.components[name];
    if (!p || !names.includes(name)) continue;
    stopped.push({ name, how: await terminate(p.pid, p.startTicks, graceMs) });
    delete state.components[name];
  }
  writeState(state);
  return stopped;
}

export async function clusterDown(o: { stateDir: string; purge?: boolean; graceMs?: number }): Promise<DownResult> {
  const state = readState(o.stateDir);
  const problems: string[] = [];
  let stopped: DownResult['stopped'] = [];
  const workers: WorkerDownResult[] = [];
  if (state) {
    // Workers first: their pods are deleted through the apiserver, so the kubelet tears them down.
    for (const w of [...(state.workers ?? [])]) workers.push(await removeWorker(state, w));
    stopped = await stopComponents(state, allComponentNames, o.graceMs);
    if (state.envelope) for (const p of removeEnvelope(state.envelope)) problems.push(p);
    delete state.upAt;
    if (!o.purge) writeState(state);
  }
  if (o.purge && existsSync(o.stateDir)) rmSync(o.stateDir, { recursive: true, force: true });
  return { stopped, workers, purged: o.purge === true, problems };
}

export interface ComponentStatus {
  name: ComponentName;
  pid?: number;
  running: boolean;
  ports: number[];
  health: Health;
  rssBytes: number;
  uptimeMs: number;
  log: string;
}

export async function clusterStatus(
  stateDir: string,
): Promise<{ state: ClusterState; components: ComponentStatus[]; workers: WorkerStatus[]; envelope?: EnvelopeRecord & EnvelopeUsage }> {
  const state = requireState(stateDir);
  const ctx = contextFor(state, {} as Record<ToolsetName, string>);
  const out: ComponentStatus[] = [];
  for (const spec of components(cloudcoreCount(state))) {
    const p = state.components[spec.name];
    const running = p !== undefined && isSameProcess(p.pid, p.startTicks);
    const stat = running ? readProcStat(p.pid) : undefined;
    out.push({
      name: spec.name,
      pid: running ? p.pid : undefined,
      running,
      ports: spec.ports.map((n) => portOf(state.ports, n)),
      health: running ? await probe(spec.health, ctx) : { healthy: false, detail: 'not running' },
      rssBytes: running ? rssBytes(p.pid) : 0,
      uptimeMs: stat ? Date.now() - processStartMs(stat) : 0,
      log: logPath(stateDir, spec.name),
    });
  }
  const workers: WorkerStatus[] = [];
  for (const w of state.workers ?? []) workers.push(await workerStatus(state, w));
  return { state, components: out, workers, ...(state.envelope ? { envelope: { ...state.envelope, ...envelopeUsage(state.envelope) } } : {}) };
}
