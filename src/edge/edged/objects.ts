/**
 * The Kubernetes objects a hollow edged sends, built from one shared profile.
 * Shapes follow what edgecore 1.23's edged (the embedded kubelet) sends: the
 * Node at registration, the node Lease, and node-status patches.
 */
import { parseQuantity, rfc3339 } from '../../pods/podstatus.js';

export interface NodeProfile {
  cpu: string;
  memory: string;
  pods: string;
  ephemeralStorage: string;
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  kubeletVersion: string;
  containerRuntimeVersion: string;
  osImage: string;
  kernelVersion: string;
  architecture: string;
  operatingSystem: string;
  /** edged's kubelet server port, reported in daemonEndpoints. */
  kubeletPort: number;
}

export const defaultNodeProfile: NodeProfile = {
  cpu: '2',
  memory: '4Gi',
  pods: '110',
  ephemeralStorage: '20Gi',
  labels: {},
  taints: [],
  // edged reports "<kubernetes version>-kubeedge-<kubeedge version>".
  kubeletVersion: 'v1.32.10-kubeedge-v1.23.1',
  // edged reports the CRI runtime as "<name>://<version>"; edgecore's default runtime is containerd.
  containerRuntimeVersion: 'containerd://1.7.24',
  osImage: 'Edgemark hollow edge node',
  kernelVersion: '6.1.0-edgemark',
  architecture: 'amd64',
  operatingSystem: 'linux',
  kubeletPort: 10350,
};

const conditionText = {
  MemoryPressure: ['False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  DiskPressure: ['False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  PIDPressure: ['False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
  Ready: ['True', 'EdgeReady', 'edge is posting ready status'],
} as const;

export const conditionTypes = Object.keys(conditionText) as (keyof typeof conditionText)[];

export function nodeConditions(now: string, since: string) {
  return conditionTypes.map((type) => {
    const [status, reason, message] = conditionText[type];
    return { type, status, lastHeartbeatTime: now, lastTransitionTime: since, reason, message };
  });
}

export function nodeLabels(p: NodeProfile, name: string): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': p.architecture,
    'beta.kubernetes.io/os': p.operatingSystem,
    'kubernetes.io/arch': p.architecture,
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': p.operatingSystem,
    'node-role.kubernetes.io/agent': '',
    'node-role.kubernetes.io/edge': '',
    ...p.labels,
  };
}

export function resources(p: NodeProfile): Record<string, string> {
  return {
    cpu: p.cpu,
    'ephemeral-storage': p.ephemeralStorage,
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: p.memory,
    pods: p.pods,
  };
}

/** What edged reserves from capacity: 100Mi of memory (system reserved) and 10% of ephemeral storage (eviction threshold). */
export const reservedMemoryBytes = 100 * 1024 ** 2;
export const reservedEphemeralFraction = 0.1;

const allocatableOf = new WeakMap<NodeProfile, Record<string, string>>();

/**
 * Allocatable as edged reports it: capacity less the memory reserve and the
 * ephemeral-storage eviction share. Profiles are shared and never change, so
 * it is computed once per profile (pod admission asks for it on every pod).
 */
export function allocatable(p: NodeProfile): Record<string, string> {
  let a = allocatableOf.get(p);
  if (!a) {
    a = {
      ...resources(p),
      memory: binaryQuantity(Math.max(0, parseQuantity(p.memory) - reservedMemoryBytes)),
      'ephemeral-storage': binaryQuantity(Math.floor(parseQuantity(p.ephemeralStorage) * (1 - reservedEphemeralFraction))),
    };
    allocatableOf.set(p, a);
  }
  return a;
}

/** Bytes in Kubernetes' canonical binary form: the largest power-of-1024 suffix that divides exactly. */
export function binaryQuantity(n: number): string {
  const suffixes = ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'];
  for (let i = 0; i < suffixes.length; i++) {
    const f = 1024 ** (6 - i);
    if (n !== 0 && n % f === 0) return `${n / f}${suffixes[i]}`;
  }
  return String(n);
}

export interface NodeIdentity {
  name: string;
  /** The node's InternalIP. */
  ip: string;
  /** Stable per node (machine-id, system UUID, boot id). */
  machineId: string;
  bootId: string;
  /** First three octets of the node's fake pod CIDR (a /24). */
  podCidrPrefix: string;
}

/** The Node edged creates at registration. */
export function initialNode(p: NodeProfile, id: NodeIdentity, now: Date) {
  const ts = rfc3339(now);
  // edged's insert carries no apiVersion/kind: CloudCore's metaserver fills them in.
  return {
    metadata: {
      name: id.name,
      labels: nodeLabels(p, id.name),
      annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: p.taints.length ? { taints: p.taints } : {},
    status: {
      capacity: resources(p),
      allocatable: allocatable(p),
      conditions: nodeConditions(ts, ts),
      addresses: [
        { type: 'InternalIP', address: id.ip },
        { type: 'Hostname', address: id.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: p.kubeletPort } },
      nodeInfo: {
        machineID: id.machineId,
        systemUUID: id.machineId,
        bootID: id.bootId,
        kernelVersion: p.kernelVersion,
        osImage: p.osImage,
        containerRuntimeVersion: p.containerRuntimeVersion,
        kubeletVersion: p.kubeletVersion,
        // edgecore's embedded kubelet is built without version stamping of kube-proxy.
        kubeProxyVersion: 'v0.0.0-master+$Format:%H$',
        operatingSystem: p.operatingSystem,
        architecture: p.architecture,
      },
    },
  };
}

/**
 * The strategic-merge patch the kubelet sends when only heartbeat times moved:
 * every condition with its new lastHeartbeatTime, in a stable order. Sent as a
 * JSON string, as edged does.
 */
export function heartbeatPatch(now: Date): string {
  const ts = rfc3339(now);
  return conditionsPatch(conditionTypes.map((type) => ({ lastHeartbeatTime: ts, type })));
}

/** A strategic-merge patch of the node's conditions, in their stable order. */
function conditionsPatch(conditions: object[]): string {
  return JSON.stringify({
    status: { $setElementOrder$conditions: conditionTypes.map((type) => ({ type })), conditions },
  }).replace('$setElementOrder$conditions', '$setElementOrder/conditions');
}

/**
 * The patch the kubelet sends when the API's conditions differ from its own
 * (after registration over an existing Node, or after the node lifecycle
 * controller marked it Unknown): every condition in full.
 */
export function fullStatusPatch(now: Date, since: Date): string {
  return conditionsPatch(nodeConditions(rfc3339(now), rfc3339(since)));
}

interface NodeWithConditions {
  status?: { conditions?: { type?: string; status?: string }[] };
}

/** True when the API's Node does not show our conditions (missing, or another status such as Unknown). */
export function conditionsDiffer(node: NodeWithConditions | undefined): boolean {
  const have = new Map((node?.status?.conditions ?? []).map((c) => [c.type, c.status]));
  return conditionTypes.some((type) => have.get(type) !== conditionText[type][0]);
}

export interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: {
    name: string;
    namespace: 'kube-node-lease';
    resourceVersion?: string;
    ownerReferences?: { apiVersion: 'v1'; kind: 'Node'; name: string; uid: string }[];
  };
  spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string };
}

export function newLease(name: string, durationSeconds: number, now: Date, nodeUid?: string): LeaseObject {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace: 'kube-node-lease',
      ...(nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: nodeUid }] } : {}),
    },
    spec: { holderIdentity: name, leaseDurationSeconds: durationSeconds, renewTime: microTime(now) },
  };
}

/** metav1.MicroTime: RFC 3339 with six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
