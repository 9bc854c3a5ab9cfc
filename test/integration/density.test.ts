/**
 * Density smoke test on the real control plane: 200 hollow edge nodes over 2
 * worker processes; all Ready in the API, and the runner's one /metrics
 * (aggregated over its workers) reports them. Bad plans are refused before
 * anything starts. No timing assertions: figures belong to bench/density.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FleetSummary } from '../../src/fleet/summary.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { runCli, startTestFleet, upTestCluster, type TestCluster, type TestFleet } from './harness.js';

const COUNT = 200;
const PREFIX = 'dens-';
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let runner: TestFleet | undefined;

before(async () => {
  cluster = await upTestCluster(['--node-limit', '300']);
  core = loadKubeConfig(cluster.state().kubeconfig).makeApiClient(k8s.CoreV1Api);
});

after(async () => {
  await runner?.stop();
  if (cluster) await cluster.down();
});

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

test(`${COUNT} nodes on 2 workers: all Ready, and /metrics reports them; joins keep inside the join window`, async () => {
  // A window of 20 (10 per worker) against a join rate of 100/s: the runner must wait for CloudCore's answers.
  runner = await startTestFleet(cluster, { count: COUNT, prefix: PREFIX, workers: 2, joinRate: 100, maxJoining: 20, durationSeconds: 240 });
  const statuses: FleetSummary[] = [];
  runner.fleet.on((e) => {
    if (e.type === 'status') statuses.push(e.summary);
  });
  const url = runner.fleet.metricsUrl;
  assert.ok(url && /^http:\/\/127\.0\.0\.1:\d+\/metrics$/.test(url), `metrics served on loopback: ${url}`);
  await waitFor(
    `${COUNT} Ready nodes`,
    async () => {
      const nodes = (await core.listNode({ labelSelector: 'node-role.kubernetes.io/edge' })).items.filter((n) => n.metadata?.name?.startsWith(PREFIX));
      const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === COUNT ? true : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 2000 },
  );
  const text = await waitFor(
    '/metrics to count every node ready',
    async () => {
      const body = await (await fetch(url)).text();
      return metricValue(body, 'edgemark_nodes', '{state="ready"}') === COUNT ? body : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 1000 },
  );
  assert.equal(metricValue(text, 'edgemark_nodes_joined'), COUNT);
  assert.ok((metricValue(text, 'edgemark_messages_total', '{direction="out",operation="insert",resource="node"}') ?? 0) >= COUNT);
  assert.ok(text.includes('edgemark_event_loop_lag_seconds{quantile="0.99"}'), 'event-loop lag is exported');
  assert.ok((metricValue(text, 'process_resident_memory_bytes') ?? 0) > 0, 'RSS is exported');
  assert.ok(/^nodejs_heap_size_used_bytes \d/m.test(text), 'heap is exported');
  // Two workers, one summary.
  const result = await runner.stop();
  runner = undefined;
  assert.deepEqual(result.problems, [], 'both workers stopped when told');
  const summary = result.summary!;
  assert.equal(summary.workers, 2);
  assert.equal(summary.joined, COUNT);
  // States as they were when the stop came.
  assert.equal(summary.states.ready, COUNT);
  assert.equal(summary.joinWindow.size, 20);
  assert.ok(summary.joinWindow.waitedMs > 0, 'the window held joins back');
  // Nodes not yet registered (dialling, or connected and waiting for the answer) are always inside the window.
  assert.ok(statuses.length > 2, `status events arrived every 2 s: ${statuses.length}`);
  for (const st of statuses) assert.ok((st.states.joining ?? 0) + (st.states.connected ?? 0) <= 20, `beyond the window: ${JSON.stringify(st.states)}`);
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

test('nodes run --dry-run prints the plan and what would start, and starts nothing; the plan runs again from a file', async () => {
  const dry = await runCli([...cluster.args, 'nodes', 'run', '-n', '7', '--prefix', 'dry-', '--workers', '2', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^# dry run: nothing started, no token read$/m);
  assert.match(dry.stdout, /^# runtime: workers$/m);
  assert.match(dry.stdout, /worker 0: 4 of nodes/);
  assert.match(dry.stdout, /token: from secret kubeedge\/tokensecret of the local cluster/);
  assert.match(dry.stdout, /^apiVersion: edgemark\.io\/v1alpha1$/m);
  assert.match(dry.stdout, /^kind: FleetPlan$/m);
  const nodes = (await core.listNode()).items.filter((n) => n.metadata?.name?.startsWith('dry-'));
  assert.equal(nodes.length, 0, 'no node was created');
  // The printed plan is a plan: it runs (here, dry again) from a file.
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'em-plan-')), 'plan.yaml');
  writeFileSync(file, dry.stdout);
  const again = await runCli([...cluster.args, 'nodes', 'run', '--plan', file, '--dry-run']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.slice(again.stdout.indexOf('apiVersion')), dry.stdout.slice(dry.stdout.indexOf('apiVersion')));
  const clash = await runCli([...cluster.args, 'nodes', 'run', '--plan', file, '-n', '3']);
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /--plan says what to run; --count cannot go with it/);
  writeFileSync(file, dry.stdout.replace('joinRate: 50', 'joinRate: -1'));
  const bad = await runCli([...cluster.args, 'nodes', 'run', '--plan', file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /EM_PLAN_INVALID: \[plan\] pacing\.joinRate/);
});
