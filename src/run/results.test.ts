import assert from 'node:assert/strict';
import { test } from 'node:test';
import { junit, perfData } from './artifacts.js';
import { compareRuns } from './compare.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fleetJoinRate, fleetWorkers, loadProfile, nodeCount, nodeCountOf, resolveTest } from './config.js';
import { escapeXml as escapeMarkup } from '../core/escape.js';
import { diffHistograms, histogramQuantile, parseRequestDurations, type PodTimes, type ResourcePoint } from './measure.js';
import { renderReport } from './report.js';
import { analyse, type Observations } from './results.js';

const metricsText = (n: number) => `# HELP apiserver_request_duration_seconds x
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1",le="0.05"} ${8 * n}
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1",le="0.1"} ${9 * n}
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1",le="+Inf"} ${10 * n}
apiserver_request_duration_seconds_sum{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1"} ${0.3 * n}
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1"} ${10 * n}
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="WATCH",version="v1",le="+Inf"} 5
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="nodes",scope="resource",subresource="status",verb="PATCH",version="v1",le="0.025"} ${n}
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="nodes",scope="resource",subresource="status",verb="PATCH",version="v1",le="+Inf"} ${n}
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="nodes",scope="resource",subresource="status",verb="PATCH",version="v1"} ${n}
`;

test('apiserver histograms: parsed without watches, differenced over the window, quantiles as histogram_quantile', () => {
  const before = parseRequestDurations(metricsText(1));
  const after = parseRequestDurations(metricsText(3));
  assert.equal(
    [...after.keys()].some((k) => k.startsWith('WATCH')),
    false,
  );
  const d = diffHistograms(before, after);
  const post = d.get('POST pods namespace')!;
  assert.equal(post.count, 20);
  assert.deepEqual(post.buckets, [
    [0.05, 16],
    [0.1, 18],
    [Infinity, 20],
  ]);
  // p50: rank 10 of 20, inside the first bucket: 0.05 * 10/16.
  assert.ok(Math.abs(histogramQuantile(0.5, post) - 0.03125) < 1e-9);
  // p99: rank 19.8, in +Inf: the last finite bound.
  assert.equal(histogramQuantile(0.99, post), 0.1);
  assert.ok(d.has('PATCH nodes/status resource'));
});

function observations(startupMs: number, over: Partial<Observations> = {}): Observations {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const pods: PodTimes[] = Array.from({ length: 100 }, (_, i) => ({
    uid: `u${i}`,
    namespace: 'ns',
    name: `p${i}`,
    node: `n${i % 10}`,
    created: t0 + 1000 + i * 10,
    scheduled: t0 + 1020 + i * 10,
    reported: t0 + 1200 + i * 10,
    runningSeen: t0 + 1000 + i * 10 + startupMs + i,
  }));
  return {
    runId: 'density-x',
    test: loadProfile('density'),
    configSource: 'profiles/density.yaml',
    startedAt: new Date(t0).toISOString(),
    durationMs: 60_000,
    partial: false,
    phases: [{ kind: 'nodesUp', description: 'up', startMs: 0, endMs: 900 }],
    pods,
    nodes: Array.from({ length: 10 }, (_, i) => ({ name: `n${i}`, created: t0 + 100, ready: t0 + 300 + i * 10, flaps: i === 3 ? 1 : 0 })),
    resources: [{ t: 5000, cpu: { 'kube-apiserver': 0.4, runner: 0.05 }, rss: { 'kube-apiserver': 300 * 2 ** 20, runner: 150 * 2 ** 20 } }],
    api: { before: parseRequestDurations(metricsText(1)), after: parseRequestDurations(metricsText(3)) },
    runnerSummary: undefined,
    trace: pods.flatMap((p) => [
      { uid: p.uid, event: 'admitted', ms: p.scheduled! + 50 },
      { uid: p.uid, event: 'running-sent', ms: p.runningSeen! - 30 },
    ]),
    footprint: [],
    versions: { edgemark: '0.1.0' },
    ...over,
  };
}

test('SLIs: pod startup phases, delivery both ways, scheduling throughput, joins and flaps', () => {
  const r = analyse(observations(1500));
  assert.equal(r.sli.podStartup.createdToRunningSeen.count, 100);
  assert.equal(r.sli.podStartup.createdToRunningSeen.p50, 1549);
  assert.equal(r.sli.podStartup.createdToScheduled.p99, 20);
  assert.equal(r.sli.delivery.cloudToEdge.p50, 50);
  assert.equal(r.sli.delivery.edgeToCloud.p99, 30);
  assert.equal(r.sli.delivery.lost, 0);
  assert.equal(r.sli.readyFlaps, 1);
  assert.equal(r.sli.nodeJoin.p50, 340, 'from the start of nodesUp');
  assert.equal(r.sli.schedulingThroughput.podsPerSecondMax, 98);
  assert.deepEqual(
    r.slos.map((s) => s.ok),
    [true, true, true, true, true],
  );
  assert.equal(r.slos[0]!.value, 1598);
  assert.equal(r.slos.find((s) => s.name.includes('cluster scope'))!.noData, true);
});

test('a pod the node admitted before the watch saw its binding counts as delivered in 0 ms', () => {
  const base = observations(1500);
  const first = base.pods[0]!;
  const trace = base.trace.map((t) => (t.uid === first.uid && t.event === 'admitted' ? { ...t, ms: first.scheduled! - 40 } : t));
  const r = analyse({ ...base, trace });
  assert.equal(r.sli.delivery.cloudToEdge.count, 100);
  assert.equal(r.sli.delivery.cloudToEdge.p50, 50, 'the others are unchanged');
});

test('a pod the edge never admitted is lost; a slow startup fails the SLO', () => {
  const o = observations(6000);
  o.trace = o.trace.filter((t) => t.uid !== 'u5');
  const r = analyse(o);
  assert.equal(r.sli.delivery.lost, 1);
  assert.equal(r.slos[0]!.ok, false);
  assert.match(junit(r), /<failure message="6098 ms &gt; 5000 ms">/);
});

test('PerfData documents have the ClusterLoader2 shape', () => {
  const docs = perfData(analyse(observations(1500)));
  for (const [name, d] of Object.entries(docs)) {
    assert.equal(d.version, 'v1', name);
    for (const item of d.dataItems) {
      assert.equal(typeof item.unit, 'string');
      for (const v of Object.values(item.data)) assert.equal(typeof v, 'number');
      for (const v of Object.values(item.labels)) assert.equal(typeof v, 'string');
    }
  }
  assert.deepEqual(docs.PodStartupLatency!.dataItems.find((i) => i.labels.Metric === 'createdToRunningSeen')!.data.Perc50, 1549);
  assert.ok(docs.APIResponsivenessPrometheus!.dataItems.some((i) => i.labels.Verb === 'POST' && i.labels.Resource === 'pods'));
});

test('compare flags a slower run as a regression and ignores noise', () => {
  const a = analyse(observations(1500));
  const b = analyse(observations(4000));
  const c = compareRuns(a, b);
  const startup = c.rows.find((r) => r.metric === 'pod startup createdToRunningSeen p99')!;
  assert.equal(startup.regression, true);
  assert.equal(compareRuns(a, analyse(observations(1510))).regressions, 0);
  assert.equal(compareRuns(b, a).rows.find((r) => r.metric === 'pod startup createdToRunningSeen p99')!.improvement, true);
});

test('SLIs per node group: each group its joins, flaps and pod startup, and its own startup SLO verdict', () => {
  const test = resolveTest({
    profile: 'density',
    overrides: {
      spec: {
        nodes: [
          { count: 5, prefix: 'e-' },
          { kind: 'kubelet', count: 5, prefix: 'k-' },
        ],
      },
    },
  });
  const base = observations(1500, { test });
  // Pods on n0..n4 are the edge group's; the kubelet group's pods start 4 s slower.
  const nodes = base.nodes.map((n, i) => ({ ...n, group: i < 5 ? 'edge' : 'kubelet', kind: i < 5 ? 'edge' : 'kubelet', flaps: i === 7 ? 2 : 0 }));
  const pods = base.pods.map((p) => (Number(p.node!.slice(1)) >= 5 ? { ...p, runningSeen: p.runningSeen! + 4000 } : p));
  const r = analyse({ ...base, nodes, pods });
  const [edge, kubelet] = r.sli.byGroup!;
  assert.deepEqual([edge!.group, edge!.kind, edge!.nodes, edge!.readyFlaps, edge!.podStartup.count], ['edge', 'edge', 5, 0, 50]);
  assert.deepEqual([kubelet!.group, kubelet!.kind, kubelet!.nodes, kubelet!.readyFlaps, kubelet!.podStartup.count], ['kubelet', 'kubelet', 5, 2, 50]);
  assert.ok(kubelet!.podStartup.p50 - edge!.podStartup.p50 >= 3900, `${kubelet!.podStartup.p50} vs ${edge!.podStartup.p50}`);
  assert.equal(kubelet!.nodeJoin.allReadyMs, 390);
  const v = r.slos.filter((x) => / on (edge|kubelet) /.test(x.name)).map((x) => [x.name, x.ok]);
  assert.deepEqual(v, [
    ['pod startup latency p99 on edge (edge) nodes', true],
    ['pod startup latency p99 on kubelet (kubelet) nodes', false],
  ]);
  assert.match(renderReport(r), /By node group[\s\S]*<td>kubelet<\/td><td>kubelet<\/td><td>5<\/td>/);
  // One group: no per-group rows, no extra verdicts.
  assert.deepEqual(analyse(observations(1500)).sli.byGroup, []);
});

test('the report is one self-contained page with its charts', () => {
  const html = renderReport(analyse(observations(1500)));
  assert.ok(html.startsWith('<!doctype html>'));
  assert.equal(/<script|https?:\/\//.test(html.replace(/xmlns="[^"]*"/g, '')), false);
  assert.ok((html.match(/<svg class="chart"/g) ?? []).length >= 4);
});

test('config: profile overrides merge, unknown fields and phase kinds are named', () => {
  const t = resolveTest({ profile: 'load', overrides: { spec: { nodes: { count: 7 } } } });
  assert.equal(t.spec.nodes[0]!.count, 7);
  assert.equal(t.spec.nodes[0]!.joinRate, 50);
  assert.throws(() => resolveTest({ overrides: { spec: { phases: [{ kind: 'explode' }] } } }), /phases\.0\.kind/);
  assert.throws(
    () => resolveTest({ overrides: { spec: { nodes: { colour: 'red' } } } }),
    /spec\.nodes: unknown field "colour" \(allowed here: name, kind, count, joinRate/,
  );
  assert.throws(() => resolveTest({ profile: 'nope' }), /no profile "nope"/);
});

test('config: spec.nodes is one group (an object) or a list of groups of either kind, each with its defaults', () => {
  const one = resolveTest({ profile: 'density' });
  assert.deepEqual(
    one.spec.nodes.map((g) => [g.name, g.kind, g.prefix, g.count, g.cpu, g.memory, g.pods]),
    [['edge', 'edge', 'run-edge-', 100, '2', '4Gi', '110']],
  );
  const mixed = resolveTest({
    profile: 'density',
    overrides: {
      spec: { nodes: [{ count: 10 }, { kind: 'kubelet', count: 20, proxy: 'per-node' }, { kind: 'kubelet', count: 5, shape: 'kubelet', cpu: '8' }] },
    },
  });
  assert.deepEqual(
    mixed.spec.nodes.map((g) => [g.name, g.kind, g.prefix, g.count, g.cpu, g.proxy]),
    [
      ['edge', 'edge', 'run-edge-', 10, '2', undefined],
      // A kubelet group's capacity comes from its shape unless it is set.
      ['kubelet', 'kubelet', 'run-kubelet-', 20, undefined, 'per-node'],
      ['kubelet-2', 'kubelet', 'run-kubelet2-', 5, '8', undefined],
    ],
  );
  assert.equal(nodeCount(mixed), 35);
  assert.equal(nodeCountOf(mixed, 'edge'), 10);
  assert.equal(fleetJoinRate(mixed), 150);
  assert.equal(fleetWorkers(mixed), 3);
  // Errors name the field as written, in either form.
  assert.throws(() => resolveTest({ overrides: { spec: { nodes: { kind: 'kubemark' } } } }), /spec\.nodes\.kind: /);
  assert.throws(
    () => resolveTest({ overrides: { spec: { nodes: [{ count: 1 }, { proxy: 'per-node' }] } } }),
    /spec\.nodes\.1\.proxy: proxy is for kubelet nodes/,
  );
  assert.throws(
    () => resolveTest({ overrides: { spec: { nodes: [{ prefix: 'a-' }, { kind: 'kubelet', prefix: 'a-1' }] } } }),
    /spec\.nodes\.1\.prefix: prefixes a- and a-1 could name the same node/,
  );
  assert.throws(() => resolveTest({ overrides: { spec: { nodes: [{ name: 'x' }, { kind: 'kubelet', name: 'x' }] } } }), /two node groups are named x/);
  assert.throws(() => resolveTest({ overrides: { spec: { nodes: [{ colour: 'red' }] } } }), /unknown field "colour" \(allowed here: name, kind, count/);
  // --nodes and --workers set a one-group test, and say why not for several groups.
  assert.equal(resolveTest({ profile: 'density', nodes: { count: 3, workers: 2 } }).spec.nodes[0]!.workers, 2);
  const file = join(mkdtempSync(join(tmpdir(), 'em-config-')), 'mixed.yaml');
  writeFileSync(file, 'profile: density\nspec:\n  nodes:\n    - count: 2\n    - kind: kubelet\n      count: 3\n');
  assert.equal(nodeCount(resolveTest({ configFile: file })), 5);
  assert.throws(
    () => resolveTest({ configFile: file, nodes: { count: 9 } }),
    /--nodes set the nodes of a test with one node group, and this one has 2 \(edge: 2, kubelet: 3\)/,
  );
  rmSync(dirname(file), { recursive: true });
});

test('resources: gaps are not averaged in as zeros; the record, the report and PerfData say where each figure came from', () => {
  const resources: ResourcePoint[] = [
    { t: 5000, cpu: { 'kube-apiserver': 0.4, etcd: 0.1 }, rss: { 'kube-apiserver': 300 * 2 ** 20, etcd: 40 * 2 ** 20 } },
    { t: 10000, cpu: { etcd: 0.3 }, rss: { etcd: 60 * 2 ** 20 } },
    { t: 15000, cpu: { 'kube-apiserver': 0.6, etcd: 0.2 }, rss: { 'kube-apiserver': 500 * 2 ** 20, etcd: 50 * 2 ** 20 } },
  ];
  const resourceSources = [
    { name: 'kube-apiserver', how: 'metrics' as const, detail: 'https://127.0.0.1:6443/metrics', samples: 4, failures: 1, lastError: 'HTTP 503' },
    { name: 'etcd', how: 'proc' as const, detail: 'pid 4242', samples: 4, failures: 0 },
  ];
  const r = analyse(observations(1500, { resources, resourceSources }));
  assert.equal(r.sli.resources['kube-apiserver']!.cpuCoresAvg, 0.5, 'the gap at 10 s is left out');
  assert.equal(r.sli.resources['kube-apiserver']!.rssBytesAvg, 400 * 2 ** 20);
  assert.equal(r.sli.resources.etcd!.cpuCoresAvg, 0.2);
  assert.deepEqual(
    r.resourceSources.map((s) => [s.name, s.how, s.failures]),
    [
      ['kube-apiserver', 'metrics', 1],
      ['etcd', 'proc', 0],
    ],
  );

  const html = renderReport(r);
  assert.match(html, /Resources sampled from: metrics and \/proc/);
  assert.match(html, /<td>kube-apiserver<\/td><td>metrics<\/td><td>https:\/\/127\.0\.0\.1:6443\/metrics<\/td><td>1 of 4<\/td>/);
  assert.match(html, /<td>etcd<\/td><td>\/proc<\/td><td>pid 4242<\/td><td>0 of 4<\/td>/);
  // The apiserver's CPU line breaks at the gap: two polylines, no point drawn at zero.
  const cpuSvg = html.slice(html.indexOf('aria-label="CPU by component"'), html.indexOf('aria-label="RSS by component"'));
  assert.equal((cpuSvg.match(/<polyline[^>]*><title>kube-apiserver<\/title>/g) ?? []).length, 2);

  const usage = perfData(r).ResourceUsageSummary!.dataItems;
  assert.deepEqual(usage.find((i) => i.labels.Name === 'kube-apiserver' && i.labels.Resource === 'cpu')!.labels, {
    Name: 'kube-apiserver',
    Resource: 'cpu',
    Source: 'metrics',
    SourceDetail: 'https://127.0.0.1:6443/metrics',
    MissingReadings: '1',
  });
  assert.match(junit(r), /<testsuites name="edgemark"/);

  const old = analyse(observations(1500));
  assert.deepEqual(old.resourceSources, []);
  assert.match(renderReport(old), /Resources sampled from: not recorded/);
  const viaProc = analyse(observations(1500, { resources, resourceSources: resourceSources.map((s) => ({ ...s, how: 'proc' as const })) }));
  assert.deepEqual(compareRuns(viaProc, r).notes, ['kube-apiserver: resources sampled from proc in A, metrics in B']);
});

test('one escape for the report and junit: markup characters and quotes', () => {
  assert.equal(escapeMarkup(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('faults in a run: their SLIs in the record, nodes Ready now falling and rising, each fault shaded on the charts and in a table', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const nodes = Array.from({ length: 4 }, (_, i) => ({
    name: `n${i}`,
    created: t0 + 100,
    ready: t0 + 300,
    flaps: i < 2 ? 1 : 0,
    ...(i < 2
      ? {
          changes: [
            [t0 + 20_000, 0],
            [t0 + 40_000 + i * 1000, 1],
          ] as [number, 0 | 1][],
        }
      : {}),
  }));
  const r = analyse(
    observations(1000, {
      nodes,
      faults: [
        {
          name: 'cut',
          effect: 'partition',
          description: 'partition edge to cloud lost',
          nodes: ['n0', 'n1'],
          startMs: 10_000,
          endMs: 30_000,
          affected: 2,
          unsupported: 0,
        },
      ],
    }),
  );
  const f = r.faults![0]!;
  assert.deepEqual([f.wentNotReady, f.readyAgainAllMs, f.notRecovered, f.othersFlaps], [2, 11_000, 0, 0]);
  assert.deepEqual(r.series.nodesReadyNow, [
    [300, 4],
    [20_000, 2],
    [40_000, 3],
    [41_000, 4],
  ]);
  const html = renderReport(r);
  assert.match(html, /<h2>Faults<\/h2>/);
  assert.match(html, /<rect [^>]*fill="#d62728"[^>]*><title>cut<\/title><\/rect>/, 'the fault shaded on a chart');
  assert.match(html, /Ready now/);
});
