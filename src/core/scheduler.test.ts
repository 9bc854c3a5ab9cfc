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
  const t: TimerTarget = { onTimer: (_k, _t, now) => { times.push(now); if (times.length < 4) s.after(15_000, t, 0); } };
  s.after(15_000, t, 0);
  clock.advance(100_000);
  assert.deepEqual(times, [15_000, 30_000, 45_000, 60_000]);
});

test('tokens let a target drop superseded timers', () => {
  const clock = new FakeClock(0);
  const s = new Scheduler(clock);
  let current = 1;
  const seen: number[] = [];
  const t: TimerTarget = { onTimer: (_k, token) => { if (token === current) seen.push(token); } };
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
