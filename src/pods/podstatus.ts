/**
 * Pod status as edged's kubelet reports it, computed from a pod's spec and its
 * lifecycle step. Pure: no I/O, no clock (times are passed in).
 */
export interface ContainerSpec {
  name: string;
  image?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface PodSpecLite {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  restartPolicy?: string;
}

export type PodStep = 'creating' | 'running' | 'not-ready' | 'succeeded' | 'failed' | 'terminated' | 'rejected';

export interface PodStatusInput {
  spec: PodSpecLite;
  step: PodStep;
  hostIP: string;
  podIP: string;
  startTime: string;
  /** When containers started (running and after). */
  startedAt?: string;
  finishedAt?: string;
  restartCount: number;
  /** Stable per pod: container ids derive from it. */
  uidHex: string;
  /** For 'rejected' (kubelet admission) and waiting reasons. */
  reason?: string;
  message?: string;
  /** Waiting reason while 'creating' (ContainerCreating, CreateContainerConfigError). */
  waitingReason?: string;
  exitCode?: number;
}

const podConditionOrder = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'] as const;

export function qosClass(spec: PodSpecLite): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const all = [...spec.containers, ...(spec.initContainers ?? [])];
  const any = all.some((c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length);
  if (!any) return 'BestEffort';
  const guaranteed = all.every((c) => {
    const l = c.resources?.limits ?? {};
    const r = c.resources?.requests ?? {};
    return ['cpu', 'memory'].every((k) => l[k] !== undefined && (r[k] === undefined || r[k] === l[k]));
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function condition(type: string, ok: boolean, at: string, reason?: string, message?: string) {
  return {
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: at,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

export function containerId(uidHex: string, index: number, restart: number): string {
  return `containerd://${uidHex}${index.toString(16).padStart(4, '0')}${restart.toString(16).padStart(4, '0')}`.padEnd(77, '0');
}

/** The status object the kubelet would report for this step. */
export function podStatus(i: PodStatusInput): Record<string, unknown> {
  const names = i.spec.containers.map((c) => c.name);
  const at = i.startedAt ?? i.startTime;
  const base = {
    hostIP: i.hostIP,
    hostIPs: [{ ip: i.hostIP }],
    startTime: i.startTime,
    qosClass: qosClass(i.spec),
  };
  if (i.step === 'rejected') {
    return { phase: 'Failed', reason: i.reason, message: i.message, startTime: i.startTime };
  }
  const running = i.step === 'running' || i.step === 'not-ready';
  const ready = i.step === 'running';
  const done = i.step === 'succeeded' || i.step === 'failed' || i.step === 'terminated';
  const phase = i.step === 'creating' ? 'Pending' : running ? 'Running' : i.step === 'failed' ? 'Failed' : 'Succeeded';
  const notReadyMsg = `containers with unready status: [${names.join(' ')}]`;
  const conditions = [
    condition('PodReadyToStartContainers', running, at),
    condition('Initialized', true, i.startTime),
    condition('Ready', ready, at, ready ? undefined : done ? 'PodCompleted' : 'ContainersNotReady', ready || done ? undefined : notReadyMsg),
    condition('ContainersReady', ready, at, ready ? undefined : done ? 'PodCompleted' : 'ContainersNotReady', ready || done ? undefined : notReadyMsg),
    condition('PodScheduled', true, i.startTime),
  ];
  const containerStatuses = i.spec.containers.map((c, idx) => {
    const image = c.image ?? '';
    const common = { name: c.name, image, restartCount: i.restartCount };
    if (i.step === 'creating') {
      return {
        ...common,
        imageID: '',
        ready: false,
        started: false,
        state: { waiting: { reason: i.waitingReason ?? 'ContainerCreating', ...(i.message ? { message: i.message } : {}) } },
        lastState: {},
      };
    }
    const ids = { containerID: containerId(i.uidHex, idx, i.restartCount), imageID: `${image.split(':')[0]}@sha256:${i.uidHex.padEnd(64, '0').slice(0, 64)}` };
    if (running) {
      return { ...common, ...ids, ready, started: true, state: { running: { startedAt: at } }, lastState: {} };
    }
    const exitCode = i.exitCode ?? (i.step === 'failed' ? 1 : 0);
    return {
      ...common,
      ...ids,
      ready: false,
      started: false,
      state: {
        terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: at, finishedAt: i.finishedAt ?? at, containerID: ids.containerID },
      },
      lastState: {},
    };
  });
  return {
    phase,
    conditions: podConditionOrder.map((t) => conditions.find((c) => c.type === t)!),
    ...base,
    ...(i.step !== 'creating' ? { podIP: i.podIP, podIPs: [{ ip: i.podIP }] } : {}),
    containerStatuses,
  };
}

/** A time as the API writes it: RFC 3339, whole seconds, UTC. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Parses a Kubernetes quantity to a number (cores for cpu, bytes for memory). */
export function parseQuantity(q: string | undefined): number {
  if (q === undefined || q === '') return 0;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  const units: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    Pi: 1024 ** 5,
  };
  const f = units[m[2]!];
  return f === undefined ? Number.NaN : v * f;
}

export function podRequests(spec: PodSpecLite): { cpu: number; memory: number } {
  const sum = (k: 'cpu' | 'memory') => spec.containers.reduce((a, c) => a + parseQuantity(c.resources?.requests?.[k] ?? c.resources?.limits?.[k]), 0);
  const init = (k: 'cpu' | 'memory') =>
    Math.max(0, ...(spec.initContainers ?? []).map((c) => parseQuantity(c.resources?.requests?.[k] ?? c.resources?.limits?.[k])));
  return { cpu: Math.max(sum('cpu'), init('cpu')), memory: Math.max(sum('memory'), init('memory')) };
}
