import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ResourceSeries } from '../run/measure.js';
import {
  localMetricsSpec,
  metricsSource,
  metricsSources,
  parseMetricValues,
  parseProcessMetrics,
  procSource,
  type ResourceReading,
  type ResourceSource,
} from './sources.js';
import { defaultPorts } from '../cluster/ports.js';
import { k8s } from '../kube/client.js';

/** An excerpt of what etcd v3.5.24 (built by `edgemark setup`) served on its --listen-metrics-urls, as it was. */
const etcdText = `# HELP etcd_cluster_version Which version is running. 1 for 'cluster_version' label with current cluster version
# TYPE etcd_cluster_version gauge
etcd_cluster_version{cluster_version="3.5"} 1
# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 0.000463291
go_gc_duration_seconds{quantile="0.25"} 0.000463291
go_gc_duration_seconds{quantile="0.5"} 0.000508406
go_gc_duration_seconds{quantile="0.75"} 0.000743452
go_gc_duration_seconds{quantile="1"} 0.000743452
grpc_server_started_total{grpc_method="UserDelete",grpc_service="etcdserverpb.Auth",grpc_type="unary"} 0
grpc_server_started_total{grpc_method="UserGet",grpc_service="etcdserverpb.Auth",grpc_type="unary"} 0
grpc_server_started_total{grpc_method="UserGrantRole",grpc_service="etcdserverpb.Auth",grpc_type="unary"} 0
grpc_server_started_total{grpc_method="UserList",grpc_service="etcdserverpb.Auth",grpc_type="unary"} 0
grpc_server_started_total{grpc_method="UserRevokeRole",grpc_service="etcdserverpb.Auth",grpc_type="unary"} 0
grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 0
grpc_server_started_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 0
# HELP os_fd_limit The file descriptor limit.
# TYPE os_fd_limit gauge
os_fd_limit 20000
# HELP os_fd_used The number of used file descriptors.
# TYPE os_fd_used gauge
os_fd_used 15
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 0.15
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds 20000
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 19
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 3.16416e+07
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.79617313303e+09
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 1.2053798912e+10
# HELP process_virtual_memory_max_bytes Maximum amount of virtual memory available in bytes.
# TYPE process_virtual_memory_max_bytes gauge
process_virtual_memory_max_bytes 1.8446744073709552e+19
# HELP promhttp_metric_handler_requests_in_flight Current number of scrapes being served.
# TYPE promhttp_metric_handler_requests_in_flight gauge
promhttp_metric_handler_requests_in_flight 1
# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 0
promhttp_metric_handler_requests_total{code="500"} 0
promhttp_metric_handler_requests_total{code="503"} 0
`;

test('the process collector figures come out of real etcd text; labelled and other metrics are skipped', () => {
  assert.deepEqual(parseProcessMetrics(etcdText), { cpuSeconds: 0.15, rssBytes: 31_641_600 });
  const v = parseMetricValues(etcdText, ['process_virtual_memory_max_bytes', 'os_fd_used', 'promhttp_metric_handler_requests_total', 'absent']);
  assert.equal(v.get('process_virtual_memory_max_bytes'), 1.8446744073709552e19);
  assert.equal(v.get('os_fd_used'), 15);
  assert.equal(v.get('promhttp_metric_handler_requests_total'), 0, 'first labelled sample');
  assert.equal(v.has('absent'), false);
});

test('the parser reads timestamps, braces inside label values, NaN and Inf, and refuses a page without the pair', () => {
  const text = 'x{a="}{",b="q\\"}"} 7 1700000000000\nprocess_cpu_seconds_total 12.5 1700000000000\nprocess_resident_memory_bytes 1e+08\nweird NaN\ny +Inf\n';
  assert.equal(parseMetricValues(text, ['x']).get('x'), 7);
  assert.deepEqual(parseProcessMetrics(text), { cpuSeconds: 12.5, rssBytes: 1e8 });
  assert.ok(Number.isNaN(parseMetricValues(text, ['weird']).get('weird')));
  assert.equal(parseMetricValues(text, ['y']).get('y'), Infinity);
  assert.equal(parseProcessMetrics('process_cpu_seconds_total 3\n'), undefined);
  assert.equal(parseProcessMetrics('process_cpu_seconds_total NaN\nprocess_resident_memory_bytes 5\n'), undefined);
});

test('a /proc source reads this process; an empty group is a gap with a detail that says so', async () => {
  const self = procSource('self', () => [process.pid]);
  const r = await self.sample();
  assert.ok(r && r.cpuSeconds > 0 && r.rssBytes > 1024 * 1024);
  assert.equal(self.how, 'proc');
  assert.equal(self.detail, `pid ${process.pid}`);
  const none = procSource('runner', () => []);
  assert.equal(await none.sample(), undefined);
  assert.match(none.detail, /not seen running/);
});

/** A source that answers from a list of readings (undefined: a gap; an Error: a failure). */
function scripted(name: string, answers: (ResourceReading | undefined | Error)[], delayMs = 0): ResourceSource & { calls: number } {
  const s = {
    name,
    how: 'metrics' as const,
    detail: `http://example.invalid/${name}`,
    calls: 0,
    async sample() {
      const a = answers[Math.min(s.calls++, answers.length - 1)];
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return s;
}

test('a series of sources: gaps are left out (not zeros) and counted; CPU after a gap covers it; a restart gives no CPU figure', async () => {
  const a = scripted('a', [
    { cpuSeconds: 1, rssBytes: 100 },
    new Error('connection refused'),
    undefined,
    { cpuSeconds: 2, rssBytes: 300 },
    { cpuSeconds: 0.5, rssBytes: 50 },
  ]);
  const b = scripted('b', [{ cpuSeconds: 5, rssBytes: 10 }]);
  const series = new ResourceSeries([a, b], Date.now());
  assert.equal(await series.sample(), undefined, 'the first sample only sets the baselines');
  const p1 = (await series.sample())!;
  assert.deepEqual(Object.keys(p1.rss), ['b']);
  assert.equal('a' in p1.cpu, false);
  await series.sample();
  const p3 = (await series.sample())!;
  assert.equal(p3.rss.a, 300);
  assert.ok(p3.cpu.a! > 0, 'the counter difference since the last reading before the gap');
  const p4 = (await series.sample())!;
  assert.equal('a' in p4.cpu, false, 'the counter went back: a restart');
  assert.equal(p4.rss.a, 50);
  const src = series.sources();
  assert.deepEqual(
    src.map((s) => [s.name, s.how, s.samples, s.failures]),
    [
      ['a', 'metrics', 5, 2],
      ['b', 'metrics', 5, 0],
    ],
  );
  assert.equal(src[0]!.lastError, 'no reading');
  for (const p of series.points) for (const v of [...Object.values(p.cpu), ...Object.values(p.rss)]) assert.ok(v >= 0);
});

test('sampling never overlaps itself: a call while one is in flight shares it, timer ticks meanwhile are skipped', async () => {
  const slow = scripted('slow', [{ cpuSeconds: 1, rssBytes: 1 }], 120);
  const series = new ResourceSeries([slow], Date.now());
  const x = series.sample();
  const y = series.sample();
  assert.equal(x, y);
  await x;
  assert.equal(slow.calls, 1);
  series.start(20);
  await new Promise((r) => setTimeout(r, 200));
  await series.stop();
  assert.ok(series.skippedTicks > 0);
  assert.equal(slow.calls, series.sources()[0]!.samples);
});

test('the older constructor shape (pid groups) still works, and records its point before sample() returns', () => {
  const series = new ResourceSeries({ self: () => [process.pid] }, Date.now() - 1000);
  void series.sample();
  void series.sample();
  assert.equal(series.points.length, 1);
  assert.ok(series.points[0]!.rss.self! > 0);
  assert.deepEqual(
    series.sources().map((s) => [s.name, s.how, s.detail]),
    [['self', 'proc', `pid ${process.pid}`]],
  );
});

async function serve(handler: (path: string) => { status: number; body: string }): Promise<{ server: Server; base: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(String(req.headers.accept));
    const r = handler(req.url ?? '');
    res.writeHead(r.status, { 'content-type': 'text/plain; version=0.0.4' }).end(r.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('a metrics source scrapes the pair over HTTP; a 500, a page without the pair, or no server is a failure', async () => {
  const { server, base, seen } = await serve((p) =>
    p === '/metrics' ? { status: 200, body: etcdText } : p === '/empty' ? { status: 200, body: 'up 1\n' } : { status: 500, body: 'no' },
  );
  try {
    const ok = metricsSource('etcd', `${base}/metrics`);
    assert.deepEqual(await ok.sample(), { cpuSeconds: 0.15, rssBytes: 31_641_600 });
    assert.match(seen[0]!, /^text\/plain/);
    assert.equal(ok.detail, `${base}/metrics`);
    await assert.rejects(metricsSource('x', `${base}/broken`).sample(), /HTTP 500/);
    await assert.rejects(metricsSource('x', `${base}/empty`).sample(), /process_cpu_seconds_total/);
  } finally {
    await new Promise((r) => server.close(r));
  }
  await assert.rejects(metricsSource('x', `${base}/metrics`).sample(), /EM_METRICS_UNREACHABLE|ECONNREFUSED/);
});

test('the local spec names each component at its port; metricsSources builds them with the apiserver through the kubeconfig', () => {
  const spec = localMetricsSpec({
    ports: defaultPorts,
    components: { etcd: rec(), 'kube-apiserver': rec(), 'kube-controller-manager': rec(), 'kube-scheduler': rec(), cloudcore: rec() },
  });
  assert.deepEqual(spec, {
    apiserver: 'kubeconfig',
    etcd: 'http://127.0.0.1:2381/metrics',
    controllerManager: { url: 'https://127.0.0.1:10257/metrics', verify: false },
    scheduler: { url: 'https://127.0.0.1:10259/metrics', verify: false },
    cloudcore: 'http://127.0.0.1:9091/metrics',
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const sources = metricsSources(spec, kc);
  assert.deepEqual(
    sources.map((s) => [s.name, s.how, s.detail]),
    [
      ['kube-apiserver', 'metrics', 'https://127.0.0.1:6443/metrics'],
      ['etcd', 'metrics', 'http://127.0.0.1:2381/metrics'],
      ['kube-controller-manager', 'metrics', 'https://127.0.0.1:10257/metrics'],
      ['kube-scheduler', 'metrics', 'https://127.0.0.1:10259/metrics'],
      ['cloudcore', 'metrics', 'http://127.0.0.1:9091/metrics'],
    ],
  );
  assert.throws(() => metricsSources({ apiserver: 'kubeconfig' }), /EM_METRICS_SPEC|no kubeconfig/);
  assert.deepEqual(Object.keys(localMetricsSpec({ ports: defaultPorts, components: { etcd: rec() } })), ['etcd']);
});

function rec() {
  return { pid: 1, startTicks: 1, startedAt: '', binary: '', log: '' };
}
