/**
 * What a run measures while it runs: pod and node timelines through watches
 * (milliseconds, as this process sees them), the resource use of every
 * component and of the runner over time (from /proc or the components' own
 * /metrics: src/measure/sources.ts), and kube-apiserver's request
 * latency histograms (its /metrics, differenced over the test window).
 */
import { EdgemarkError } from '../core/errors.js';
import { k8s } from '../kube/client.js';
import { getText, kubeconfigGetOptions, procSources, treeOf, type ResourceReading, type ResourceSource, type ResourceSourceInfo } from '../measure/sources.js';

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

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly runId: string,
  ) {}

  async start(): Promise<void> {
    this.watching = await keepWatching(this.kc, '/api/v1/pods', { labelSelector: `edgemark.io/run=${this.runId}` }, (type, pod: k8s.V1Pod) =>
      this.observe(type, pod, Date.now()),
    );
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
  /** The node group (spec.nodes[].name) and its kind; absent in records written before groups. */
  group?: string;
  kind?: string;
  created: number;
  ready?: number;
  /** Ready went from True to something else after the node first was Ready. */
  flaps: number;
  lastReady?: boolean;
  /** After the first Ready: when Ready changed, [ms, 1 Ready | 0 not] (at most MAX_CHANGES; faults' SLIs read them). */
  changes?: [number, 0 | 1][];
}

const MAX_CHANGES = 200;

export class NodeTimeline {
  readonly nodes = new Map<string, NodeTimes>();
  private watching: Watching | undefined;

  /** The run's node groups: a node is theirs by its name's prefix. */
  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly groups: { name: string; kind: string; prefix: string }[],
  ) {}

  async start(): Promise<void> {
    this.watching = await keepWatching(this.kc, '/api/v1/nodes', {}, (type, node: k8s.V1Node) => this.observe(type, node, Date.now()));
  }

  observe(type: string, node: k8s.V1Node, now: number): void {
    const name = node.metadata?.name ?? '';
    if (type === 'DELETED') return;
    let t = this.nodes.get(name);
    if (!t) {
      const g = this.groups.find((x) => name.startsWith(x.prefix) && /^(0|[1-9][0-9]*)$/.test(name.slice(x.prefix.length)));
      if (!g) return;
      t = { name, group: g.name, kind: g.kind, created: now, flaps: 0 };
      this.nodes.set(name, t);
    }
    const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    if (ready && t.ready === undefined) t.ready = now;
    if (t.lastReady === true && !ready) t.flaps++;
    if (t.ready !== undefined && t.lastReady !== undefined && t.lastReady !== ready) {
      t.changes ??= [];
      if (t.changes.length < MAX_CHANGES) t.changes.push([now, ready ? 1 : 0]);
    }
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
  /**
   * Per component: cores used since its previous reading, and RSS bytes now.
   * A component absent from a record had no reading at this point (a gap: its
   * source failed), which is never written as a zero.
   */
  cpu: Record<string, number>;
  rss: Record<string, number>;
}

/** A source as the run record keeps it: where the figures came from, and how often they were missing. */
export interface ResourceSourceRecord extends ResourceSourceInfo {
  /** Readings attempted. */
  samples: number;
  /** Readings that failed or found nothing: gaps in the series. */
  failures: number;
  lastError?: string;
}

type Outcome = { ok: true; reading: ResourceReading | undefined; at: number } | { ok: false; error: string; at: number };

/**
 * Samples CPU and RSS of a list of resource sources every `everyMs` (one timer
 * per run). Sampling never overlaps itself: a tick that finds the previous
 * sample still in flight is skipped, and `sample()` called meanwhile shares it.
 * The first sample sets the baselines (no point); CPU is the difference of a
 * source's counter between two of its readings, so after a gap the next point
 * covers the gap.
 *
 * Also accepts the older shape, a record of pid-group functions (read through
 * /proc). A series made only of /proc sources records its point before
 * `sample()` returns, so callers that do not await it still see the point.
 */
export class ResourceSeries {
  readonly points: ResourcePoint[] = [];
  /** Timer ticks skipped because the previous sample was still in flight. */
  skippedTicks = 0;
  private readonly list: ResourceSource[];
  private readonly stats: Map<string, { samples: number; failures: number; lastError?: string }>;
  private readonly last = new Map<string, { at: number; cpuSeconds: number }>();
  private baselined = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<ResourcePoint | undefined> | undefined;

  constructor(
    sources: ResourceSource[] | Record<string, () => number[]>,
    private readonly t0: number,
  ) {
    this.list = Array.isArray(sources) ? [...sources] : procSources(sources);
    const names = new Set<string>();
    for (const s of this.list) {
      if (names.has(s.name)) throw new EdgemarkError('EM_MEASURE_DUPLICATE', `[measure] two resource sources for ${s.name}`, 'give each component one source');
      names.add(s.name);
    }
    this.stats = new Map(this.list.map((s) => [s.name, { samples: 0, failures: 0 }]));
  }

  start(everyMs: number): void {
    void this.sample();
    this.timer = setInterval(() => {
      if (this.inFlight) this.skippedTicks++;
      else void this.sample();
    }, everyMs);
  }

  /** One reading of every source; resolves to the point recorded (none for the first sample). */
  sample(): Promise<ResourcePoint | undefined> {
    if (this.inFlight) return this.inFlight;
    const began = Date.now();
    if (this.list.every((s) => s.readNow))
      return Promise.resolve(
        this.record(
          began,
          this.list.map((s) => readSync(s)),
        ),
      );
    const p = Promise.all(this.list.map((s) => readAsync(s))).then((outcomes) => this.record(began, outcomes));
    this.inFlight = p.finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Stops the timer and takes a last sample (after the one in flight, if any). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.inFlight) await this.inFlight;
    await this.sample();
  }

  /** Every source with its readings and gaps, for the run record. */
  sources(): ResourceSourceRecord[] {
    return this.list.map((s) => {
      const st = this.stats.get(s.name)!;
      return { name: s.name, how: s.how, detail: s.detail, samples: st.samples, failures: st.failures, ...(st.lastError ? { lastError: st.lastError } : {}) };
    });
  }

  private record(began: number, outcomes: Outcome[]): ResourcePoint | undefined {
    const cpu: Record<string, number> = {};
    const rss: Record<string, number> = {};
    outcomes.forEach((o, i) => {
      const name = this.list[i]!.name;
      const st = this.stats.get(name)!;
      st.samples++;
      if (!o.ok || !o.reading) {
        st.failures++;
        st.lastError = o.ok ? 'no reading' : o.error;
        return;
      }
      rss[name] = o.reading.rssBytes;
      const prev = this.last.get(name);
      this.last.set(name, { at: o.at, cpuSeconds: o.reading.cpuSeconds });
      // A counter that went back means the process restarted: no CPU figure for this interval.
      if (prev && o.reading.cpuSeconds >= prev.cpuSeconds) cpu[name] = (o.reading.cpuSeconds - prev.cpuSeconds) / Math.max(0.001, (o.at - prev.at) / 1000);
    });
    if (!this.baselined) {
      this.baselined = true;
      return undefined;
    }
    const p = { t: began - this.t0, cpu, rss };
    this.points.push(p);
    return p;
  }
}

function readSync(s: ResourceSource): Outcome {
  try {
    return { ok: true, reading: s.readNow!(), at: Date.now() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), at: Date.now() };
  }
}

function readAsync(s: ResourceSource): Promise<Outcome> {
  return s.sample().then(
    (reading) => ({ ok: true as const, reading, at: Date.now() }),
    (err: unknown) => ({ ok: false as const, error: err instanceof Error ? err.message : String(err), at: Date.now() }),
  );
}

/** Mean per component over points, counting only the points that have a reading of it (gaps are skipped, not zeros). */
export function meanByComponent(points: ResourcePoint[], key: 'cpu' | 'rss'): Record<string, number> {
  const sum: Record<string, number> = {};
  const n: Record<string, number> = {};
  for (const p of points) {
    for (const [k, v] of Object.entries(p[key])) {
      sum[k] = (sum[k] ?? 0) + v;
      n[k] = (n[k] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.keys(sum).map((k) => [k, sum[k]! / n[k]!]));
}

/** The runner's process group: the CLI process and its workers. */
export const runnerGroup = (pid: () => number | undefined): (() => number[]) => treeOf(pid);

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
  const server = kc.getCurrentCluster()?.server;
  if (!server)
    throw new EdgemarkError('EM_KUBECONFIG', '[measure] the kubeconfig has no current cluster', 'pass a kubeconfig whose current context names a cluster');
  return getText(new URL(path, server).toString(), { ...(await kubeconfigGetOptions(kc)), timeoutMs: 30_000 });
}

// ---------- statistics ----------

/** Nearest-rank percentile of numbers (sorted or not). */
export function pct(values: number[], p: number): number {
  return rank(
    [...values].sort((a, b) => a - b),
    p,
  );
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
