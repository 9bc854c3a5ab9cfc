import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness, loadTest } from '../testing.js';
import { runPhase } from './index.js';

test('pods: bare pods in every namespace at the paced qps; the phase ends when all are Running', async () => {
  const h = harness({ hooks: { startDelayMs: () => 4000 } });
  await runPhase(h.ctx, { kind: 'namespaces', count: 2 });
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'pods', perNamespace: 3, qps: 10 });
  const created = h.kube.callsOf('createPod');
  assert.equal(created.length, 6);
  assert.deepEqual(
    created.map((c) => c.at - t0),
    [0, 100, 200, 300, 400, 500],
  );
  assert.deepEqual([...new Set([...h.kube.pods.values()].map((p) => `${p.namespace} ${p.app}`))], ['run-1-0 bare', 'run-1-1 bare']);
  assert.ok((await h.kube.listPods()).every((p) => p.phase === 'Running'));
  assert.ok(h.time.now() - t0 >= 4500);
});

test("churn: pods created at the rate and deleted once their lifetime is over, for the phase's seconds", async () => {
  const h = harness();
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'churn', podsPerSecond: 2, seconds: 10, lifetimeSeconds: 3 });
  const created = h.kube.callsOf('createPod');
  assert.equal(created.length, 20);
  assert.ok(created.every((c, i) => c.at - t0 === i * 500 && c.target === `run-1-0/churn-${i}`));
  const deleted = h.kube.callsOf('deletePod');
  // Each pod is deleted at the first creation at least its lifetime later.
  assert.deepEqual(
    deleted.map((d) => d.target),
    created.slice(0, deleted.length).map((c) => c.target),
  );
  for (const [i, d] of deleted.entries()) assert.equal(d.at - created[i]!.at, 3000, d.target);
  assert.equal(deleted.length, 14, 'the last 3 s of pods are left alive');
  assert.ok(h.log.lines.includes('info:   churn: created 20 pods'));
});

test('churn: stops at the run deadline', async () => {
  const h = harness({ test: loadTest({ timeoutSeconds: 5 }) });
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  await runPhase(h.ctx, { kind: 'churn', podsPerSecond: 2, seconds: 60, lifetimeSeconds: 30 });
  const last = h.kube.callsOf('createPod').at(-1)!;
  assert.ok(last.at <= 5500, `last created at ${last.at}`);
  assert.ok(h.time.now() <= 6000);
});

test('delete pods: every pod of the run deleted at the paced qps; the phase ends when they are gone', async () => {
  const h = harness({ hooks: { deleteDelayMs: 5000 } });
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  await runPhase(h.ctx, { kind: 'pods', perNamespace: 4, qps: 20 });
  const t0 = h.time.now();
  await runPhase(h.ctx, { kind: 'delete', what: 'pods', qps: 2 });
  assert.deepEqual(
    h.kube.callsOf('deletePod').map((c) => c.at - t0),
    [0, 500, 1000, 1500],
  );
  assert.equal(h.kube.pods.size, 0);
  assert.ok(h.time.now() - t0 >= 6500);
});
