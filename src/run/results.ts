/**
 * From what a run observed to its SLIs and SLO verdicts. Pure: the raw
 * observations in, one RunRecord out (what the artifacts, the report and
 * `report compare` read).
 */
import type { FaultRecord } from '../faults/driver.js';
import { faultSlis, type FaultSli, type ReadyHistory } from '../faults/sli.js';
import type { FleetSummary } from '../fleet/fleet.js';
import { trafficBetween, type Traffic } from '../fleet/traffic.js';
import type { LoadTest } from './config.js';
import {
  diffHistograms,
  histogramQuantile,
  summarize,
  type ApiHistograms,
  type NodeTimes,
  type PodTimes,
  type ResourcePoint,
  type ResourceSourceRecord,
} from './measure.js';

export interface FootprintStep {
  pods: number;
  cpu: Record<string, number>;
  rss: Record<string, number>;
}

export interface Quantiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ApiLatency {
  verb: string;
  resource: string;
  scope: string;
  count: number;
  /** ms */
  p50: number;
  p90: number;
  p99: number;
  mutating: boolean;
}

export interface SloVerdict {
  name: string;
  /** What was measured, and its bound. */
  value: number;
  threshold: number;
  unit: string;
  ok: boolean;
  /** No data to judge (counts as passed, and says so). */
  noData?: boolean;
}

export interface RunRecord {
  runId: string;
  testName: string;
  configSource: string;
  startedAt: string;
  durationMs: number;
  partial: boolean;
  failure?: string;
  versions: Record<string, string>;
  settings: LoadTest;
  phases: { kind: string; description: string; startMs: number; endMs: number }[];
  sli: {
    podStartup: Record<'createdToScheduled' | 'scheduledToReported' | 'createdToRunningAtNode' | 'createdToRunningSeen', Quantiles>;
    delivery: { cloudToEdge: Quantiles; edgeToCloud: Quantiles; lost: number; duplicated: number };
    schedulingThroughput: { podsPerSecondAvg: number; podsPerSecondMax: number };
    nodeJoin: Quantiles & { allReadyMs: number };
    readyFlaps: number;
    /** The same SLIs per node group (spec.nodes[]), when the test has several; empty otherwise and in older records. */
    byGroup?: GroupSli[];
    api: ApiLatency[];
    resources: Record<string, { cpuCoresAvg: number; cpuCoresMax: number; rssBytesAvg: number; rssBytesMax: number }>;
    runner: { eventLoopLagP99Ms: number; eventLoopLagMaxMs: number; reconnects: number; messagesIn: number; messagesOut: number } | undefined;
    /** Per edge node: messages and frame bytes per second by direction and type, over the whole run; absent without edge nodes. */
    traffic?: Traffic;
  };
  series: {
    nodesReady: [number, number][];
    /** The run's nodes Ready at each change, [ms since the start, nodes]: it falls when nodes go NotReady (faults); absent in older records. */
    nodesReadyNow?: [number, number][];
    resources: ResourcePoint[];
  };
  /**
   * Where each component's CPU and RSS came from (/proc of a pid group, or its
   * /metrics URL), with the readings that failed: gaps in the series, not zeros.
   * Empty in records written before this field existed.
   */
  resourceSources: ResourceSourceRecord[];
  footprint: FootprintStep[];
  /** Each fault of spec.faults with what it did to the nodes; empty without faults and in older records. */
  faults?: FaultSli[];
  slos: SloVerdict[];
  /** The runner's event loop lagged past its bound: the figures describe the tool, not the cluster. */
  invalid: boolean;
}

export interface GroupSli {
  group: string;
  kind: string;
  nodes: number;
  nodeJoin: Quantiles & { allReadyMs: number };
  readyFlaps: number;
  /** Pods that ran on the group's nodes: created to Running, seen by a watch. */
  podStartup: Quantiles;
}

export interface Observations {
  runId: string;
  test: LoadTest;
  configSource: string;
  startedAt: string;
  durationMs: number;
  partial: boolean;
  failure?: string;
  phases: RunRecord['phases'];
  pods: PodTimes[];
  nodes: NodeTimes[];
  resources: ResourcePoint[];
  /** ResourceSeries.sources(); optional while callers catch up (then the record says "not recorded"). */
  resourceSources?: ResourceSourceRecord[];
  api: { before: ApiHistograms; after: ApiHistograms };
  runnerSummary: FleetSummary | undefined;
  trace: { uid: string; event: string; ms: number }[];
  footprint: FootprintStep[];
  /** The faults as they happened (src/faults/driver.ts); none in most runs. */
  faults?: FaultRecord[];
  versions: Record<string, string>;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'DELETECOLLECTION']);

const q = (values: number[]): Quantiles => summarize(values.filter((v) => Number.isFinite(v) && v >= 0));

export function analyse(o: Observations): RunRecord {
  const started = Date.parse(o.startedAt);
  const pods = o.pods;
  const d = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? b - a : Number.NaN);
  const podStartup = {
    createdToScheduled: q(pods.map((p) => d(p.created, p.scheduled))),
    scheduledToReported: q(pods.map((p) => d(p.scheduled, p.reported))),
    // The node's startedAt has second precision: a bound, not an exact figure.
    createdToRunningAtNode: q(pods.map((p) => d(p.created, p.runningAtNode))),
    createdToRunningSeen: q(pods.map((p) => d(p.created, p.runningSeen))),
  };

  // Delivery: the runner's clock is this machine's clock (loopback only).
  const admitted = new Map<string, number>();
  const runningSent = new Map<string, number>();
  let duplicated = 0;
  for (const t of o.trace) {
    if (t.event === 'admitted' && !admitted.has(t.uid)) admitted.set(t.uid, t.ms);
    else if (t.event === 'running-sent' && !runningSent.has(t.uid)) runningSent.set(t.uid, t.ms);
    else if (t.event === 'duplicate-insert') duplicated++;
  }
  const end = started + o.durationMs;
  const lost = pods.filter((p) => p.scheduled !== undefined && !admitted.has(p.uid) && (p.deleted ?? end) - p.scheduled > 30_000).length;
  // The watch can report a binding after the node already admitted the pod (the
  // watch lags CloudCore's delivery): such a pod was delivered, in no measurable time.
  const atLeast0 = (v: number) => (Number.isNaN(v) ? v : Math.max(0, v));
  const delivery = {
    cloudToEdge: q(pods.map((p) => atLeast0(d(p.scheduled, admitted.get(p.uid))))),
    edgeToCloud: q(pods.map((p) => atLeast0(d(runningSent.get(p.uid), p.runningSeen)))),
    lost,
    duplicated,
  };

  const perSecond = new Map<number, number>();
  for (const p of pods) if (p.scheduled !== undefined) perSecond.set(Math.floor(p.scheduled / 1000), (perSecond.get(Math.floor(p.scheduled / 1000)) ?? 0) + 1);
  const secs = [...perSecond.values()];
  const schedulingThroughput = {
    podsPerSecondAvg: secs.length ? round(secs.reduce((a, b) => a + b, 0) / secs.length, 1) : 0,
    podsPerSecondMax: secs.length ? Math.max(...secs) : 0,
  };

  // A hollow node registers with its conditions already Ready, so "registered
  // to Ready" is zero: join latency runs from the start of the nodesUp phase.
  const upAt = started + (o.phases.find((p) => p.kind === 'nodesUp')?.startMs ?? 0);
  const joinTimes = o.nodes.map((n) => d(upAt, n.ready));
  const readyAts = o.nodes
    .map((n) => n.ready)
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  const nodeJoin = { ...q(joinTimes), allReadyMs: readyAts.length ? readyAts.at(-1)! - started : Number.NaN };
  const nodesReady: [number, number][] = readyAts.map((t, i) => [t - started, i + 1]);

  const groups = o.test.spec.nodes;
  const byGroup: GroupSli[] = [];
  if (groups.length > 1) {
    const groupOf = new Map(o.nodes.map((n) => [n.name, n.group]));
    for (const g of groups) {
      const mine = o.nodes.filter((n) => n.group === g.name);
      const last = Math.max(...mine.map((n) => n.ready ?? Number.NaN));
      byGroup.push({
        group: g.name,
        kind: g.kind,
        nodes: mine.length,
        nodeJoin: { ...q(mine.map((n) => d(upAt, n.ready))), allReadyMs: mine.length && Number.isFinite(last) ? last - started : Number.NaN },
        readyFlaps: mine.reduce((a, n) => a + n.flaps, 0),
        podStartup: q(pods.filter((p) => p.node !== undefined && groupOf.get(p.node) === g.name).map((p) => d(p.created, p.runningSeen))),
      });
    }
  }

  const api: ApiLatency[] = [];
  for (const [key, h] of diffHistograms(o.api.before, o.api.after)) {
    const [verb = '', resource = '', scope = ''] = key.split(' ');
    api.push({
      verb,
      resource,
      scope,
      count: h.count,
      mutating: MUTATING.has(verb),
      p50: round(histogramQuantile(0.5, h) * 1000, 1),
      p90: round(histogramQuantile(0.9, h) * 1000, 1),
      p99: round(histogramQuantile(0.99, h) * 1000, 1),
    });
  }
  api.sort((a, b) => b.count - a.count);

  const resources: RunRecord['sli']['resources'] = {};
  const names = new Set(o.resources.flatMap((p) => [...Object.keys(p.cpu), ...Object.keys(p.rss)]));
  for (const n of names) {
    // A missing reading is a gap: left out, never averaged in as a zero.
    const cpu = readings(o.resources, 'cpu', n);
    const rss = readings(o.resources, 'rss', n);
    resources[n] = {
      cpuCoresAvg: round(avg(cpu), 3),
      cpuCoresMax: round(Math.max(0, ...cpu), 3),
      rssBytesAvg: Math.round(avg(rss)),
      rssBytesMax: Math.max(0, ...rss),
    };
  }

  const rs = o.runnerSummary;
  const runner = rs
    ? {
        eventLoopLagP99Ms: rs.eventLoopLagMs.p99,
        eventLoopLagMaxMs: rs.eventLoopLagMs.max,
        reconnects: rs.reconnects,
        messagesIn: rs.messagesIn,
        messagesOut: rs.messagesOut,
      }
    : undefined;

  const edgeNodes = o.test.spec.nodes.filter((g) => g.kind === 'edge').reduce((a, g) => a + g.count, 0);
  const traffic = rs ? trafficBetween(rs, undefined, edgeNodes, rs.durationMs / 1000) : undefined;

  const slo = o.test.spec.slo;
  const slos: SloVerdict[] = [];
  const startup = podStartup.createdToRunningSeen;
  slos.push(verdict('pod startup latency p99 (created to Running, seen by a watch)', startup.p99, slo.podStartupP99Ms, 'ms', startup.count === 0));
  for (const g of byGroup)
    slos.push(verdict(`pod startup latency p99 on ${g.group} (${g.kind}) nodes`, g.podStartup.p99, slo.podStartupP99Ms, 'ms', g.podStartup.count === 0));
  const mutating = api.filter((a) => a.mutating && a.count > 0);
  const worstMut = mutating.reduce((m, a) => Math.max(m, a.p99), 0);
  slos.push(verdict('mutating API calls p99 (worst resource and verb)', worstMut, slo.mutatingApiP99Ms, 'ms', mutating.length === 0));
  for (const scope of ['resource', 'namespace', 'cluster'] as const) {
    const reads = api.filter((a) => !a.mutating && a.scope === scope && a.count > 0);
    const worst = reads.reduce((m, a) => Math.max(m, a.p99), 0);
    slos.push(verdict(`read-only API calls p99, ${scope} scope`, worst, slo.readApiP99Ms[scope], 'ms', reads.length === 0));
  }
  const invalid = runner !== undefined && runner.eventLoopLagP99Ms > slo.runnerEventLoopLagP99Ms;

  return {
    runId: o.runId,
    testName: o.test.metadata.name,
    configSource: o.configSource,
    startedAt: o.startedAt,
    durationMs: o.durationMs,
    partial: o.partial,
    ...(o.failure ? { failure: o.failure } : {}),
    versions: o.versions,
    settings: o.test,
    phases: o.phases,
    sli: {
      podStartup,
      delivery,
      schedulingThroughput,
      nodeJoin,
      readyFlaps: o.nodes.reduce((a, n) => a + n.flaps, 0),
      byGroup,
      api,
      resources,
      runner,
      ...(traffic ? { traffic } : {}),
    },
    series: { nodesReady, nodesReadyNow: readyNow(o.nodes, started), resources: o.resources },
    resourceSources: o.resourceSources ?? [],
    footprint: o.footprint,
    faults: faultSlis(o.faults ?? [], readyHistories(o.nodes, Date.parse(o.startedAt)), o.runnerSummary?.storms),
    slos,
    invalid,
  };
}

/** How many nodes were Ready after each change of any of them (one point per change, at most 2,000: later ones thinned). */
function readyNow(nodes: NodeTimes[], t0: number): [number, number][] {
  const events: [number, number][] = [];
  for (const n of nodes) {
    if (n.ready === undefined) continue;
    events.push([n.ready - t0, 1]);
    for (const [t, r] of n.changes ?? []) events.push([t - t0, r === 1 ? 1 : -1]);
  }
  events.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  let now = 0;
  for (const [t, d] of events) {
    now += d;
    if (out.length && out[out.length - 1]![0] === t) out[out.length - 1]![1] = now;
    else out.push([t, now]);
  }
  if (out.length <= 2000) return out;
  const step = Math.ceil(out.length / 2000);
  return out.filter((_, i) => i % step === 0 || i === out.length - 1);
}

/** The nodes' Ready histories in ms since the run began, as the faults' SLIs read them. */
function readyHistories(nodes: NodeTimes[], t0: number): ReadyHistory[] {
  return nodes.map((n) => ({
    name: n.name,
    readyMs: n.ready === undefined ? undefined : n.ready - t0,
    changes: (n.changes ?? []).map(([t, r]): [number, 0 | 1] => [t - t0, r]),
  }));
}

function verdict(name: string, value: number, threshold: number, unit: string, noData: boolean): SloVerdict {
  return noData ? { name, value: 0, threshold, unit, ok: true, noData: true } : { name, value: round(value, 1), threshold, unit, ok: value <= threshold };
}

function readings(points: ResourcePoint[], key: 'cpu' | 'rss', name: string): number[] {
  const out: number[] = [];
  for (const p of points) {
    const v = p[key][name];
    if (v !== undefined && Number.isFinite(v)) out.push(v);
  }
  return out;
}

function avg(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

export function round(v: number, digits: number): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
