/**
 * Hollow edge nodes against the real CloudCore of `edgemark cluster up`:
 * 50 join and are Ready with the edge role; leases renew; a second runner with
 * a used node name displaces the first connection; CloudCore is SIGKILLed and
 * restarted and every node reconnects, with no duplicate Node. The first run
 * also records frames from CloudCore for the codec tests.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { isSameProcess } from '../../src/core/proc.js';
import { packageRoot } from '../../src/core/paths.js';
import { defaultTimings } from '../../src/edge/timings.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { cli, runCli, startTestFleet, upTestCluster, type TestCluster, type TestFleet } from './harness.js';

const COUNT = 50;
const PREFIX = 'it-edge-';
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let coord: k8s.CoordinationV1Api;
let runnerA: TestFleet | undefined;
const framesFile = join(packageRoot(), 'test', 'fixtures', 'frames', 'cloudcore-v1.23.1.jsonl');
/** One lease interval at its longest (renewal period plus its jitter), and a margin. */
const LEASE_INTERVAL_MS = defaultTimings.leaseRenewMs * (1 + defaultTimings.leaseJitter) + 500;

/** The CLI itself, for the tests of its flags, errors and Ctrl-C. */
function startCli(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cli, ...cluster.args, 'nodes', 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function interrupt(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  return exited;
}

/** Runner A: the test's 50 nodes, in this process through the runtime. */
async function startRunnerA(): Promise<TestFleet> {
  const record = process.env.EDGEMARK_RECORD_FIXTURES === '1' ? framesFile : join(cluster.stateDir, 'frames.jsonl');
  if (record === framesFile) rmSync(framesFile, { force: true });
  return startTestFleet(cluster, { count: COUNT, prefix: PREFIX, joinRate: 25, recordFrames: record });
}

async function stopRunnerA(): Promise<void> {
  const r = runnerA;
  runnerA = undefined;
  if (r) {
    const result = await r.stop();
    assert.deepEqual(result.problems, [], 'the runtime stopped everything it started');
  }
}

async function edgeNodes(): Promise<k8s.V1Node[]> {
  const list = await core.listNode({ labelSelector: 'node-role.kubernetes.io/edge' });
  return list.items.filter((n) => n.metadata?.name?.startsWith(PREFIX));
}

const isReady = (n: k8s.V1Node) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function leaseTimes(): Promise<Map<string, number>> {
  const list = await coord.listNamespacedLease({ namespace: 'kube-node-lease' });
  return new Map(
    list.items.filter((l) => l.metadata?.name?.startsWith(PREFIX)).map((l) => [l.metadata!.name!, new Date(l.spec?.renewTime as unknown as string).getTime()]),
  );
}

before(async () => {
  cluster = await upTestCluster();
  const kc = loadKubeConfig(cluster.state().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  coord = kc.makeApiClient(k8s.CoordinationV1Api);
  mkdirSync(join(packageRoot(), 'test', 'fixtures', 'frames'), { recursive: true });
  runnerA = await startRunnerA();
});

after(async () => {
  await stopRunnerA();
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
  let previous = await waitFor(
    'all leases',
    async () => {
      const t = await leaseTimes();
      return t.size === COUNT ? t : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  for (let i = 0; i < 3; i++) {
    await sleep(LEASE_INTERVAL_MS);
    const now = await leaseTimes();
    for (const [name, t] of now) assert.ok(t > previous.get(name)!, `lease ${name} renewed in interval ${i + 1}`);
    previous = now;
  }
});

test('a second runner with a used node name takes the connection; the first is dropped and comes back', async () => {
  const a = runnerA!;
  const before = a.summary()?.reconnects ?? 0;
  const uid = (await edgeNodes()).find((n) => n.metadata?.name === `${PREFIX}0`)?.metadata?.uid;
  const b = await startTestFleet(cluster, { count: 1, prefix: PREFIX, dataDir: join(cluster.stateDir, 'runner-b') });
  try {
    const sB = await waitFor(
      'the second runner to get its node Ready',
      async () => {
        const s = b.summary();
        return s && s.joined === 1 ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(sB.errors.register ?? 0, 0, 'its node registered as the existing Node');
  } finally {
    assert.deepEqual((await b.stop()).problems, []);
  }
  // The first runner's node was cut off (CloudCore keeps the newest) and reconnects once B is gone.
  const sA = await waitFor(
    'runner A to reconnect and be Ready again',
    async () => {
      const s = a.summary();
      return s && s.reconnects > before && s.states.ready === COUNT ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.equal(sA.errors.register ?? 0, 0, 'nothing re-registered');
  const nodes = await edgeNodes();
  assert.equal(nodes.length, COUNT, 'no Node was added or lost');
  assert.equal(nodes.find((n) => n.metadata?.name === `${PREFIX}0`)?.metadata?.uid, uid, 'the shared name is still the same Node');
});

test('CloudCore is SIGKILLed and restarted: every node reconnects and renews, no duplicate Node', async () => {
  const a = runnerA!;
  const before = a.summary()!.reconnects;
  const uids = new Map((await edgeNodes()).map((n) => [n.metadata!.name!, n.metadata!.uid!]));
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
  for (const n of nodes) assert.equal(n.metadata!.uid, uids.get(n.metadata!.name!), `${n.metadata!.name} is the Node it was (not registered again)`);
  // Every node lost its link and made a new one (the summary comes every 2 s).
  const s = await waitFor(
    'the summary to count the reconnects',
    async () => {
      const x = a.summary();
      return x && x.reconnects >= before + COUNT && x.states.ready === COUNT ? x : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 500 },
  );
  assert.equal(s.states.disconnected ?? 0, 0);
});

test("runner A's traffic: node updates in, lease updates out, devicetwin's membership query on every connect; frames recorded", async () => {
  const a = runnerA!;
  await stopRunnerA();
  const s = a.fleet.latest()!;
  assert.equal(s.states.ready, COUNT, 'states are counted as they were when the stop came');
  assert.ok(s.messagesByRoute['in update node'] && s.messagesByRoute['out update lease']);
  // devicetwin asks for the device membership on every connect (and reconnect).
  assert.ok((s.messagesByRoute['out get detail'] ?? 0) >= COUNT, `membership queries: ${s.messagesByRoute['out get detail']}`);
  assert.equal(s.kinds.edge?.certificateRequests, COUNT, 'one certificate per node, reused after every reconnect');
  assert.ok(existsSync(process.env.EDGEMARK_RECORD_FIXTURES === '1' ? framesFile : join(cluster.stateDir, 'frames.jsonl')));
});

test('nodes the controller marked NotReady while the runner was away are Ready again when it returns', async () => {
  // With the runner away, after the grace period (40 s) the node lifecycle
  // controller marks every node Unknown and taints it.
  await stopRunnerA();
  await waitFor('the nodes to go NotReady', async () => ((await edgeNodes()).every((n) => !isReady(n)) ? true : undefined), {
    timeoutMs: 120_000,
    intervalMs: 2000,
  });
  const r = await startTestFleet(cluster, { count: COUNT, prefix: PREFIX, joinRate: 50 });
  try {
    // The kubelet patches its conditions back in full; the lease alone would not.
    await waitFor(
      `${COUNT} nodes Ready again`,
      async () => {
        const nodes = await edgeNodes();
        return nodes.length === COUNT && nodes.every(isReady) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    await waitFor(
      'the unreachable taints to be lifted',
      async () => ((await edgeNodes()).every((n) => !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/unreachable')) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
  } finally {
    assert.deepEqual((await r.stop()).problems, []);
  }
});

test('the CLI runs nodes until Ctrl-C, prints its summary and writes it as JSON', async () => {
  const file = join(cluster.stateDir, 'cli-summary.json');
  const r = startCli(['-n', '3', '--prefix', 'cli-', '--summary-json', file]);
  await waitFor('3 nodes ready on the live line', async () => (/started: .*\bready 3\b/.test(r.output()) ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 500,
  });
  assert.equal(await interrupt(r.child), 0, r.output());
  assert.match(r.output(), /summary after/);
  assert.match(r.output(), /at stop: ready 3/);
  const s = JSON.parse((await import('node:fs')).readFileSync(file, 'utf8')) as { summaryVersion: number; joined: number };
  assert.equal(s.summaryVersion, 1);
  assert.equal(s.joined, 3);
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
  const r = startCli(['-n', '2', '--prefix', 'lost-', '--cloudcore', '127.0.0.1:1', '--cloudcore-https', '127.0.0.1:2', '--token', token]);
  // Long enough for several retries (the first waits reconnectInitialMs, the next twice that...).
  await sleep(defaultTimings.reconnectInitialMs * (1 + defaultTimings.reconnectFactor) * (1 + defaultTimings.reconnectJitter) + 2000);
  const code = await interrupt(r.child);
  assert.equal(code, 0, `Ctrl-C stops it cleanly, with no fatal error: ${r.output()}`);
  assert.equal(r.output().match(/cannot reach CloudCore/g)?.length, 1, r.output());
  assert.match(r.output(), /retrying with backoff/);
});
