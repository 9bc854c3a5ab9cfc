/**
 * The state file of a local cluster: what `up` started and where, read by every
 * other command. Written atomically (temp file, then rename).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { EdgemarkError } from '../core/errors.js';
import { API_VERSION } from '../core/versioned.js';
import { cloudcorePortKinds, MAX_CLOUDCORES, portNames, type PortMap } from './ports.js';

/** The components of a cluster with one CloudCore, in start order. */
export const componentNames = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'cloudcore'] as const;
/** CloudCore instance i's component name: `cloudcore` (so single-CloudCore state files still read), then `cloudcore-1`, `cloudcore-2`. */
export const cloudcoreNames = ['cloudcore', 'cloudcore-1', 'cloudcore-2'] as const;
export type CloudcoreName = (typeof cloudcoreNames)[number];
export type ComponentName = (typeof componentNames)[number] | CloudcoreName;
/** Every name a component may have, in start order. */
export const allComponentNames = [...componentNames, ...cloudcoreNames.slice(1)] as [ComponentName, ...ComponentName[]];

/** How many CloudCores the cluster runs: 1 in state files written before `--cloudcores`. */
export function cloudcoreCount(state: Pick<ClusterState, 'cloudcores'>): number {
  return state.cloudcores ?? 1;
}

/** The components of this cluster, in start order: etcd first, the CloudCores last (none on an EdgeSite). */
export function clusterComponentNames(state: Pick<ClusterState, 'cloudcores'>): ComponentName[] {
  const n = cloudcoreCount(state);
  return n === 0 ? componentNames.filter((c) => c !== 'cloudcore') : [...componentNames, ...cloudcoreNames.slice(1, n)];
}

const processSchema = z.object({
  pid: z.number().int(),
  startTicks: z.number().int(),
  startedAt: z.string(),
  binary: z.string(),
  log: z.string(),
});
export type ProcessRecord = z.infer<typeof processSchema>;

/** A worker node: where it lives (see worker/layout.ts) and the processes that run it. */
const workerSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  id: z.string(),
  dir: z.string(),
  netns: z.string(),
  vethHost: z.string(),
  vethNode: z.string(),
  bridge: z.string(),
  network: z.string(),
  cgroupRoot: z.string(),
  hostIp: z.string(),
  nodeSideIp: z.string(),
  linkPrefix: z.number().int(),
  podSubnet: z.string(),
  ports: z.object({ kubelet: z.number().int(), kubeletHealthz: z.number().int() }),
  containerd: processSchema.optional(),
  kubelet: processSchema.optional(),
  /** The mount namespace containerd and the kubelet share ("mnt:[4026532…]"). */
  mountNs: z.string().optional(),
  /** Directories of containerd's fixed paths (/run/containerd/s for shim sockets) that `up` created, removed at `down` when empty. */
  createdDirs: z.array(z.string()).default([]),
});
export type WorkerRecord = z.infer<typeof workerSchema>;

const extraCloudcorePorts = [1, 2].flatMap((i) => cloudcorePortKinds.map((k) => `${k}-${i}`));
const portsSchema = z.object({
  ...(Object.fromEntries(portNames.map((n) => [n, z.number().int()])) as Record<(typeof portNames)[number], z.ZodNumber>),
  ...(Object.fromEntries(extraCloudcorePorts.map((n) => [n, z.number().int().optional()])) as Record<string, z.ZodOptional<z.ZodNumber>>),
});

const stateSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('LocalCluster'),
  stateDir: z.string(),
  ports: portsSchema,
  versions: z.record(z.string(), z.string()),
  nodeLimit: z.number().int(),
  kubeconfig: z.string(),
  /** CloudCore instances (absent: one); instance i's ports are `cloudhubWebsocket-i`..., its process `cloudcore-i`. */
  cloudcores: z.number().int().min(0).max(MAX_CLOUDCORES).optional(),
  /** edgesite: no CloudCore, every component inside one resource envelope (absent: the default profile). */
  profile: z.enum(['default', 'edgesite']).optional(),
  envelope: z
    .object({
      cpus: z.number().positive(),
      memoryBytes: z.number().int().positive(),
      cgroup: z.union([z.literal(1), z.literal(2)]),
      dirs: z.array(z.string()).min(1),
    })
    .optional(),
  /** kube-apiserver writes its audit log (logs/audit.log). */
  audit: z.boolean().optional(),
  components: z.partialRecord(z.enum(allComponentNames), processSchema),
  upAt: z.string().optional(),
  workers: z.array(workerSchema).optional(),
});
export type ClusterState = Omit<z.infer<typeof stateSchema>, 'ports'> & { ports: PortMap };

export function statePath(stateDir: string): string {
  return join(stateDir, 'cluster.json');
}

export function readState(stateDir: string): ClusterState | undefined {
  const file = statePath(stateDir);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EdgemarkError('EM_STATE_CORRUPT', `[cluster] ${file} is not valid JSON`, 'run `edgemark cluster down --purge` to start from scratch', {
      cause: err,
    });
  }
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new EdgemarkError(
      'EM_STATE_CORRUPT',
      `[cluster] ${file} does not match this version of edgemark: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
      'run `edgemark cluster down --purge` to start from scratch',
    );
  }
  return parsed.data as ClusterState;
}

export function writeState(state: ClusterState): void {
  mkdirSync(state.stateDir, { recursive: true, mode: 0o700 });
  const file = statePath(state.stateDir);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Reads the state of a cluster that must exist, with a clear error if not. */
export function requireState(stateDir: string): ClusterState {
  const s = readState(stateDir);
  if (!s) {
    throw new EdgemarkError(
      'EM_CLUSTER_NOT_FOUND',
      `[cluster] no local cluster in ${stateDir}`,
      'start one with `edgemark cluster up` (or pass the --state-dir it was started with)',
    );
  }
  return s;
}
