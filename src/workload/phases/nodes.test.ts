import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../../core/errors.js';
import { harness } from '../testing.js';
import { runPhase } from './index.js';

test('nodesUp: the fleet starts the nodes; the phase ends when all of them are Ready', async () => {
  const h = harness();
  await runPhase(h.ctx, { kind: 'nodesUp' });
  assert.equal(h.fleet.ups, 1);
  assert.deepEqual([...h.kube.nodes], ['n-0', 'n-1', 'n-2', 'n-3']);
});

test('nodesUp: a fleet that stops on its own fails the phase with EM_RUNNER_FAILED and its reason', async () => {
  const h = harness();
  h.fleet.failWith = 'the runner exited early (see runner.log)';
  await assert.rejects(
    runPhase(h.ctx, { kind: 'nodesUp' }),
    (err: unknown) => err instanceof EdgemarkError && err.code === 'EM_RUNNER_FAILED' && err.message === '[run] the runner exited early (see runner.log)',
  );
});

test('namespaces: created in order, named after the run; the phase ends when each has its default ServiceAccount', async () => {
  const h = harness({ hooks: { serviceAccountDelayMs: 3000 } });
  await runPhase(h.ctx, { kind: 'namespaces', count: 2 });
  assert.deepEqual(h.ctx.namespaces, ['run-1-0', 'run-1-1']);
  assert.ok(h.time.now() >= 3000, `returned at ${h.time.now()}`);
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  assert.deepEqual(h.ctx.namespaces, ['run-1-0', 'run-1-1', 'run-1-2']);
});

test("nodesDown: the fleet stops, then the run's Nodes and their Leases are deleted", async () => {
  const h = harness();
  await runPhase(h.ctx, { kind: 'nodesUp' });
  await runPhase(h.ctx, { kind: 'nodesDown' });
  assert.equal(h.fleet.downs, 1);
  assert.equal(h.kube.nodes.size, 0);
  assert.equal(h.kube.leases.size, 0);
  const ops = h.kube.calls.map((c) => c.op);
  assert.ok(ops.lastIndexOf('deleteNode') < ops.indexOf('deleteNodeLease'), 'Nodes first, then Leases');
});
