/**
 * Density smoke test on the real control plane: 200 hollow edge nodes over 2
 * worker processes; all Ready in the API, and the runner's one /metrics
 * (aggregated over its workers) reports them. Bad plans are refused before
 * anything starts. No timing assertions: figures belong to bench/density.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { cli, runCli, upTestCluster, type TestCluster } from './harness.js';

const COUNT = 200;
const PREFIX = 'dens-';
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let runner: ChildProcess | undefined;
let out = '';

before(async () => {
  cluster = await upTestCluster(['--node-limit', '300']);
  core = loadKubeConfig(cluster.state().kubeconfig).makeApiClient(k8s.CoreV1Api);
});

after(async () => {
  if (runner && runner.exitCode === null) {
    const gone = new Promise((r) => runner!.once('exit', r));
    runner.kill('SIGINT');
    await gone;
  }
  if (cluster) await cluster.down();
});

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

test(`${COUNT} nodes on 2 workers: all Ready, and /metrics reports them; joins keep inside the join window`, async () => {
  // A window of 20 (10 per worker) against a join rate of 100/s: the runner must wait for CloudCore's answers.
  const summaryFile = join(mkdtempSync(join(tmpdir(), 'em-density-smoke-')), 'summary.json');
  runner = spawn(process.execPath, [cli, ...cluster.args, 'nodes', 'run', '-n', String(COUNT), '--prefix', PREFIX, '--workers', '2', '--join-rate', '100', '--max-joining', '20', '--summary-json', summaryFile, '--duration', '240'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  runner.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await waitFor('the metrics URL', async () => /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out)?.[1], { timeoutMs: 30_000, intervalMs: 200 });
  await waitFor(`${COUNT} Ready nodes`, async () => {
    const nodes = (await core.listNode({ labelSelector: 'node-role.kubernetes.io/edge' })).items.filter((n) => n.metadata?.name?.startsWith(PREFIX));
    const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === COUNT ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 2000 });
  const text = await waitFor('/metrics to count every node ready', async () => {
    const body = await (await fetch(url)).text();
    return metricValue(body, 'edgemark_nodes', '{state="ready"}') === COUNT ? body : undefined;
  }, { timeoutMs: 30_000, intervalMs: 1000 });
  assert.equal(metricValue(text, 'edgemark_nodes_joined'), COUNT);
  assert.ok((metricValue(text, 'edgemark_messages_total', '{direction="out",operation="insert",resource="node"}') ?? 0) >= COUNT);
  assert.ok(text.includes('edgemark_event_loop_lag_seconds{quantile="0.99"}'), 'event-loop lag is exported');
  assert.ok((metricValue(text, 'process_resident_memory_bytes') ?? 0) > 0, 'RSS is exported');
  assert.ok(/^nodejs_heap_size_used_bytes \d/m.test(text), 'heap is exported');
  // Two workers, one summary.
  const gone = new Promise<number | null>((r) => runner!.once('exit', (c) => r(c)));
  runner.kill('SIGINT');
  assert.equal(await gone, 0, out);
  assert.match(out, /runner: 2 processes/);
  assert.match(out, /ready at least once 200/);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as { joinWindow: { size: number; waitedMs: number } };
  assert.equal(summary.joinWindow.size, 20);
  assert.ok(summary.joinWindow.waitedMs > 0, 'the window held joins back');
  assert.match(out, /joins waited .* for CloudCore's answers \(at most 20 joining at once/);
  // Nodes not yet registered (dialling, or connected and waiting for the answer) are always inside the window.
  for (const m of out.matchAll(/started: ([^|]*)\|/g)) {
    const count = (state: string) => Number(new RegExp(`\\b${state} (\\d+)`).exec(m[1]!)?.[1] ?? 0);
    assert.ok(count('joining') + count('connected') <= 20, `live line beyond the window: ${m[0]}`);
  }
});

test('a plan beyond the node limit, more workers than nodes, or a bad metrics address is refused before anything starts', async () => {
  const over = await runCli([...cluster.args, 'nodes', 'run', '-n', '301']);
  assert.equal(over.code, 1);
  assert.match(over.stderr, /EM_NODE_LIMIT/);
  assert.match(over.stderr, /--node-limit 301/);
  const badWorkers = await runCli([...cluster.args, 'nodes', 'run', '-n', '2', '--workers', '3']);
  assert.notEqual(badWorkers.code, 0);
  assert.match(badWorkers.stderr, /--workers 3 is more than --count 2/);
  const badMetrics = await runCli([...cluster.args, 'nodes', 'run', '-n', '1', '--metrics', 'nowhere']);
  assert.equal(badMetrics.code, 2);
  assert.match(badMetrics.stderr, /--metrics takes host:port/);
});
