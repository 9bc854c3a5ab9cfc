/**
 * Where a component's CPU and memory figures come from. Two kinds of source
 * answer the same question ("CPU seconds used so far, resident bytes now"):
 *   proc     a local pid group read through /proc (the local cluster, the runner)
 *   metrics  the component's own Prometheus /metrics: the standard process
 *            collector's process_cpu_seconds_total and
 *            process_resident_memory_bytes, which the Go client computes from
 *            the same /proc/self/stat fields, so both kinds agree on one host
 *            and the second also works for a control plane that is not ours.
 * A source that cannot answer returns undefined (or throws): a gap, never a zero.
 */
import type { RequestOptions } from 'node:https';
import { LOOPBACK } from '../cluster/ports.js';
import type { ClusterState } from '../cluster/state.js';
import { EdgemarkError } from '../core/errors.js';
import { httpGet, type GetOptions } from '../core/http.js';
import type { k8s } from '../kube/client.js';
import { groupCpuSeconds, groupRssBytes, processTree } from './procsample.js';

export interface ResourceReading {
  /** CPU time used since the process started (user + system), seconds. */
  cpuSeconds: number;
  /** Resident set size now, bytes. */
  rssBytes: number;
}

export interface ResourceSource {
  /** The component it measures (the key in every ResourcePoint). */
  readonly name: string;
  readonly how: 'proc' | 'metrics';
  /** The pid group or the URL it reads. */
  readonly detail: string;
  /** One reading, or undefined when there is none (a gap, not a zero). May throw: also a gap. */
  sample(): Promise<ResourceReading | undefined>;
  /**
   * /proc sources also read synchronously, so a series made only of them
   * records its point before `sample()` returns (today's callers do not await).
   */
  readNow?(): ResourceReading | undefined;
}

/** What a run record keeps about each source. */
export interface ResourceSourceInfo {
  name: string;
  how: 'proc' | 'metrics';
  detail: string;
}

// ---------- /proc ----------

/** A /proc source over a pid group; an empty group or one whose processes are gone is a gap. */
export function procSource(name: string, pids: () => number[]): ResourceSource {
  let seen: number[] = [];
  const readNow = (): ResourceReading | undefined => {
    const list = pids();
    if (list.length === 0) return undefined;
    seen = list;
    const rssBytes = groupRssBytes(list);
    // Every live process has resident pages: none means the group has exited.
    if (rssBytes <= 0) return undefined;
    return { cpuSeconds: groupCpuSeconds(list), rssBytes };
  };
  return {
    name,
    how: 'proc',
    get detail() {
      if (seen.length === 0) seen = pids();
      if (seen.length === 0) return 'pid group (not seen running)';
      return seen.length === 1 ? `pid ${seen[0]}` : `pid ${seen[0]} and ${seen.length - 1} descendant(s)`;
    },
    readNow,
    sample: () => Promise.resolve(readNow()),
  };
}

/** One /proc source per named pid group (the shape run.ts builds today). */
export function procSources(groups: Record<string, () => number[]>): ResourceSource[] {
  return Object.entries(groups).map(([name, pids]) => procSource(name, pids));
}

/** The pid group of a process and its descendants (a runner and its workers). */
export const treeOf = (pid: () => number | undefined) => (): number[] => {
  const p = pid();
  return p ? processTree(p) : [];
};

// ---------- Prometheus text format ----------

/**
 * The value of each named metric in Prometheus' text exposition format: the
 * first sample of that exact name (process_* have no labels). Comments,
 * other metrics and a trailing timestamp are ignored; NaN and ±Inf parse.
 */
export function parseMetricValues(text: string, names: readonly string[]): Map<string, number> {
  const wanted = new Set(names);
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameEnd = line.search(/[\s{]/);
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (!wanted.has(name) || out.has(name)) continue;
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const close = labelsEnd(rest);
      if (close < 0) continue;
      rest = rest.slice(close + 1);
    }
    const value = parseSampleValue(rest.trim().split(/\s+/)[0] ?? '');
    if (value !== undefined) out.set(name, value);
    if (out.size === wanted.size) break;
  }
  return out;
}

/** Index of the `}` closing a label set that starts at 0, skipping quoted values. */
function labelsEnd(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '}') return i;
  }
  return -1;
}

function parseSampleValue(s: string): number | undefined {
  if (s === '') return undefined;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return Number.NaN;
  const v = Number(s);
  return Number.isNaN(v) ? undefined : v;
}

export const PROCESS_CPU = 'process_cpu_seconds_total';
export const PROCESS_RSS = 'process_resident_memory_bytes';

/** The process collector's two figures out of a /metrics page; undefined if either is missing. */
export function parseProcessMetrics(text: string): ResourceReading | undefined {
  const v = parseMetricValues(text, [PROCESS_CPU, PROCESS_RSS]);
  const cpuSeconds = v.get(PROCESS_CPU);
  const rssBytes = v.get(PROCESS_RSS);
  if (cpuSeconds === undefined || rssBytes === undefined || !Number.isFinite(cpuSeconds) || !Number.isFinite(rssBytes)) return undefined;
  return { cpuSeconds, rssBytes };
}

// ---------- HTTP(S) with a kubeconfig's credentials ----------

/**
 * The TLS material and headers of a kubeconfig's current context, as options
 * for core/http's GET: CA, client certificate and key, bearer token (or basic
 * auth), and skip-verify. Not carried: tls-server-name, proxy-url, pfx.
 */
export async function kubeconfigGetOptions(kc: k8s.KubeConfig): Promise<GetOptions> {
  const o: RequestOptions = {};
  await kc.applyToHTTPSOptions(o);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k] = v;
  if (o.auth && !headers.Authorization) headers.Authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
  const pem = (x: unknown): string | Buffer | undefined => (typeof x === 'string' || Buffer.isBuffer(x) ? x : undefined);
  const ca = pem(o.ca);
  const cert = pem(o.cert);
  const key = pem(o.key);
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    headers,
    verify: o.rejectUnauthorized !== false,
  };
}

/** GET a URL, body as text; anything but 200 is an error naming the URL and status. */
export async function getText(url: string, o: GetOptions): Promise<string> {
  let res: Awaited<ReturnType<typeof httpGet>>;
  try {
    res = await httpGet(url, o);
  } catch (err) {
    throw new EdgemarkError(
      'EM_METRICS_UNREACHABLE',
      `[measure] GET ${url}: ${(err as Error).message}`,
      'check that the component runs and serves this address',
      { cause: err },
    );
  }
  if (res.status !== 200) {
    const hint =
      res.status === 401 || res.status === 403 ? 'the endpoint wants credentials: scrape it with the kubeconfig, or allow /metrics' : 'check the URL';
    throw new EdgemarkError('EM_METRICS_HTTP', `[measure] GET ${url}: HTTP ${res.status}`, hint);
  }
  return res.body.toString('utf8');
}

// ---------- metrics sources ----------

/** How to reach one component's /metrics. */
export interface MetricsEndpoint {
  url: string;
  /** 'kubeconfig': send the kubeconfig's client certificate or token (and trust its CA). Default: none. */
  credentials?: 'none' | 'kubeconfig';
  /** Verify the server's certificate (default true). Components' self-signed serving certificates need false. */
  verify?: boolean;
}

/**
 * Which components to scrape. `apiserver: 'kubeconfig'` reads kube-apiserver's
 * /metrics at the kubeconfig's server, with its credentials; the others are
 * URLs (a string: no credentials, TLS verified).
 */
export interface MetricsSpec {
  apiserver?: 'kubeconfig';
  etcd?: string | MetricsEndpoint;
  controllerManager?: string | MetricsEndpoint;
  scheduler?: string | MetricsEndpoint;
  cloudcore?: string | MetricsEndpoint;
}

const SCRAPE_TIMEOUT_MS = 10_000;
/** The classic text format (not OpenMetrics), which parseMetricValues reads. */
const ACCEPT = { Accept: 'text/plain;version=0.0.4' };

/** A metrics source for one component. `kc` is needed only for credentials 'kubeconfig'. */
export function metricsSource(name: string, endpoint: string | MetricsEndpoint, kc?: k8s.KubeConfig): ResourceSource {
  const e: MetricsEndpoint = typeof endpoint === 'string' ? { url: endpoint } : endpoint;
  if (e.credentials === 'kubeconfig' && !kc) {
    throw new EdgemarkError('EM_METRICS_SPEC', `[measure] ${name}: credentials 'kubeconfig' without a kubeconfig`, 'pass the kubeconfig to metricsSources');
  }
  return {
    name,
    how: 'metrics',
    detail: e.url,
    async sample() {
      const base = e.credentials === 'kubeconfig' ? await kubeconfigGetOptions(kc!) : {};
      const o: GetOptions = { ...base, headers: { ...(base.headers ?? {}), ...ACCEPT }, verify: e.verify ?? base.verify ?? true, timeoutMs: SCRAPE_TIMEOUT_MS };
      const reading = parseProcessMetrics(await getText(e.url, o));
      if (!reading)
        throw new EdgemarkError(
          'EM_METRICS_MISSING',
          `[measure] ${e.url} has no ${PROCESS_CPU} and ${PROCESS_RSS}`,
          'the component does not register the Prometheus process collector: sample it from /proc instead',
        );
      return reading;
    },
  };
}

/** The component names used for each spec key: the same as the local cluster's, so /proc and metrics series line up. */
export const metricsComponent = {
  apiserver: 'kube-apiserver',
  etcd: 'etcd',
  controllerManager: 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  cloudcore: 'cloudcore',
} as const satisfies Record<keyof MetricsSpec, string>;

/** One metrics source per component the spec names. */
export function metricsSources(spec: MetricsSpec, kc?: k8s.KubeConfig): ResourceSource[] {
  const out: ResourceSource[] = [];
  if (spec.apiserver === 'kubeconfig') {
    const server = kc?.getCurrentCluster()?.server;
    if (!kc || !server)
      throw new EdgemarkError(
        'EM_METRICS_SPEC',
        '[measure] kube-apiserver metrics through the kubeconfig, but no kubeconfig (or no current cluster) was given',
        'pass the kubeconfig to metricsSources',
      );
    out.push(metricsSource(metricsComponent.apiserver, { url: new URL('/metrics', server).toString(), credentials: 'kubeconfig' }, kc));
  }
  for (const key of ['etcd', 'controllerManager', 'scheduler', 'cloudcore'] as const) {
    const e = spec[key];
    if (e !== undefined) out.push(metricsSource(metricsComponent[key], e, kc));
  }
  return out;
}

/**
 * The metrics spec of a local cluster, from the ports in its state. etcd and
 * CloudCore serve plain HTTP on loopback; kube-controller-manager and
 * kube-scheduler serve /metrics on their secure ports with an in-memory
 * self-signed certificate and `--authorization-always-allow-paths=...,/metrics`,
 * so an anonymous GET without verification answers.
 */
export function localMetricsSpec(state: Pick<ClusterState, 'ports' | 'components'>): MetricsSpec {
  const p = state.ports;
  const has = (n: keyof ClusterState['components']) => state.components[n] !== undefined;
  const loop = (scheme: string, port: number) => `${scheme}://${LOOPBACK}:${port}/metrics`;
  return {
    ...(has('kube-apiserver') ? { apiserver: 'kubeconfig' as const } : {}),
    ...(has('etcd') ? { etcd: loop('http', p.etcdMetrics) } : {}),
    ...(has('kube-controller-manager') ? { controllerManager: { url: loop('https', p.controllerManager), verify: false } } : {}),
    ...(has('kube-scheduler') ? { scheduler: { url: loop('https', p.scheduler), verify: false } } : {}),
    ...(has('cloudcore') ? { cloudcore: loop('http', p.cloudcoreMetrics) } : {}),
  };
}
