import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { Pacer } from './context.js';
import { harness, loadTest, VirtualTime } from './testing.js';

test('Pacer: the first call at once, then one every 1/qps, without catching up after a pause', async () => {
  const time = new VirtualTime(0);
  const pace = new Pacer(4, time);
  const at: number[] = [];
  for (let i = 0; i < 3; i++) {
    await pace.wait();
    at.push(time.now());
  }
  await time.sleep(2000);
  await pace.wait();
  at.push(time.now());
  await pace.wait();
  at.push(time.now());
  assert.deepEqual(at, [0, 250, 500, 2500, 2750]);
});

test('until: returns once true, polling at its interval', async () => {
  const { ctx, time } = harness();
  let calls = 0;
  await ctx.until('three calls', () => ++calls === 3, 60_000, 500);
  assert.equal(calls, 3);
  assert.equal(time.now(), 1000);
});

test('until: times out with EM_RUN_TIMEOUT and a fix, saying what it waited for every 10 s', async () => {
  const { ctx, time, log } = harness();
  await assert.rejects(
    ctx.until(
      () => `never (${time.now()})`,
      () => false,
      30_000,
      1000,
    ),
    (err: unknown) => {
      assert.ok(err instanceof EdgemarkError);
      assert.equal(err.code, 'EM_RUN_TIMEOUT');
      assert.match(err.message, /timed out waiting for never/);
      assert.match(err.fix ?? '', /spec\.timeoutSeconds/);
      return true;
    },
  );
  assert.ok(time.now() > 30_000 && time.now() <= 32_000, `gave up at ${time.now()}`);
  const progress = log.lines.filter((l) => l.includes('... waiting for never'));
  assert.equal(progress.length, 2, progress.join('\n'));
});

test('until: its timeout is cut at the run deadline; Ctrl-C ends it with EM_INTERRUPTED', async () => {
  const h = harness({ test: loadTest({ timeoutSeconds: 5 }) });
  await assert.rejects(
    h.ctx.until('x', () => false, 600_000),
    { code: 'EM_RUN_TIMEOUT' },
  );
  assert.ok(h.time.now() <= 7000, `gave up at ${h.time.now()}`);

  const i = harness();
  let calls = 0;
  await assert.rejects(
    i.ctx.until(
      'y',
      () => {
        if (++calls === 2) i.abort.abort();
        return false;
      },
      600_000,
    ),
    { code: 'EM_INTERRUPTED' },
  );
});

test('bounded and abortedOrLate follow the deadline', async () => {
  const { ctx, time } = harness({ test: loadTest({ timeoutSeconds: 10 }) });
  assert.equal(ctx.bounded(3000), 3000);
  assert.equal(ctx.bounded(60_000), 10_000);
  await time.sleep(9800);
  assert.equal(ctx.bounded(60_000), 1000, 'at least a second');
  assert.equal(ctx.abortedOrLate(), false);
  await time.sleep(300);
  assert.equal(ctx.abortedOrLate(), true);
  const fresh = harness();
  fresh.abort.abort();
  assert.equal(fresh.ctx.abortedOrLate(), true);
});

test('needNamespaces: none created yet is a config error with its fix', () => {
  const { ctx } = harness();
  assert.throws(
    () => ctx.needNamespaces(),
    (err: unknown) => err instanceof EdgemarkError && err.code === 'EM_CONFIG_INVALID' && /kind: namespaces/.test(err.fix ?? ''),
  );
  ctx.namespaces.push('a');
  assert.deepEqual(ctx.needNamespaces(), ['a']);
});
