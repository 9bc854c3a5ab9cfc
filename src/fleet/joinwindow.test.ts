import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JoinWindow } from './joinwindow.js';

test('the window holds the next start until a joining node leaves it', async () => {
  const w = new JoinWindow(2);
  const ac = new AbortController();
  w.enter('a');
  w.enter('b');
  assert.equal(w.inFlight, 2);
  let freed = false;
  const p = w.free(ac.signal).then(() => (freed = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(freed, false, 'two joining in a window of two: wait');
  w.leave('zz'); // not joining: changes nothing
  await new Promise((r) => setImmediate(r));
  assert.equal(freed, false);
  w.leave('a');
  await p;
  assert.equal(w.inFlight, 1);
  w.leave('a'); // a second leave of the same node is harmless
  assert.equal(w.inFlight, 1);
});

test('a free slot does not wait; size 0 is no window; an abort releases the waiter', async () => {
  const ac = new AbortController();
  const w = new JoinWindow(1);
  await w.free(ac.signal);
  const none = new JoinWindow(0);
  for (const n of ['a', 'b', 'c']) none.enter(n);
  assert.equal(none.inFlight, 0);
  await none.free(ac.signal);
  w.enter('x');
  const p = w.free(ac.signal);
  ac.abort();
  await p;
  assert.equal(w.inFlight, 1);
});
