/**
 * The objects a hollow kubelet writes, pure: its Node (full status on create,
 * as the kubelet sends it), the node-status patches (strategic merge, only
 * what changed), the Lease, the CSINode and its events. Two shapes: `kubemark`
 * (what cmd/kubemark's hollow kubelet reports: 1 CPU, 3840Mi, 110 pods, no
 * ephemeral storage, a `kubemark://` providerID, empty machine ids, no
 * events, no attach-detach annotation) and `kubelet` (what a kubelet on a
 * real machine reports: machine ids, reservations taken off allocatable,
 * containerd, the attach-detach annotation, events).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { EdgemarkError } from '../core/errors.js';
import { parseQuantity, rfc3339 } from '../pods/podstatus.js';

/** The Kubernetes version the hollow kubelet reports: the local control plane's pin (a fast test keeps them equal). */
export const KUBELET_VERSION = 'v1.32.5';

const quantity = z.string().regex(/^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$/, 'a Kubernetes quantity such as 2, 500m or 4Gi');
const taint = z.object({ key: z.string().min(1), value: z.string().optional(), effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) }).strict();

export const kubeletProfileSchema = z
  .object({
    /** kubemark (cmd/kubemark's hollow node) or kubelet (a real-looking node). */
    shape: z.enum(['kubemark', 'kubelet']),
    cpu: quantity,
    memory: quantity,
    pods: z.string().regex(/^\d+$/, 'a whole number'),
    ephemeralStorage: quantity,
    labels: z.record(z.string(), z.string()),
    taints: z.array(taint),
    kubeletVersion: z.string(),
    containerRuntimeVersion: z.string(),
    osImage: z.string(),
    kernelVersion: z.string(),
    architecture: z.string(),
    operatingSystem: z.string(),
    kubeletPort: z.number().int().min(1).max(65535),
    /** A hollow kube-proxy per node (its watches of Services, EndpointSlices and its Node), or none. */
    proxy: z.enum(['per-node', 'off']),
    /** A hollow node-problem-detector: a status patch every 5 minutes. */
    npd: z.boolean(),
    /** Post the kubelet's node and pod events (the real kubemark posts none). */
    events: z.boolean(),
    /** Refuse pods whose container ports lack a hostPort equal to the containerPort (EdgeSite's rule). */
    requireHostPort: z.boolean(),
    /** Client-side rate limit of the node's main client (kubemark 10/20, kubelet 50/100). */
    qps: z.number().positive(),
    burst: z.number().int().positive(),
  })
  .partial()
  .strict();

export type KubeletProfile = Required<z.infer<typeof kubeletProfileSchema>>;

const common = {
  labels: {} as Record<string, string>,
  taints: [] as KubeletProfile['taints'],
  kubeletVersion: KUBELET_VERSION,
  architecture: 'amd64',
  operatingSystem: 'linux',
  kubeletPort: 10250,
  npd: false,
  requireHostPort: false,
} satisfies Partial<KubeletProfile>;

export const shapes: Record<KubeletProfile['shape'], KubeletProfile> = {
  kubemark: {
    ...common,
    proxy: 'off',
    shape: 'kubemark',
    // pkg/kubelet/cadvisor/testing: 1 core, 4026531840 bytes; the stub container manager: no ephemeral storage.
    cpu: '1',
    memory: '3840Mi',
    pods: '110',
    ephemeralStorage: '0',
    containerRuntimeVersion: 'fakeRuntime://0.1.0',
    osImage: 'Debian GNU/Linux 7 (wheezy)',
    kernelVersion: '3.16.0-0.bpo.4-amd64',
    events: false,
    qps: 10,
    burst: 20,
  },
  kubelet: {
    ...common,
    proxy: 'off',
    shape: 'kubelet',
    cpu: '4',
    memory: '16Gi',
    pods: '110',
    ephemeralStorage: '100Gi',
    containerRuntimeVersion: 'containerd://1.7.24',
    osImage: 'Debian GNU/Linux 12 (bookworm)',
    kernelVersion: '6.1.0-28-amd64',
    events: true,
    qps: 50,
    burst: 100,
  },
};

export function kubeletProfile(groupName: string, raw: Record<string, unknown>): KubeletProfile {
  const p = kubeletProfileSchema.safeParse(raw);
  if (!p.success) {
    const issue = p.error.issues[0]!;
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] group ${groupName}: profile.${issue.path.join('.') || '(root)'}: ${issue.message}`,
      `kubelet profile keys are ${Object.keys(shapes.kubelet).join(', ')}`,
    );
  }
  return { ...shapes[p.data.shape ?? 'kubemark'], ...p.data };
}

/** A node's fake addresses and ids, from its global index. */
export interface KubeletIdentity {
  name: string;
  ip: string;
  /** First three octets of its fake /24 pod CIDR. */
  podCidrPrefix: string;
  machineId: string;
  systemUUID: string;
  bootId: string;
}

export function kubeletIdentity(name: string, index: number, bootId: string): KubeletIdentity {
  const h = createHash('md5').update(`edgemark/${name}`).digest('hex');
  return {
    name,
    // Fake, never dialled; apart from the edge kind's 10.128/10 block.
    ip: `10.${192 + ((index >> 16) & 63)}.${(index >> 8) & 255}.${index & 255}`,
    // As the edge kind's: groups' global indices are disjoint, so no two nodes of a plan share one.
    podCidrPrefix: `10.${(index >> 8) & 255}.${index & 255}`,
    machineId: h,
    systemUUID: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
    bootId,
  };
}

/** Capacity as the kubelet reports it. */
export function capacity(p: KubeletProfile): Record<string, string> {
  const c: Record<string, string> = { cpu: p.cpu, 'ephemeral-storage': p.ephemeralStorage, memory: p.memory, pods: p.pods };
  if (p.shape === 'kubelet') Object.assign(c, { 'hugepages-1Gi': '0', 'hugepages-2Mi': '0' });
  return c;
}

/**
 * Allocatable: kubemark's stub container manager reserves nothing; a kubelet
 * takes off its default hard-eviction thresholds (memory.available 100Mi,
 * nodefs.available 10 %).
 */
export function allocatable(p: KubeletProfile): Record<string, string> {
  const c = capacity(p);
  if (p.shape === 'kubemark') return c;
  const memKi = Math.max(0, Math.floor(parseQuantity(p.memory) / 1024) - 100 * 1024);
  const eph = Math.max(0, Math.floor(parseQuantity(p.ephemeralStorage) * 0.9));
  return { ...c, memory: `${memKi}Ki`, 'ephemeral-storage': String(eph) };
}

export function nodeLabels(p: KubeletProfile, name: string): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': p.architecture,
    'beta.kubernetes.io/os': p.operatingSystem,
    'kubernetes.io/arch': p.architecture,
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': p.operatingSystem,
    ...p.labels,
  };
}

const conditionText = {
  MemoryPressure: ['False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  DiskPressure: ['False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  PIDPressure: ['False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
  Ready: ['True', 'KubeletReady', 'kubelet is posting ready status'],
} as const;
export const conditionTypes = Object.keys(conditionText) as (keyof typeof conditionText)[];

/** Until its CSINode exists the kubelet reports NotReady with the storage error. */
export const NOT_READY = { status: 'False', reason: 'KubeletNotReady', message: 'CSINode is not yet initialized' } as const;

export function conditions(now: string, since: string, ready: boolean) {
  return conditionTypes.map((type) => {
    const [status, reason, message] = type === 'Ready' && !ready ? [NOT_READY.status, NOT_READY.reason, NOT_READY.message] : conditionText[type];
    return { type, status, lastHeartbeatTime: now, lastTransitionTime: since, reason, message };
  });
}

/** The Node the kubelet creates: metadata, spec and full status in one POST. */
export function initialNode(p: KubeletProfile, id: KubeletIdentity, now: Date) {
  const t = rfc3339(now);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: id.name,
      labels: nodeLabels(p, id.name),
      ...(p.shape === 'kubelet' ? { annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } } : {}),
    },
    spec: {
      ...(p.shape === 'kubemark' ? { providerID: `kubemark://${id.name}` } : {}),
      ...(p.taints.length ? { taints: p.taints } : {}),
    },
    status: {
      capacity: capacity(p),
      allocatable: allocatable(p),
      conditions: conditions(t, t, false),
      addresses: [
        { type: 'InternalIP', address: id.ip },
        { type: 'Hostname', address: id.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: p.kubeletPort } },
      nodeInfo: {
        machineID: p.shape === 'kubemark' ? '' : id.machineId,
        systemUUID: p.shape === 'kubemark' ? '' : id.systemUUID,
        bootID: p.shape === 'kubemark' ? '' : id.bootId,
        kernelVersion: p.kernelVersion,
        osImage: p.osImage,
        containerRuntimeVersion: p.containerRuntimeVersion,
        kubeletVersion: p.kubeletVersion,
        kubeProxyVersion: p.kubeletVersion,
        operatingSystem: p.operatingSystem,
        architecture: p.architecture,
      },
      ...(p.shape === 'kubelet' ? { images: [{ names: ['registry.k8s.io/pause:3.10'], sizeBytes: 320368 }] } : {}),
    },
  };
}

const conditionOrder = { $setElementOrder: conditionTypes.map((type) => ({ type })) };

/**
 * The status patch of a status computation, as the kubelet's two-way
 * strategic merge gives it: the heartbeat of every condition, and the whole
 * condition for those that changed (the Ready flip).
 */
export function statusPatch(now: string, since: string, ready: boolean, changed: boolean): string {
  const conds = changed
    ? conditions(now, since, ready).map((c) => (c.type === 'Ready' ? c : { type: c.type, lastHeartbeatTime: now }))
    : conditionTypes.map((type) => ({ lastHeartbeatTime: now, type }));
  return JSON.stringify({ status: { '$setElementOrder/conditions': conditionOrder.$setElementOrder, conditions: conds } });
}

/** What node-problem-detector's condition manager sends with no monitors: no conditions. */
export const NPD_PATCH = JSON.stringify({ status: { conditions: [] } });

export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function ownerRef(name: string, uid: string) {
  return [{ apiVersion: 'v1', kind: 'Node', name, uid }];
}

export function newLease(name: string, uid: string, durationS: number, nowMs: number) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: 'kube-node-lease', ownerReferences: ownerRef(name, uid) },
    spec: { holderIdentity: name, leaseDurationSeconds: durationS, renewTime: microTime(nowMs) },
  };
}

/** In-tree volume plugins whose CSI migration is on in 1.32: the CSINode names them. */
export const MIGRATED_PLUGINS =
  'kubernetes.io/aws-ebs,kubernetes.io/azure-disk,kubernetes.io/azure-file,kubernetes.io/cinder,kubernetes.io/gce-pd,kubernetes.io/portworx-volume,kubernetes.io/vsphere-volume';

export function csiNode(name: string, uid: string) {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'CSINode',
    metadata: { name, annotations: { 'storage.alpha.kubernetes.io/migrated-plugins': MIGRATED_PLUGINS }, ownerReferences: ownerRef(name, uid) },
    spec: { drivers: [] },
  };
}

/** A core/v1 Event as the kubelet's recorder posts it (source component kubelet, host the node). */
let eventSeq = 0;

export function kubeletEvent(
  o: { namespace: string; kind: string; name: string; uid: string; fieldPath?: string },
  reason: string,
  message: string,
  node: string,
  nowMs: number,
  type: 'Normal' | 'Warning' = 'Normal',
) {
  const t = rfc3339(new Date(nowMs));
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${o.name}.${(nowMs * 1000 + (eventSeq++ % 1000)).toString(16)}`, namespace: o.namespace },
    involvedObject: {
      kind: o.kind,
      namespace: o.namespace === 'default' && o.kind === 'Node' ? '' : o.namespace,
      name: o.name,
      uid: o.uid,
      apiVersion: 'v1',
      ...(o.fieldPath ? { fieldPath: o.fieldPath } : {}),
    },
    reason,
    message,
    source: { component: 'kubelet', host: node },
    firstTimestamp: t,
    lastTimestamp: t,
    count: 1,
    type,
    eventTime: null,
    reportingComponent: 'kubelet',
    reportingInstance: node,
  };
}
