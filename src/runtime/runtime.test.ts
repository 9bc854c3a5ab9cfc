import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { createRuntime, runtimeNames } from './index.js';
import { EventHub } from './runtime.js';
import { parsePlan, PLAN_API_VERSION } from './plan.js';

test('the registry names its runtimes; an unknown one is refused with the list', () => {
  assert.deepEqual(runtimeNames(), ['inprocess', 'workers', 'kubernetes']);
  assert.throws(
    () => createRuntime('kubernetez'),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_RUNTIME_UNKNOWN' && /inprocess, workers, kubernetes/.test(e.fix ?? ''),
  );
});

const plan = parsePlan({
  apiVersion: PLAN_API_VERSION,
  kind: 'FleetPlan',
  target: { name: 'test', cloudcore: [{ websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002' }] },
  groups: [
    { name: 'a', count: 5, prefix: 'a-' },
    { name: 'b', count: 2, prefix: 'b-', profile: { cpu: '4' } },
  ],
  pacing: { joinRate: 10 },
  dataDir: '/tmp/x',
  durationSeconds: 30,
});

test('a dry run says what would start, per runtime, and touches nothing', () => {
  const inproc = createRuntime('inprocess').dryRun(plan);
  assert.equal(inproc.runtime, 'inprocess');
  assert.match(inproc.actions[0]!, /start 7 hollow node\(s\) in this process: a \(edge, 5 x a-<i>\), b \(edge, 2 x b-<i>\); first a-0, a-1, a-2/);
  assert.ok(inproc.actions.some((a) => /stop by itself after 30 s/.test(a)));
  const workers = createRuntime('workers', { workers: 2 }).dryRun(plan);
  assert.ok(
    workers.actions.some((a) => /^worker 0: 3 of a, 1 of b, store edge-w0\.db, 5\.0 joins\/s$/.test(a)),
    workers.actions.join('\n'),
  );
  assert.ok(workers.actions.some((a) => /^worker 1: 2 of a, 1 of b/.test(a)));
  assert.throws(
    () => createRuntime('workers', { workers: 8 }).dryRun(plan),
    (e: unknown) => e instanceof EdgemarkError && /--workers 8 is more than --count 7/.test(e.message),
  );
  assert.throws(
    () => createRuntime('inprocess').dryRun({ ...plan, groups: [{ ...plan.groups[0]!, kind: 'openyurt' }] }),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_KIND_UNKNOWN',
  );
});

test('events reach listeners and iterators; an iterator ends after close and keeps what came before', async () => {
  const hub = new EventHub<number>();
  const seen: number[] = [];
  hub.on((e) => seen.push(e));
  const it = hub.iterate();
  hub.emit(1);
  hub.emit(2);
  hub.close();
  hub.emit(3);
  const got: number[] = [];
  for await (const e of it) got.push(e);
  assert.deepEqual(got, [1, 2]);
  assert.deepEqual(seen, [1, 2]);
  const late: number[] = [];
  for await (const e of hub.iterate()) late.push(e);
  assert.deepEqual(late, [], 'an iterator made after close ends at once');
});
