import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness, loadTest } from '../testing.js';
import { runPhase } from './index.js';

test('footprint: one step per size, each the average of the samples of its hold window', async () => {
  const h = harness({ hooks: { startDelayMs: () => 1000 } });
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  await runPhase(h.ctx, { kind: 'footprint', from: 0, to: 10, step: 5, holdSeconds: 3 });
  assert.deepEqual(
    h.ctx.footprint.map((s) => s.pods),
    [0, 5, 10],
  );
  // The fake sampler reports 1 MiB of runner RSS per Running pod.
  assert.deepEqual(
    h.ctx.footprint.map((s) => s.rss.runner! / 2 ** 20),
    [0, 5, 10],
  );
  assert.deepEqual(
    h.kube.callsOf('scaleDeployment').map((c) => c.target),
    ['run-1-0/footprint', 'run-1-0/footprint', 'run-1-0/footprint'],
  );
  assert.match(h.log.lines.at(-1)!, /footprint: 10 pods; runner 10 MiB/);
});

test('footprint: steps a sampler took during the hold are averaged with the one at its end', async () => {
  const h = harness();
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  h.resources.points.push({ cpu: {}, rss: { runner: 99 } });
  const sample = h.resources.sample.bind(h.resources);
  let n = 0;
  h.resources.sample = () => {
    sample();
    h.resources.points.at(-1)!.cpu.cloudcore = n++ === 0 ? 0.2 : 0.4;
  };
  await runPhase(h.ctx, { kind: 'footprint', from: 2, to: 2, step: 1, holdSeconds: 1 });
  assert.equal(h.ctx.footprint.length, 1);
  assert.deepEqual(
    h.ctx.footprint[0],
    { pods: 2, cpu: { runner: 0.1, cloudcore: 0.2 }, rss: { runner: 2 * 2 ** 20 } },
    'the point from before the step is not in its window',
  );
});

test('footprint: stops at the deadline; wait holds its seconds, cut at the deadline', async () => {
  const h = harness({ test: loadTest({ timeoutSeconds: 20 }) });
  await runPhase(h.ctx, { kind: 'namespaces', count: 1 });
  await runPhase(h.ctx, { kind: 'footprint', from: 0, to: 100, step: 5, holdSeconds: 8 });
  // 0 and 5 held 8 s each, 10 cut to the 4 s left; 15 starts on the deadline and is held the minimum second.
  assert.deepEqual(
    h.ctx.footprint.map((s) => s.pods),
    [0, 5, 10, 15],
  );
  assert.equal(h.time.now(), 21_000);

  const w = harness({ test: loadTest({ timeoutSeconds: 30 }) });
  await runPhase(w.ctx, { kind: 'wait', seconds: 12 });
  assert.equal(w.time.now(), 12_000);
  await runPhase(w.ctx, { kind: 'wait', seconds: 60 });
  assert.equal(w.time.now(), 30_000);
});
