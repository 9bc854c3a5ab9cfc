/**
 * What a run measures while it runs: pod and node timelines through watches
 * (milliseconds, as this process sees them), the resource use of every
 * component and of the runner over time (/proc), and kube-apiserver's request
 * latency histograms (its /metrics, differenced over the test window).
 */
import { request } from 'node:https';
import { groupCpuSeconds, groupRssBytes, processTree } from '../measure/procsample.js';
import { k8s } from '../kube/client.js';

// ---------- watches ----------

interface Watching {
  stop(): void;
}

/** A watch that picks up again when the apiserver ends it (timeouts, restarts), until stopped. */
async function keepWatching<T>(kc: k8s.KubeConfig, path: string, query: Record<string, string>, onEvent: (type: string, obj: T) => void): Promise<Watching> {
  const watch = new k8s.Watch(kc);
  let req: { abort(): void } | undefined;
  let stopped = false;
  const begin = async (): Promise<void> => {
    req = await watch.watch(path, query, onEvent, () => {
      if (!stopped) setTimeout(() => void begin().catch(() => undefined), 500);
    });
  };
  await begin();
  return {
    stop() {
      stopped = true;
      req?.abort();
    },
  };
}

// ---------- pods ----------

export interface PodTimes {
  uid: string;
  namespace: string;
  name: string;
  node?: string;
  /** First seen by the watch (its creation). */
  created: number;
  scheduled?: number;
  /** First status from the edge seen (hostIP set): the pod reached the node and it reported. */
  reported?: number;
  /** containerStatuses startedAt (second precision, from the node). */
  runningAtNode?: number;
  /** First seen Running and Ready. */
  runningSeen?: number;
  deleted?: number;
}

/** One watch over the run's pods (label edgemark.io/run=<id>), all namespaces. */
export class PodTimeline {
  readonly pods = new Map<string, PodTimes>();
  private watching: Watching | undefined;

  constructor(private readonly kc: k8s.KubeConfig, private readonly runId: string) {}

  async start(): Promise<void> {
    this.watching = await keepWatching(this.kc, '/api/v1/pods', { labelSelector: `edgemark.io/run=${this.runId}` }, (type, pod: k8s.V1Pod) => this.observe(type, pod, Date.now()));
  }

  observe(type: string, pod: k8s.V1Pod, now: number): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    let t = this.pods.get(uid);
    if (!t) {
      t = { uid, namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', created: now };
      this.pods.set(uid, t);
    }
    if (type === 'DELETED') {
      t.deleted ??= now;
      return;
    }
    if (pod.spec?.nodeName && t.scheduled === undefined) {
      t.scheduled = now;
      t.node = pod.spec.nodeName;
    }
    if (pod.status?.hostIP && t.reported === undefined) t.reported = now;
    const started = pod.status?.containerStatuses?.[0]?.state?.running?.startedAt;
    if (started && t.runningAtNode === undefined) t.runningAtNode = new Date(started as unknown as string).getTime();
    const ready = pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready && t.runningSeen === undefined) t.runningSeen = now;
  }

  /** Created to Running seen by the watch, ms, of every pod that got there. */
  startupLatencies(): number[] {
    return [...this.pods.values()].filter((p) => p.runningSeen !== undefined).map((p) => p.runningSeen! - p.created);
  }

  stop(): void {
    this.watching?.stop();
  }
}

// ---------- nodes ----------

export interface NodeTimes {
  name: string;
  created: number;
  ready?: number;
  /** Ready went from True to something else after the node first was Ready. */
  flaps: number;
  lastReady?: boolean;
}

export class NodeTimeline {
  readonly nodes = new Map<string, NodeTimes>();
  private watching: Watching | undefined;

  constructor(private readonly kc: k8s.KubeConfig, private readonly prefix: string) {}

  async start(): Promise<void> {
    this.watching = await keepWatching(this.kc, '/api/v1/nodes', {}, (type, node: k8s.V1Node) => this.observe(type, node, Date.now()));
  }

  observe(type: string, node: k8s.V1Node, now: number): void {
    const name = node.metadata?.name ?? '';
    if (!name.startsWith(this.prefix) || type === 'DELETED') return;
    let t = this.nodes.get(name);
    if (!t) {
      t = { name, created: now, flaps: 0 };
      this.nodes.set(name, t);
    }
    const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    if (ready && t.ready === undefined) t.ready = now;
    if (t.lastReady === true && !ready) t.flaps++;
    t.lastReady = ready;
  }

  readyCount(): number {
    let n = 0;
    for (const t of this.nodes.values()) if (t.lastReady) n++;
    return n;
  }

  stop(): void {
    this.watching?.stop();
  }
}

// ---------- resources ----------

export interface ResourcePoint {
  /** ms since the run began. */
  t: number;
  /** Per component: cores used since the previous point, and RSS bytes now. */
  cpu: Record<string, number>;
  rss: Record<string, number>;
}

/** Samples CPU and RSS of process groups every `everyMs` (shared timer, one per run). */
export class ResourceSeries {
  readonly points: ResourcePoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private last: { at: number; cpu: Record<string, number> } | undefined;

  constructor(private readonly groups: Record<string, () => number[]>, private readonly t0: number) {}

  start(everyMs: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): ResourcePoint | undefined {
    const now = Date.now();
    const cpuNow: Record<string, number> = {};
    const rss: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.groups)) {
      const list = pids();
      cpuNow[name] = groupCpuSeconds(list);
      rss[name] = groupRssBytes(list);
    }
    const prev = this.last;
    this.last = { at: now, cpu: cpuNow };
    if (!prev) return undefined;
    const secs = Math.max(0.001, (now - prev.at) / 1000);
    const cpu = Object.fromEntries(Object.keys(cpuNow).map((k) => [k, Math.max(0, (cpuNow[k]! - (prev.cpu[k] ?? cpuNow[k]!)) / secs)]));
    const p = { t: now - this.t0, cpu, rss };
    this.points.push(p);
    return p;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sample();
  }
}

/** The runner's process group: the CLI process and its workers. */
export const runnerGroup = (pid: () => number | undefined) => () => {
  const p = pid();
  return p ? processTree(p) : [];
};

// ---------- kube-apiserver request latency ----------

export interface Histogram {
  /** Upper bounds (seconds) with cumulative counts, +Inf last. */
  buckets: [number, number][];
  count: number;
  sum: number;
}

/** key: "verb resource scope" */
export type ApiHistograms = Map<string, Histogram>;

/** Parses apiserver_request_duration_seconds out of Prometheus text, summed over the labels we do not keep. */
export function parseRequestDurations(text: string): ApiHistograms {
  const out: ApiHistograms = new Map();
  const re = /^apiserver_request_duration_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    const verb = labels.verb ?? '';
    if (verb === 'WATCH' || verb === 'CONNECT' || verb === 'WATCHLIST') continue;
    const key = `${verb} ${labels.resource ?? ''}${labels.subresource ? `/${labels.subresource}` : ''} ${labels.scope ?? ''}`;
    let h = out.get(key);
    if (!h) {
      h = { buckets: [], count: 0, sum: 0 };
      out.set(key, h);
    }
    const v = Number(m[3]);
    if (m[1] === 'count') h.count += v;
    else if (m[1] === 'sum') h.sum += v;
    else {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      const b = h.buckets.find((x) => x[0] === le);
      if (b) b[1] += v;
      else h.buckets.push([le, v]);
    }
  }
  for (const h of out.values()) h.buckets.sort((a, b) => a[0] - b[0]);
  return out;
}

/** after − before, bucket by bucket (the test window's requests only). */
export function diffHistograms(before: ApiHistograms, after: ApiHistograms): ApiHistograms {
  const out: ApiHistograms = new Map();
  for (const [k, a] of after) {
    const b = before.get(k);
    const count = a.count - (b?.count ?? 0);
    if (count <= 0) continue;
    out.set(k, {
      count,
      sum: a.sum - (b?.sum ?? 0),
      buckets: a.buckets.map(([le, c]) => [le, c - (b?.buckets.find((x) => x[0] === le)?.[1] ?? 0)] as [number, number]),
    });
  }
  return out;
}

/** histogram_quantile as Prometheus computes it: linear within the bucket. Seconds. */
export function histogramQuantile(q: number, h: Histogram): number {
  const total = h.buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-12, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

/** GET a path of kube-apiserver with the kubeconfig's credentials. */
export async function apiserverGet(kc: k8s.KubeConfig, path: string): Promise<string> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const opts: import('node:https').RequestOptions = { hostname: server.hostname, port: server.port, path, method: 'GET' };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${path}: timed out`)));
    req.end();
  });
}

// ---------- statistics ----------

/** Nearest-rank percentile of numbers (sorted or not). */
export function pct(values: number[], p: number): number {
  return rank([...values].sort((a, b) => a - b), p);
}

function rank(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const r = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, r)) - 1]!;
}

export function summarize(values: number[]): { count: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { count: s.length, p50: rank(s, 50), p90: rank(s, 90), p99: rank(s, 99), max: s.length ? s[s.length - 1]! : Number.NaN };
}
