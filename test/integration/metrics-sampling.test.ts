/**
 * Resource figures from two kinds of source on the same real control plane:
 * /proc of each component's pid, and each component's own /metrics
 * (process_cpu_seconds_total, process_resident_memory_bytes) reached the way a
 * run against a remote control plane would reach it. Both series are sampled
 * together; the metrics side must report CPU and an RSS close to /proc's for
 * the same process. An unreachable URL is counted and leaves gaps, not zeros.
 * No timing assertions.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { freePort } from '../../src/cluster/ports.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { localMetricsSpec, metricsSource, metricsSources, procSource, procSources } from '../../src/measure/sources.js';
import { meanByComponent, ResourceSeries } from '../../src/run/measure.js';
import { upTestCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;

before(async () => {
  const c = await upTestCluster();
  cluster = c;
  process.stdout.write(`# cluster up took ${(c.up.ms / 1000).toFixed(1)}s\n`);
});

after(async () => {
  if (cluster) await cluster.down();
});

const mib = (b: number | undefined) => (b === undefined ? '–' : `${(b / 2 ** 20).toFixed(1)} MiB`);
const milli = (c: number | undefined) => (c === undefined ? '–' : `${(c * 1000).toFixed(1)} m`);

test('metrics and /proc agree on every component the metrics side reaches', async () => {
  const state = cluster.state();
  const kc = loadKubeConfig(state.kubeconfig);
  const groups = Object.fromEntries(Object.entries(state.components).map(([name, rec]) => [name, () => (rec ? [rec.pid] : [])]));
  const t0 = Date.now();
  const viaProc = new ResourceSeries(procSources(groups), t0);
  const viaMetrics = new ResourceSeries(metricsSources(localMetricsSpec(state), kc), t0);
  viaProc.start(2000);
  viaMetrics.start(2000);
  await sleep(20_000);
  await Promise.all([viaProc.stop(), viaMetrics.stop()]);

  const procCpu = meanByComponent(viaProc.points, 'cpu');
  const procRss = meanByComponent(viaProc.points, 'rss');
  const metCpu = meanByComponent(viaMetrics.points, 'cpu');
  const metRss = meanByComponent(viaMetrics.points, 'rss');
  const sources = viaMetrics.sources();
  for (const s of sources) {
    process.stdout.write(
      `# ${s.name.padEnd(24)} proc ${milli(procCpu[s.name]).padStart(9)} ${mib(procRss[s.name]).padStart(10)} | metrics ${milli(metCpu[s.name]).padStart(9)} ${mib(metRss[s.name]).padStart(10)}` +
        ` | ${s.detail} missing ${s.failures}/${s.samples}${s.lastError ? ` (${s.lastError})` : ''}\n`,
    );
  }
  assert.equal(
    viaProc.sources().every((s) => s.failures === 0),
    true,
    'every local pid answers through /proc',
  );
  // All five serve the process collector on the local cluster (CloudCore on its monitor server).
  assert.deepEqual(sources.map((s) => s.name).sort(), Object.keys(groups).sort());
  const reached = sources.filter((s) => s.failures < s.samples);
  assert.deepEqual(
    reached.map((s) => [s.name, s.failures]),
    sources.map((s) => [s.name, 0]),
    'every metrics endpoint answered every time',
  );
  for (const s of reached) {
    const cpuPoints = viaMetrics.points.map((p) => p.cpu[s.name]).filter((v): v is number => v !== undefined);
    assert.ok(
      cpuPoints.some((v) => v > 0),
      `${s.name}: some CPU through metrics`,
    );
    const ratio = metRss[s.name]! / procRss[s.name]!;
    assert.ok(ratio >= 0.5 && ratio <= 2, `${s.name}: RSS metrics/proc ${ratio.toFixed(2)}`);
  }
});

test('an unreachable metrics URL is counted as a failure each time and leaves gaps, never zeros', async () => {
  const state = cluster.state();
  const etcdPid = state.components.etcd!.pid;
  const nowhere = metricsSource('nowhere', `http://127.0.0.1:${await freePort()}/metrics`);
  const series = new ResourceSeries([nowhere, procSource('etcd', () => [etcdPid])], Date.now());
  for (let i = 0; i < 4; i++) await series.sample();
  const [n, e] = series.sources();
  assert.equal(n!.failures, 4);
  assert.equal(n!.samples, 4);
  assert.match(n!.lastError ?? '', /EM_METRICS_UNREACHABLE|ECONNREFUSED|GET http/);
  assert.equal(e!.failures, 0);
  assert.equal(series.points.length, 3);
  for (const p of series.points) {
    assert.equal('nowhere' in p.cpu || 'nowhere' in p.rss, false, 'a gap, not a zero');
    assert.ok(p.rss.etcd! > 0);
  }
});
