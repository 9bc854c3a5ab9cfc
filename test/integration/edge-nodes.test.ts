/**
 * Hollow edge nodes against the real CloudCore of `edgemark cluster up`:
 * 50 join and are Ready with the edge role; leases renew; a second runner with
 * a used node name displaces the first connection; CloudCore is SIGKILLed and
 * restarted and every node reconnects, with no duplicate Node. The first run
 * also records frames from CloudCore for the codec tests.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import type { FleetSummary } from '../../src/fleet/fleet.js';
import { isSameProcess } from '../../src/core/proc.js';
import { packageRoot } from '../../src/core/paths.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { cli, runCli, upTestCluster, type TestCluster } from './harness.js';

const COUNT = 50;
const PREFIX = 'it-edge-';
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let coord: k8s.CoordinationV1Api;
let runnerA: ChildProcess;
let runnerAOut = '';
let summaryA: string;
const framesFile = join(packageRoot(), 'test', 'fixtures', 'frames', 'cloudcore-v1.23.1.jsonl');

function startRunner(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cli, ...cluster.args, 'nodes', 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

function readSummary(file: string): FleetSummary | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FleetSummary;
  } catch {
    return undefined;
  }
}

async function stopRunner(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  return exited;
}

async function edgeNodes(): Promise<k8s.V1Node[]> {
  const list = await core.listNode({ labelSelector: 'node-role.kubernetes.io/edge' });
  return list.items.filter((n) => n.metadata?.name?.startsWith(PREFIX));
}

const isReady = (n: k8s.V1Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function leaseTimes(): Promise<Map<string, number>> {
  const list = await coord.listNamespacedLease({ namespace: 'kube-node-lease' });
  return new Map(
    list.items
      .filter((l) => l.metadata?.name?.startsWith(PREFIX))
      .map((l) => [l.metadata!.name!, new Date(l.spec?.renewTime as unknown as string).getTime()]),
  );
}

before(async () => {
  cluster = await upTestCluster();
  const kc = loadKubeConfig(cluster.state().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  coord = kc.makeApiClient(k8s.CoordinationV1Api);
  summaryA = join(cluster.stateDir, 'summary-a.json');
  mkdirSync(join(packageRoot(), 'test', 'fixtures', 'frames'), { recursive: true });
  const record = process.env.EDGEMARK_RECORD_FIXTURES === '1' ? framesFile : join(cluster.stateDir, 'frames.jsonl');
  if (record === framesFile) rmSync(framesFile, { force: true });
  const r = startRunner(['-n', String(COUNT), '--prefix', PREFIX, '--join-rate', '25', '--summary-json', summaryA, '--record-frames', record]);
  runnerA = r.child;
  runnerA.stdout!.on('data', (d: Buffer) => (runnerAOut += d.toString()));
  runnerA.stderr!.on('data', (d: Buffer) => (runnerAOut += d.toString()));
});

after(async () => {
  if (runnerA) await stopRunner(runnerA);
  if (cluster) await cluster.down();
});

test(`${COUNT} hollow edge nodes join: Ready in the API, with the edge role CloudCore adds`, async () => {
  const nodes = await waitFor(
    `${COUNT} Ready edge nodes`,
    async () => {
      const n = await edgeNodes();
      return n.length === COUNT && n.every(isReady) ? n : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 1000 },
  );
  for (const n of nodes) {
    assert.equal(n.metadata?.labels?.['node-role.kubernetes.io/edge'], '');
    assert.match(n.status?.nodeInfo?.kubeletVersion ?? '', /^v1\.32\.\d+-kubeedge-v1\.23\.1$/);
    assert.ok(n.metadata?.annotations?.cloudcore, 'CloudCore annotated the node on connect');
  }
});

test('leases renew: renewTime advances over three intervals', async () => {
  // A Node is Ready from its registration; its Lease follows a moment later.
  let previous = await waitFor('all leases', async () => {
    const t = await leaseTimes();
    return t.size === COUNT ? t : undefined;
  }, { timeoutMs: 30_000, intervalMs: 500 });
  for (let i = 0; i < 3; i++) {
    await sleep(10_500);
    const now = await leaseTimes();
    for (const [name, t] of now) assert.ok(t > previous.get(name)!, `lease ${name} renewed in interval ${i + 1}`);
    previous = now;
  }
});

test('a second runner with a used node name takes the connection; the first is dropped', async () => {
  const before = readSummary(summaryA)!.reconnects;
  const summaryB = join(cluster.stateDir, 'summary-b.json');
  const b = startRunner(['-n', '1', '--prefix', PREFIX, '--duration', '12', '--summary-json', summaryB]);
  const codeB = await new Promise<number | null>((r) => b.child.once('exit', (c) => r(c)));
  assert.equal(codeB, 0, b.output());
  const sB = readSummary(summaryB)!;
  assert.equal(sB.joined, 1, 'the second runner got its node Ready');
  // The first runner's node was cut off and reconnected (CloudCore keeps the newest).
  const sA = await waitFor('runner A to reconnect', async () => {
    const s = readSummary(summaryA);
    return s && s.reconnects > before ? s : undefined;
  }, { timeoutMs: 30_000, intervalMs: 500 });
  assert.ok(sA.reconnects >= before + 1);
});

test('CloudCore is SIGKILLed and restarted: every node reconnects and renews, no duplicate Node', async () => {
  const before = readSummary(summaryA)!.reconnects;
  const cc = cluster.state().components.cloudcore!;
  process.kill(cc.pid, 'SIGKILL');
  await waitFor('CloudCore to die', async () => (isSameProcess(cc.pid, cc.startTicks) ? undefined : true), { timeoutMs: 5000 });
  const up = await runCli([...cluster.args, 'cluster', 'up']);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, /starting cloudcore/);
  assert.doesNotMatch(up.stderr, /starting kube-apiserver/, 'only the stopped component is restarted');
  const restartedAt = Date.now();
  await waitFor(
    'every lease to be renewed through the new CloudCore',
    async () => {
      const t = await leaseTimes();
      return t.size === COUNT && [...t.values()].every((v) => v > restartedAt) ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  const nodes = await edgeNodes();
  assert.equal(nodes.length, COUNT, 'no duplicate or missing Node');
  assert.ok(nodes.every(isReady));
  // The summary file is rewritten every 2 s: wait for one written after the recovery.
  const s = await waitFor('the summary to count the reconnects', async () => {
    const x = readSummary(summaryA);
    return x && x.reconnects >= before + COUNT && x.states.ready === COUNT ? x : undefined;
  }, { timeoutMs: 15_000, intervalMs: 500 });
  assert.ok(s.reconnects >= before + COUNT);
});

test('the runner stops on Ctrl-C and prints its summary', async () => {
  const code = await stopRunner(runnerA);
  assert.equal(code, 0, runnerAOut);
  assert.match(runnerAOut, /summary after/);
  assert.match(runnerAOut, /reconnects \d+/);
  const s = readSummary(summaryA)!;
  assert.equal(s.states.ready, COUNT, 'states are counted as they were when Ctrl-C came');
  assert.ok(s.messagesByRoute['in update node'] && s.messagesByRoute['out update lease']);
  // devicetwin asks for the device membership on every connect (and reconnect).
  assert.ok((s.messagesByRoute['out get detail'] ?? 0) >= COUNT, `membership queries: ${s.messagesByRoute['out get detail']}`);
  assert.ok(existsSync(process.env.EDGEMARK_RECORD_FIXTURES === '1' ? framesFile : join(cluster.stateDir, 'frames.jsonl')));
});

test('nodes the controller marked NotReady while the runner was away are Ready again when it returns', async () => {
  // Runner A stopped in the test above: after the grace period (40 s) the
  // node lifecycle controller marks every node Unknown and taints it.
  await waitFor('the nodes to go NotReady', async () => ((await edgeNodes()).every((n) => !isReady(n)) ? true : undefined), { timeoutMs: 120_000, intervalMs: 2000 });
  const r = startRunner(['-n', String(COUNT), '--prefix', PREFIX, '--join-rate', '50', '--duration', '90']);
  try {
    // The kubelet patches its conditions back in full; the lease alone would not.
    await waitFor(`${COUNT} nodes Ready again`, async () => {
      const nodes = await edgeNodes();
      return nodes.length === COUNT && nodes.every(isReady) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    await waitFor('the unreachable taints to be lifted', async () => ((await edgeNodes()).every((n) => !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable')) ? true : undefined), { timeoutMs: 30_000, intervalMs: 1000 });
  } finally {
    assert.equal(await stopRunner(r.child), 0, r.output());
  }
});

async function localToken(): Promise<string> {
  const s = await core.readNamespacedSecret({ name: 'tokensecret', namespace: 'kubeedge' });
  return Buffer.from(s.data!.tokendata!, 'base64').toString();
}

test('a token with a bad signature is refused once, with a code, and never printed', async () => {
  const token = await localToken();
  const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
  const r = await runCli([...cluster.args, 'nodes', 'run', '-n', '20', '--prefix', 'forged-', '--token', forged], { timeoutMs: 60_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error EM_TOKEN_REJECTED: .*refused the join token/);
  assert.ok(!r.stderr.includes(forged.split('.')[2]!), 'the token is not echoed');
  assert.match(r.stderr, /errors: bootstrap \d+/);
});

test('a token for another CA is refused before any certificate request', async () => {
  const token = await localToken();
  const other = `${'f'.repeat(64)}${token.slice(token.indexOf('.'))}`;
  const r = await runCli([...cluster.args, 'nodes', 'run', '-n', '2', '--prefix', 'other-', '--token', other], { timeoutMs: 60_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /EM_CA_HASH_MISMATCH/);
});

test('an unreachable CloudCore gives one warning line and backoff, not a crash', async () => {
  const token = await localToken();
  const r = startRunner(['-n', '2', '--prefix', 'lost-', '--cloudcore', '127.0.0.1:1', '--cloudcore-https', '127.0.0.1:2', '--token', token]);
  await sleep(9000);
  const code = await stopRunner(r.child);
  assert.notEqual(code, null);
  assert.equal(r.output().match(/cannot reach CloudCore/g)?.length, 1, r.output());
  assert.match(r.output(), /retrying with backoff/);
});
