import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanUp } from './cleanup.js';
import { runPhase } from './phases/index.js';
import { harness } from './testing.js';

test('cleanUp: fleet stopped, namespaces and Nodes deleted; nothing to report', async () => {
  const h = harness();
  await runPhase(h.ctx, { kind: 'nodesUp' });
  await runPhase(h.ctx, { kind: 'namespaces', count: 2 });
  await runPhase(h.ctx, { kind: 'deployments', perNamespace: 1, replicas: 2, qps: 20 });
  assert.deepEqual(await cleanUp(h.ctx), []);
  assert.equal(h.fleet.downs, 1);
  assert.equal(h.kube.namespaces.size, 0);
  assert.equal(h.kube.deployments.size, 0);
  assert.equal(h.kube.nodes.size, 0);
});

test('cleanUp: a step that fails is reported and logged, and the steps after it still run', async () => {
  const h = harness();
  await runPhase(h.ctx, { kind: 'nodesUp' });
  await runPhase(h.ctx, { kind: 'namespaces', count: 2 });
  h.fleet.down = () => Promise.reject(new Error('SIGKILL did not help'));
  const deleteNamespace = h.kube.deleteNamespace.bind(h.kube);
  h.kube.deleteNamespace = (name) => (name === 'run-1-0' ? Promise.reject(new Error('HTTP 500')) : deleteNamespace(name));
  const problems = await cleanUp(h.ctx);
  assert.deepEqual(problems, ['cleanup: could not stop the hollow nodes: SIGKILL did not help', 'cleanup: could not delete namespace run-1-0: HTTP 500']);
  assert.deepEqual([...h.kube.namespaces.keys()], ['run-1-0']);
  assert.equal(h.kube.nodes.size, 0);
  assert.deepEqual(
    h.log.lines.filter((l) => l.startsWith('warn:')),
    problems.map((p) => `warn: ${p}`),
  );
});
