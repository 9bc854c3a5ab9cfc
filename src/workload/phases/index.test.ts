import assert from 'node:assert/strict';
import { test } from 'node:test';
import { phaseKinds } from '../../run/config.js';
import { harness, loadTest } from '../testing.js';
import { describe, executors, runPhases } from './index.js';

test('every phase kind of the schema has an executor', () => {
  assert.deepEqual(Object.keys(executors).sort(), [...phaseKinds].sort());
});

test('runPhases: every phase in order, logged and recorded with its times', async () => {
  const test0 = loadTest({
    phases: [
      { kind: 'nodesUp' },
      { kind: 'namespaces', count: 1 },
      { kind: 'deployments', perNamespace: 1, replicas: 2 },
      { kind: 'wait', seconds: 5 },
      { kind: 'delete', what: 'deployments' },
      { kind: 'nodesDown' },
    ],
  });
  const h = harness({ test: test0 });
  assert.equal(await runPhases(h.ctx), true);
  assert.deepEqual(
    h.ctx.phaseLog.map((p) => p.kind),
    ['nodesUp', 'namespaces', 'deployments', 'wait', 'delete', 'nodesDown'],
  );
  assert.deepEqual(
    h.ctx.phaseLog.map((p) => p.description),
    test0.spec.phases.map(describe),
  );
  const wait = h.ctx.phaseLog[3]!;
  assert.equal(wait.endMs - wait.startMs, 5000);
  assert.ok(h.ctx.phaseLog.every((p, i) => i === 0 || p.startMs >= h.ctx.phaseLog[i - 1]!.endMs));
  assert.ok(h.log.lines.includes('info: phase 4/6: steady for 5 s'), h.log.lines.join('\n'));
});

test('runPhases: the deadline stops it before the next phase (a partial run)', async () => {
  // The first wait is cut to end on the deadline; a phase that starts there still gets a second.
  const h = harness({ test: loadTest({ timeoutSeconds: 10, phases: [{ kind: 'wait', seconds: 60 }, { kind: 'wait', seconds: 60 }, { kind: 'nodesUp' }] }) });
  assert.equal(await runPhases(h.ctx), false);
  assert.deepEqual(
    h.ctx.phaseLog.map((p) => p.endMs),
    [10_000, 11_000],
  );
  assert.equal(h.fleet.ups, 0);
});

test('runPhases: a fleet that stopped on its own ends the run after its phase with EM_RUNNER_FAILED', async () => {
  const h = harness({
    test: loadTest({
      phases: [
        { kind: 'wait', seconds: 1 },
        { kind: 'wait', seconds: 1 },
      ],
    }),
  });
  h.fleet.failure = () => 'the runner exited early';
  await assert.rejects(runPhases(h.ctx), { code: 'EM_RUNNER_FAILED', message: '[run] the runner exited early' });
  assert.equal(h.ctx.phaseLog.length, 1);
});
