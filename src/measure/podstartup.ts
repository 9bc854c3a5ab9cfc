/**
 * Pod startup latency through a watch: from the moment the watch first sees a
 * pod (its creation, to the millisecond, unlike creationTimestamp) to the
 * moment it first sees it Running and Ready.
 */
import { k8s } from '../kube/client.js';

export interface StartupSample {
  uid: string;
  name: string;
  createdMs: number;
  runningMs?: number;
}

export class PodStartupWatch {
  readonly samples = new Map<string, StartupSample>();
  private req: { abort(): void } | undefined;

  constructor(private readonly kc: k8s.KubeConfig, private readonly namespace: string) {}

  async start(): Promise<void> {
    const w = new k8s.Watch(this.kc);
    this.req = await w.watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      {},
      (type: string, pod: k8s.V1Pod) => {
        const uid = pod.metadata?.uid;
        if (!uid || type === 'DELETED') return;
        const now = Date.now();
        let s = this.samples.get(uid);
        if (!s) {
          s = { uid, name: pod.metadata?.name ?? '', createdMs: now };
          this.samples.set(uid, s);
        }
        const ready = pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        if (ready && s.runningMs === undefined) s.runningMs = now;
      },
      () => undefined,
    );
  }

  stop(): void {
    this.req?.abort();
  }

  latenciesMs(): number[] {
    return [...this.samples.values()].filter((s) => s.runningMs !== undefined).map((s) => s.runningMs! - s.createdMs).sort((a, b) => a - b);
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
