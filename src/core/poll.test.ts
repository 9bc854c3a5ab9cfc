import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from './errors.js';
import { pollUntil } from './poll.js';

test('pollUntil returns the first value that is not undefined', async () => {
  let n = 0;
  const v = await pollUntil('the third call', () => (++n === 3 ? `call ${n}` : undefined), { timeoutMs: 5000, intervalMs: 1 });
  assert.equal(v, 'call 3');
});

test('a timeout is EM_TIMEOUT and names what was awaited and the last error', async () => {
  await assert.rejects(
    pollUntil(
      'the apiserver',
      () => {
        throw new Error('connection refused');
      },
      { timeoutMs: 30, intervalMs: 5, prefix: '[cluster]', fix: 'look at its log', retryErrors: true },
    ),
    (e: unknown) =>
      e instanceof EdgemarkError &&
      e.code === 'EM_TIMEOUT' &&
      e.message === '[cluster] timed out after 30ms waiting for the apiserver; last error: connection refused' &&
      e.fix === 'look at its log',
  );
});

test('without retryErrors an exception ends the wait as it is; an aborted signal is EM_INTERRUPTED', async () => {
  const fatal = new Error('the process exited');
  await assert.rejects(
    pollUntil(
      'x',
      () => {
        throw fatal;
      },
      { timeoutMs: 1000 },
    ),
    (e) => e === fatal,
  );
  await assert.rejects(
    pollUntil('the nodes', () => undefined, { timeoutMs: 1000, signal: AbortSignal.abort() }),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_INTERRUPTED' && /waiting for the nodes/.test(e.message),
  );
});
