import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../../core/errors.js';
import { harness, loadTest } from '../testing.js';
import { runPhase } from './index.js';

async function withNamespaces(h: ReturnType<typeof harness>, count: number): Promise<void> {
  await runPhase(h.ctx, { kind: 'namespaces', count });
}

test('deployments: N namespaces x M Deployments created at the paced qps; the phase ends when all are available', async () => {
  const h = harness({ hooks: { startDelayMs: () => 5000 } });
  await withNamespaces(h, 2);
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 3, replicas: 2, qps: 4 });
  const created = h.kube.callsOf('createDeployment');
  assert.deepEqual(
    created.map((c) => c.target),
    ['run-1-0/deploy-0', 'run-1-0/deploy-1', 'run-1-0/deploy-2', 'run-1-1/deploy-0', 'run-1-1/deploy-1', 'run-1-1/deploy-2'],
  );
  assert.deepEqual(
    created.map((c) => c.at - t0),
    [0, 250, 500, 750, 1000, 1250],
  );
  const ds = await h.kube.listDeployments();
  assert.ok(
    ds.every((d) => d.available === 2),
    JSON.stringify(ds),
  );
  assert.ok(h.time.now() - t0 >= 5000, 'waited for the pods to start');
  assert.ok(h.log.lines.includes('info:   6 deployment(s) of 2 replicas: 12 pods'), h.log.lines.join('\n'));
});

test('deployments: podsPerNode spreads the pods over every Deployment of the phase; a later phase numbers on', async () => {
  const h = harness();
  await withNamespaces(h, 1);
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 3, podsPerNode: 10, qps: 20 });
  assert.deepEqual(
    (await h.kube.listDeployments()).map((d) => d.replicas),
    [14, 14, 14],
    '4 nodes x 10 pods over 3 Deployments, rounded up',
  );
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 1, replicas: 1, qps: 20 });
  assert.equal(h.kube.callsOf('createDeployment').at(-1)!.target, 'run-1-0/deploy-3');
});

test('deployments: no progress for stallMs with some pods available: a warning, and the phase goes on', async () => {
  const h = harness({ stallMs: 30_000, hooks: { startDelayMs: (p) => (p.name.endsWith('-0') || p.name.endsWith('-1') ? 1000 : undefined) } });
  await withNamespaces(h, 1);
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 1, replicas: 5, qps: 20 });
  const warn = h.log.lines.find((l) => l.startsWith('warn:'));
  assert.equal(warn, 'warn:   3 of 5 pods never became available in 30 s; going on (they count as lost)');
  const took = h.time.now() - t0;
  assert.ok(took > 30_000 && took < 40_000, `stalled after ${took} ms`);
});

test('deployments: with no pod available at all, a stall is not a result: the wait times out', async () => {
  const h = harness({ stallMs: 10_000, test: loadTest({ timeoutSeconds: 120 }), hooks: { startDelayMs: () => undefined } });
  await withNamespaces(h, 1);
  await assert.rejects(runPhase(h.ctx, { kind: 'deployments', perNamespace: 1, replicas: 3, qps: 20 }), { code: 'EM_RUN_TIMEOUT' });
});

test('scale: every Deployment patched at the paced qps; the phase ends when each has the new replicas available', async () => {
  const h = harness({ hooks: { startDelayMs: () => 3000, deleteDelayMs: 2000 } });
  await withNamespaces(h, 2);
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 2, replicas: 2, qps: 20 });
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'scale', replicas: 5, qps: 2 });
  assert.deepEqual(
    h.kube.callsOf('scaleDeployment').map((c) => c.at - t0),
    [0, 500, 1000, 1500],
  );
  assert.deepEqual(
    (await h.kube.listDeployments()).map((d) => [d.replicas, d.available]),
    [
      [5, 5],
      [5, 5],
      [5, 5],
      [5, 5],
    ],
  );
  await runPhase(h.ctx, { kind: 'scale', replicas: 1, qps: 20 });
  assert.deepEqual(
    (await h.kube.listDeployments()).map((d) => d.current),
    [1, 1, 1, 1],
  );
});

test('delete deployments: each deleted at the paced qps; the phase ends when their pods are gone', async () => {
  const h = harness({ hooks: { deleteDelayMs: 7000 } });
  await withNamespaces(h, 1);
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 2, replicas: 3, qps: 20 });
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'delete', what: 'deployments', qps: 1 });
  assert.deepEqual(
    h.kube.callsOf('deleteDeployment').map((c) => [c.target, c.at - t0]),
    [
      ['run-1-0/deploy-0', 0],
      ['run-1-0/deploy-1', 1000],
    ],
  );
  assert.equal(h.kube.pods.size, 0);
  assert.ok(h.time.now() - t0 >= 8000, 'waited until the last pod was gone');
});

test('a phase that needs namespaces, before any was created, fails with EM_CONFIG_INVALID and its fix', async () => {
  for (const phase of [
    { kind: 'deployments', perNamespace: 1, replicas: 1, qps: 20 },
    { kind: 'pods', perNamespace: 1, qps: 20 },
    { kind: 'churn', podsPerSecond: 1, seconds: 1, lifetimeSeconds: 1 },
    { kind: 'footprint', from: 0, to: 5, step: 5, holdSeconds: 1 },
  ] as const) {
    const h = harness();
    await assert.rejects(
      runPhase(h.ctx, phase),
      (err: unknown) => {
        assert.ok(err instanceof EdgemarkError, String(err));
        assert.equal(err.code, 'EM_CONFIG_INVALID');
        assert.match(err.fix ?? '', /add a `kind: namespaces` phase before it/);
        return true;
      },
      phase.kind,
    );
    assert.equal(h.kube.calls.filter((c) => c.op.startsWith('create')).length, 0, `${phase.kind} created nothing`);
  }
});

test('scale with ahead: each Deployment grows to at most `ahead` beyond its available pods; held while a node is not Ready, and the time held is counted', async () => {
  let ready = 4;
  const h = harness({ hooks: { startDelayMs: () => 3000 }, nodesReady: () => ready });
  await withNamespaces(h, 1);
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 1, replicas: 2, qps: 20 });
  const t0 = h.time.now();
  const done = runPhase(h.ctx, { kind: 'scale', replicas: 20, qps: 20, ahead: 5 });
  // A node loses its lease answer for 10 s, then is back.
  while (h.time.now() - t0 < 5000) await h.time.sleep(100);
  ready = 3;
  while (h.time.now() - t0 < 15_000) await h.time.sleep(100);
  ready = 4;
  await done;
  const steps = h.kube.callsOf('scaleDeployment').map((c) => [c.at - t0, c.replicas!] as const);
  assert.equal(steps[0]![1], 7, 'first step: 2 available + 5 ahead');
  for (const [i, [, r]] of steps.entries()) {
    assert.ok(i === 0 || r > steps[i - 1]![1], `grows monotonically: ${JSON.stringify(steps)}`);
  }
  assert.equal(steps.at(-1)![1], 20);
  assert.ok(
    steps.every(([at]) => at < 5000 || at >= 15_000),
    `no growth while a node was not Ready: ${JSON.stringify(steps)}`,
  );
  assert.ok(h.ctx.heldMs >= 8000 && h.ctx.heldMs <= 12_000, `held ${h.ctx.heldMs} ms`);
  const ds = await h.kube.listDeployments();
  assert.deepEqual(
    ds.map((d) => [d.replicas, d.available]),
    [[20, 20]],
  );
  // Never more than `ahead` beyond what was available when it grew.
  assert.ok(steps.length >= 4, `fed in steps: ${JSON.stringify(steps)}`);
});

test('scale with ahead down: straight to the lower count, held or not', async () => {
  const h = harness({ nodesReady: () => 0 });
  await withNamespaces(h, 1);
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 1, replicas: 6, qps: 20 });
  await runPhase(h.ctx, { kind: 'scale', replicas: 2, qps: 20, ahead: 1 });
  assert.deepEqual(
    h.kube.callsOf('scaleDeployment').map((c) => c.replicas),
    [2],
  );
});
