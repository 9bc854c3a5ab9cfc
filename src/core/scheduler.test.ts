import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, Scheduler, type TimerTarget } from './scheduler.js';

function recorder() {
  const fired: string[] = [];
  const target = (name: string): TimerTarget => ({ onTimer: (kind, token, now) => fired.push(`${name}:${kind}:${token}@${now}`) });
  return { fired, target };
}

test('timers fire in due order, ties in scheduling order, on one armed timeout', () => {
  const clock = new FakeClock(0);
  const s = new Scheduler(clock);
  const { fired, target } = recorder();
  s.after(300, target('a'), 1);
  s.after(100, target('b'), 2);
  s.after(100, target('c'), 3);
  s.after(200, target('d'), 4);
  clock.advance(150);
  assert.deepEqual(fired, ['b:2:0@100', 'c:3:0@100']);
  clock.advance(1000);
  assert.deepEqual(fired.slice(2), ['d:4:0@200', 'a:1:0@300']);
  assert.equal(s.size, 0);
});

test('a target can reschedule itself from its handler (periodic timers)', () => {
  const clock = new FakeClock(0);
  const s = new Scheduler(clock);
  const times: number[] = [];
  const t: TimerTarget = {
    onTimer: (_k, _t, now) => {
      times.push(now);
      if (times.length < 4) s.after(15_000, t, 0);
    },
  };
  s.after(15_000, t, 0);
  clock.advance(100_000);
  assert.deepEqual(times, [15_000, 30_000, 45_000, 60_000]);
});

test('tokens let a target drop superseded timers', () => {
  const clock = new FakeClock(0);
  const s = new Scheduler(clock);
  let current = 1;
  const seen: number[] = [];
  const t: TimerTarget = {
    onTimer: (_k, token) => {
      if (token === current) seen.push(token);
    },
  };
  s.after(10, t, 0, 1);
  current = 2;
  s.after(20, t, 0, 2);
  clock.advance(50);
  assert.deepEqual(seen, [2]);
  assert.equal(s.fired, 2);
});

test('stop drops everything', () => {
  const clock = new FakeClock(0);
  const s = new Scheduler(clock);
  const { fired, target } = recorder();
  s.after(10, target('x'), 0);
  s.stop();
  clock.advance(100);
  assert.deepEqual(fired, []);
});

test('a target that throws is counted and reported, and the other targets still fire', () => {
  const clock = new FakeClock(0);
  const reported: string[] = [];
  const s = new Scheduler(clock, { onError: (err, _target, kind) => reported.push(`${kind}:${(err as Error).message}`) });
  const { fired, target } = recorder();
  const broken: TimerTarget = {
    onTimer: (kind) => {
      throw new Error(`bug in kind ${kind}`);
    },
  };
  s.after(10, broken, 3);
  s.after(20, target('ok'), 1);
  s.after(30, broken, 4);
  clock.advance(100);
  assert.deepEqual(fired, ['ok:1:0@20']);
  assert.deepEqual(reported, ['3:bug in kind 3', '4:bug in kind 4']);
  assert.equal(s.errors, 2);
});

test('by default a failure is logged once per target class and timer kind', (t) => {
  const lines: string[] = [];
  t.mock.method(console, 'error', (line: string) => lines.push(line));
  const clock = new FakeClock(0);
  const s = new Scheduler(clock);
  class LeaseRenewer implements TimerTarget {
    onTimer(): void {
      throw new Error('renew failed');
    }
  }
  for (let i = 0; i < 5; i++) s.after(10, new LeaseRenewer(), 2);
  s.after(10, new LeaseRenewer(), 5);
  clock.advance(100);
  assert.equal(s.errors, 6);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /timer kind 2 of LeaseRenewer threw .*renew failed/);
  assert.match(lines[1]!, /timer kind 5 of LeaseRenewer/);
});
