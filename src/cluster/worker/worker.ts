/**
 * A real worker node of the local cluster: a private containerd and a kubelet
 * built from the Kubernetes pin, at a node address of its own. `startWorker`
 * records each thing in the state file before it makes it, so `stopWorker`
 * (at `down`, or after a failed `up`) can undo all of it and say what it
 * could not.
 *
 * containerd and the kubelet share one private mount namespace: the mounts
 * they make (image snapshots, pod volumes, pod network namespaces) never show
 * on the machine and go with the last process in it, and the sysctls the
 * kubelet would set are shown to it already set (configs.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError } from '../../core/errors.js';
import { tailLines } from '../../core/files.js';
import { isSameProcess, readProcStat, terminate } from '../../core/proc.js';
import { buildPauseImage, PAUSE_IMAGE } from '../../image/pause.js';
import { k8s, isNotFound, loadKubeConfig } from '../../kube/client.js';
import { renderKubeconfig } from '../kubeconfig.js';
import { issueClusterLeaf, pkiPaths, readText } from '../pki.js';
import { defaultPorts, findPortHolder, freePort, LOOPBACK, portFree } from '../ports.js';
import { readState, writeState, type ClusterState, type ProcessRecord, type WorkerRecord } from '../state.js';
import { containerdLauncher, debianPaths, kubeletArgs, kubeletSysctls, renderCniConflist, renderContainerdConfig, renderKubeletConfig } from './configs.js';
import {
  checkWorkerPackages,
  checkWorkerPrivilege,
  createCgroupRoot,
  createNodeLink,
  deleteNodeLinks,
  mountNamespaceOf,
  mountsUnder,
  networksInUse,
  removeCgroupRoot,
  sh,
  sysctlMasks,
  unmountUnder,
  workerProcesses,
} from './host.js';
import { MAX_WORKERS, MAX_WORKERS_WHY, workerLayout, workerPaths, type WorkerLayout } from './layout.js';

export const WORKER_KUBELET_DEFAULT_PORTS = { kubelet: 10250, kubeletHealthz: 10248 };
const CONTAINERD_START_TIMEOUT_MS = 30_000;
const NODE_READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
/** How long `down` waits for the kubelet to tear the node's pods down through CRI (so CNI DEL runs). */
const DRAIN_TIMEOUT_MS = 45_000;

export type WorkerEvent =
  | { kind: 'step'; message: string }
  | { kind: 'worker-starting'; node: string; what: 'containerd' | 'kubelet'; log: string }
  | { kind: 'worker-ready'; node: string; elapsedMs: number };

/** Refuses a worker count the machine cannot run, and a machine that cannot run one; starts nothing. */
export function checkWorkerRequest(count: number): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new EdgemarkError('EM_BAD_FLAG', `[worker] --workers must be a whole number 0 or more (got ${count})`, 'use --workers 1, or leave it out');
  }
  if (count > MAX_WORKERS) {
    throw new EdgemarkError(
      'EM_WORKER_NODE_COUNT',
      `[worker] --workers ${count}: one machine runs at most ${MAX_WORKERS} real worker node: ${MAX_WORKERS_WHY}`,
      `use --workers ${MAX_WORKERS}; for many nodes use hollow nodes (\`edgemark nodes run\`)`,
    );
  }
  if (count === 0) return;
  checkWorkerPackages();
  checkWorkerPrivilege();
}

/** The node name of the cluster's (first) worker. */
export function workerNodeName(state: Pick<ClusterState, 'workers'>): string | undefined {
  return state.workers?.[0]?.name;
}

export function workerRunning(w: WorkerRecord): boolean {
  return (
    w.kubelet !== undefined &&
    isSameProcess(w.kubelet.pid, w.kubelet.startTicks) &&
    w.containerd !== undefined &&
    isSameProcess(w.containerd.pid, w.containerd.startTicks)
  );
}

export interface StartWorkerOptions {
  /** Directory of the kubelet binary (the Kubernetes pin's 'worker' part). */
  kubeletDir: string;
  cacheDir: string;
  signal?: AbortSignal;
  onEvent?: (e: WorkerEvent) => void;
}

/** Starts worker `index` of a running control plane and waits until its node is Ready. */
export async function startWorker(state: ClusterState, index: number, o: StartWorkerOptions): Promise<WorkerRecord> {
  const started = Date.now();
  const layout = workerLayout(state.stateDir, index, await networksInUse());
  const paths = workerPaths(layout, state.stateDir);
  const ports = await workerPorts(state);
  await assertWorkerPortFree(ports.kubeletHealthz, LOOPBACK, 'kubelet healthz');
  const record: WorkerRecord = { ...layout, ports, createdDirs: [] };
  state.workers = [...(state.workers ?? []).filter((w) => w.index !== index), record];
  writeState(state);

  if (paths.socket.length > 100) {
    throw new EdgemarkError(
      'EM_WORKER_NODE_START',
      `[worker] containerd's socket path ${paths.socket} is ${paths.socket.length} characters; a unix socket path has at most 107`,
      'use a shorter --state-dir',
    );
  }
  for (const d of [paths.config, paths.cniConfDir, paths.cniIpamDir, paths.pki, paths.kubeletRoot, paths.podLogs, paths.volumePlugins]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  mkdirSync(paths.socket.slice(0, paths.socket.lastIndexOf('/')), { recursive: true, mode: 0o700 });
  // Fixed paths the tools make on first use: shim sockets (containerd 1.6 puts them
  // under /run/containerd/s whatever its state dir) and `ip netns`, which also
  // turns /run/netns into a shared mount of itself. Removed at down when empty.
  record.createdDirs = missingDirs(['/run/containerd', '/run/containerd/s', '/run/netns']);
  writeState(state);

  await writeWorkerFiles(state, layout, ports);
  o.onEvent?.({
    kind: 'step',
    message: `worker ${layout.name}: address ${layout.hostIp} (veth ${layout.vethHost}, netns ${layout.netns}), pods ${layout.podSubnet} on bridge ${layout.bridge}`,
  });
  createCgroupRoot(layout.cgroupRoot);
  await createNodeLink(layout);
  await assertWorkerPortFree(ports.kubelet, layout.hostIp, 'kubelet');

  // containerd, in a new private mount namespace with the sysctl masks.
  const masks = sysctlMasks(kubeletSysctls, paths.sysctl);
  const cdLog = paths.log('containerd');
  o.onEvent?.({ kind: 'worker-starting', node: layout.name, what: 'containerd', log: cdLog });
  record.containerd = await spawnDetached(
    'unshare',
    ['--mount', '--propagation', 'private', '--', '/bin/sh', '-ec', containerdLauncher({ masks, config: paths.containerdConfig })],
    cdLog,
    state.stateDir,
  );
  writeState(state);
  await waitContainerd(record, paths.socket, cdLog, o.signal);
  record.mountNs = mountNamespaceOf(record.containerd.pid);
  writeState(state);

  const pause = await buildPauseImage({ cacheDir: o.cacheDir, signal: o.signal });
  if (await importImageIfMissing(paths.socket, pause.archive, PAUSE_IMAGE))
    o.onEvent?.({ kind: 'step', message: `worker ${layout.name}: imported ${PAUSE_IMAGE}` });

  // The kubelet joins containerd's mount namespace.
  const kLog = paths.log('kubelet');
  o.onEvent?.({ kind: 'worker-starting', node: layout.name, what: 'kubelet', log: kLog });
  const kubelet = `${o.kubeletDir}/kubelet`;
  record.kubelet = await spawnDetached(
    'nsenter',
    [`--mount=/proc/${record.containerd.pid}/ns/mnt`, '--', kubelet, ...kubeletArgs({ name: layout.name, hostIp: layout.hostIp, paths })],
    kLog,
    state.stateDir,
    kubelet,
  );
  writeState(state);
  await waitNodeReady(state, record, kLog, o.signal);
  o.onEvent?.({ kind: 'worker-ready', node: layout.name, elapsedMs: Date.now() - started });
  return record;
}

async function workerPorts(state: ClusterState): Promise<WorkerRecord['ports']> {
  const defaults = Object.entries(defaultPorts).every(([k, v]) => state.ports[k as keyof typeof defaultPorts] === v);
  if (defaults) return { ...WORKER_KUBELET_DEFAULT_PORTS };
  const kubelet = await freePort();
  let kubeletHealthz = await freePort();
  while (kubeletHealthz === kubelet) kubeletHealthz = await freePort();
  return { kubelet, kubeletHealthz };
}

async function assertWorkerPortFree(port: number, host: string, what: string): Promise<void> {
  if (await portFree(port, host)) return;
  const holder = findPortHolder(port);
  throw new EdgemarkError(
    'EM_PORT_BUSY',
    `[worker] port ${host}:${port} (${what}) is already in use${holder ? ` by pid ${holder.pid} (${holder.command})` : ''}`,
    `${holder ? `stop that process (kill ${holder.pid}), or run` : 'free the port, or run'} \`edgemark cluster up --ports auto --workers 1\` to use free ports`,
  );
}

function missingDirs(dirs: string[]): string[] {
  return dirs.filter((d) => !existsSync(d));
}

async function writeWorkerFiles(state: ClusterState, l: WorkerLayout, ports: WorkerRecord['ports']): Promise<void> {
  const paths = workerPaths(l, state.stateDir);
  const pki = pkiPaths(state.stateDir);
  const client = { cert: `${paths.pki}/kubelet-client.crt`, key: `${paths.pki}/kubelet-client.key` };
  const serving = { cert: `${paths.pki}/kubelet-serving.crt`, key: `${paths.pki}/kubelet-serving.key` };
  // Issued at every start: the node address may differ from the last one.
  await issueClusterLeaf(pki, client, { subject: { cn: `system:node:${l.name}`, o: ['system:nodes'] }, client: true });
  await issueClusterLeaf(pki, serving, { subject: { cn: l.name }, server: { ips: [l.hostIp, LOOPBACK], dns: [l.name, 'localhost'] } });
  writeSecret(
    paths.kubeconfig,
    renderKubeconfig({
      server: `https://${LOOPBACK}:${state.ports.apiserver}`,
      caPem: readText(pki.caCert),
      certPem: readText(client.cert),
      keyPem: readText(client.key),
      user: `system:node:${l.name}`,
    }),
  );
  writeFileSync(paths.containerdConfig, renderContainerdConfig({ paths, sandboxImage: PAUSE_IMAGE }));
  writeFileSync(`${paths.cniConfDir}/10-${l.network}.conflist`, renderCniConflist(l, paths));
  writeFileSync(paths.kubeletConfig, renderKubeletConfig({ layout: l, paths, ports, caCert: pki.caCert, servingCert: serving.cert, servingKey: serving.key }));
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
}

/** Spawns a detached process (its own group, logs appended to `log`) and records it. */
async function spawnDetached(cmd: string, args: string[], log: string, cwd: string, binary = cmd): Promise<ProcessRecord> {
  mkdirSync(log.slice(0, log.lastIndexOf('/')), { recursive: true });
  const fd = openSync(log, 'a');
  writeFileSync(fd, `\n==== edgemark: starting ${binary} at ${new Date().toISOString()}\n`);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], cwd });
  closeSync(fd);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', reject);
  });
  child.unref();
  return { pid, startTicks: readProcStat(pid)?.startTicks ?? 0, startedAt: new Date().toISOString(), binary, log };
}

function exited(what: string, log: string): EdgemarkError {
  return new EdgemarkError(
    'EM_WORKER_NODE_START',
    `[worker] ${what} exited during start-up; log: ${log}`,
    'the last log lines are above; `edgemark cluster down` removes what was started',
    {
      details: ['last lines of the log:', ...tailLines(log, 15)],
    },
  );
}

async function waitContainerd(w: WorkerRecord, socket: string, log: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + CONTAINERD_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw interrupted();
    if (!w.containerd || !isSameProcess(w.containerd.pid, w.containerd.startTicks)) throw exited('containerd', log);
    try {
      await sh(debianPaths.ctr, ['-a', socket, 'version'], 5_000);
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new EdgemarkError(
    'EM_WORKER_NODE_START',
    `[worker] containerd did not answer on ${socket} within ${CONTAINERD_START_TIMEOUT_MS / 1000}s; log: ${log}`,
    'the last log lines are above',
    {
      details: ['last lines of the log:', ...tailLines(log, 15)],
    },
  );
}

function interrupted(): EdgemarkError {
  return new EdgemarkError('EM_INTERRUPTED', '[worker] interrupted; what was started is being stopped', 'run `edgemark cluster up --workers 1` again');
}

async function waitNodeReady(state: ClusterState, w: WorkerRecord, log: string, signal?: AbortSignal): Promise<void> {
  const core = loadKubeConfig(state.kubeconfig).makeApiClient(k8s.CoreV1Api);
  const deadline = Date.now() + NODE_READY_TIMEOUT_MS;
  let last = 'not registered';
  while (Date.now() < deadline) {
    if (signal?.aborted) throw interrupted();
    if (!w.kubelet || !isSameProcess(w.kubelet.pid, w.kubelet.startTicks)) throw exited('the kubelet', log);
    try {
      const node = await core.readNode({ name: w.name });
      const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') return;
      last = ready ? `Ready=${ready.status} (${ready.reason ?? ''}: ${ready.message ?? ''})` : 'no Ready condition yet';
    } catch (err) {
      last = isNotFound(err) ? 'not registered' : (err as Error).message;
    }
    await sleep(500);
  }
  throw new EdgemarkError(
    'EM_WORKER_NODE_NOT_READY',
    `[worker] node ${w.name} was not Ready within ${NODE_READY_TIMEOUT_MS / 1000}s (last: ${last}); log: ${log}`,
    'the last kubelet log lines are above; `edgemark cluster down` removes the worker',
    { details: ['last lines of the kubelet log:', ...tailLines(log, 20)] },
  );
}

async function imagePresent(socket: string, name: string): Promise<boolean> {
  const out = await sh(debianPaths.ctr, ['-a', socket, '-n', 'k8s.io', 'images', 'ls', '-q']);
  return out.split('\n').some((l) => l.trim() === name);
}

async function importImageIfMissing(socket: string, archive: string, name: string): Promise<boolean> {
  if (await imagePresent(socket, name)) return false;
  await ctrImport(socket, archive);
  return true;
}

async function ctrImport(socket: string, archive: string): Promise<void> {
  try {
    await sh(debianPaths.ctr, ['-a', socket, '-n', 'k8s.io', 'images', 'import', archive], 300_000);
  } catch (err) {
    throw new EdgemarkError(
      'EM_WORKER_NODE_IMAGE',
      `[worker] could not import ${archive}: ${(err as Error).message}`,
      'check that the file is a docker-archive or OCI tar (`tar tf` lists manifest.json)',
      {
        cause: err,
      },
    );
  }
}

/**
 * Imports an image archive (docker-archive or OCI tar) into the containerd of
 * the cluster's worker, where pods with imagePullPolicy Never or IfNotPresent
 * find it by its name.
 */
export async function importImage(stateDir: string, archive: string): Promise<void> {
  if (!existsSync(archive)) throw new EdgemarkError('EM_WORKER_NODE_IMAGE', `[worker] no image archive at ${archive}`, 'pass the path of a docker-archive tar');
  const state = readState(stateDir);
  const w = state?.workers?.find(workerRunning);
  if (!state || !w) {
    throw new EdgemarkError(
      'EM_WORKER_NODE_NONE',
      `[worker] the local cluster in ${stateDir} has no worker node running`,
      'start one with `edgemark cluster up --workers 1`',
    );
  }
  await ctrImport(workerPaths(w, stateDir).socket, archive);
}

export interface WorkerDownResult {
  name: string;
  stopped: { what: 'kubelet' | 'containerd'; how: Awaited<ReturnType<typeof terminate>> }[];
  /** What was found and removed, one line each. */
  removed: string[];
  /** What could not be removed. */
  problems: string[];
}

/**
 * Removes a worker completely: its pods (through the kubelet, so CNI DEL runs
 * for each), the kubelet, containerd and anything left of its shims and
 * containers, mounts under its directory, its cgroup, bridge, veth pair and
 * netns, host-local's reservations and containerd's state; then its Node
 * object. Never throws: what it could not remove is in `problems`.
 */
export async function stopWorker(state: ClusterState, w: WorkerRecord, o: { apiserverUp: boolean }): Promise<WorkerDownResult> {
  const paths = workerPaths(w, state.stateDir);
  const out: WorkerDownResult = { name: w.name, stopped: [], removed: [], problems: [] };
  const core = o.apiserverUp ? loadKubeConfig(state.kubeconfig).makeApiClient(k8s.CoreV1Api) : undefined;
  const kubeletUp = w.kubelet !== undefined && isSameProcess(w.kubelet.pid, w.kubelet.startTicks);
  if (core && kubeletUp) await drainNode(core, w.name, paths.cniIpamDir, out);

  for (const what of ['kubelet', 'containerd'] as const) {
    const p = w[what];
    if (p) out.stopped.push({ what, how: await terminate(p.pid, p.startTicks, STOP_GRACE_MS) });
  }
  const left = await killLeftovers(w, paths.socket);
  if (left.killed > 0) out.removed.push(`${left.killed} leftover process(es) of its containerd (shims, containers)`);
  for (const pid of left.alive) out.problems.push(`process ${pid} of the worker's containerd is still alive after SIGKILL`);

  for (const m of await unmountUnder(w.dir, out.problems)) out.removed.push(`mount ${m}`);
  const hierarchies = removeCgroupRoot(w.cgroupRoot, out.problems);
  if (hierarchies.length > 0) out.removed.push(`cgroup ${w.cgroupRoot} (${hierarchies.length} hierarchies)`);
  out.removed.push(...(await deleteNodeLinks(w, out.problems)));

  const reservations = ipamReservations(paths.cniIpamDir);
  if (reservations.length > 0) out.removed.push(`${reservations.length} host-local reservation(s) the kubelet had not released: ${reservations.join(', ')}`);
  for (const d of paths.runtimeDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch (err) {
      out.problems.push(`could not remove ${d}: ${(err as Error).message}`);
    }
  }
  for (const d of [...w.createdDirs].reverse()) {
    if (!existsSync(d) || readdirSync(d).length > 0) continue; // in use by someone else now
    try {
      if (mountsUnder(d).includes(d)) await sh('umount', [d]);
      rmdirSync(d);
      out.removed.push(`${d} (made by this worker's tools)`);
    } catch (err) {
      out.problems.push(`could not remove ${d}: ${(err as Error).message}`);
    }
  }
  if (core) {
    try {
      await core.deleteNode({ name: w.name });
      out.removed.push(`node ${w.name}`);
    } catch (err) {
      if (!isNotFound(err)) out.problems.push(`could not delete node ${w.name}: ${(err as Error).message}`);
    }
  }
  delete w.kubelet;
  delete w.containerd;
  delete w.mountNs;
  return out;
}

/** Cordons the node, deletes its pods and waits (bounded) until the kubelet tore them down and host-local released their addresses. */
async function drainNode(core: k8s.CoreV1Api, name: string, ipamDir: string, out: WorkerDownResult): Promise<void> {
  try {
    await core.patchNode({ name, body: { spec: { unschedulable: true } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch));
    const pods = (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` })).items;
    for (const p of pods) {
      await core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, gracePeriodSeconds: 1 }).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      const left = (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` })).items.length;
      const held = ipamReservations(ipamDir).length;
      if (left === 0 && held === 0) {
        if (pods.length > 0) out.removed.push(`${pods.length} pod(s), torn down by the kubelet`);
        return;
      }
      if (Date.now() > deadline) {
        out.problems.push(`after ${DRAIN_TIMEOUT_MS / 1000}s ${left} pod(s) were still on ${name} and ${held} pod address(es) reserved; stopping anyway`);
        return;
      }
      await sleep(500);
    }
  } catch (err) {
    out.problems.push(`could not drain ${name}: ${(err as Error).message}`);
  }
}

/** host-local's reservation files (one per pod address) under its data directory. */
export function ipamReservations(ipamDir: string): string[] {
  const out: string[] = [];
  if (!existsSync(ipamDir)) return out;
  for (const net of readdirSync(ipamDir)) {
    let files: string[];
    try {
      files = readdirSync(`${ipamDir}/${net}`);
    } catch {
      continue;
    }
    for (const f of files) if (/^\d+\.\d+\.\d+\.\d+$/.test(f)) out.push(f);
  }
  return out;
}

async function killLeftovers(w: WorkerRecord, socket: string): Promise<{ killed: number; alive: number[] }> {
  const find = () => workerProcesses({ mountNs: w.mountNs, socket, cgroupRoot: w.cgroupRoot });
  const first = find();
  for (const pid of first) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 50 && find().length > 0; i++) await sleep(100);
  return { killed: first.length, alive: find() };
}

export interface WorkerStatus {
  name: string;
  running: boolean;
  ready: boolean;
  detail: string;
  address: string;
  podSubnet: string;
  kubeletPid?: number;
  containerdPid?: number;
  ports: number[];
  log: string;
}

export async function workerStatus(state: ClusterState, w: WorkerRecord): Promise<WorkerStatus> {
  const alive = (p?: ProcessRecord) => (p && isSameProcess(p.pid, p.startTicks) ? p.pid : undefined);
  const kubeletPid = alive(w.kubelet);
  const containerdPid = alive(w.containerd);
  let ready = false;
  let detail = 'not running';
  if (kubeletPid && containerdPid) {
    try {
      const node = await loadKubeConfig(state.kubeconfig).makeApiClient(k8s.CoreV1Api).readNode({ name: w.name });
      const c = node.status?.conditions?.find((x) => x.type === 'Ready');
      ready = c?.status === 'True';
      detail = ready ? 'node Ready' : `node Ready=${c?.status ?? 'unknown'}${c?.reason ? ` (${c.reason})` : ''}`;
    } catch (err) {
      detail = isNotFound(err) ? 'node not registered' : `apiserver: ${(err as Error).message}`;
    }
  } else if (kubeletPid || containerdPid) {
    detail = kubeletPid ? 'containerd not running' : 'kubelet not running';
  }
  return {
    name: w.name,
    running: kubeletPid !== undefined && containerdPid !== undefined,
    ready,
    detail,
    address: w.hostIp,
    podSubnet: w.podSubnet,
    kubeletPid,
    containerdPid,
    ports: [w.ports.kubelet, w.ports.kubeletHealthz],
    log: workerPaths(w, state.stateDir).log('kubelet'),
  };
}
