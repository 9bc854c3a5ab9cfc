import assert from 'node:assert/strict';
import type { SecureContext } from 'node:tls';
import { test } from 'node:test';
import { EdgemarkError } from '../../core/errors.js';
import { isKeepalive } from '../testing/fake-cloud.js';
import { EdgeHarness } from '../testing/harness.js';

const backoff = { reconnectInitialMs: 1000, reconnectFactor: 2, reconnectMaxMs: 5000, reconnectJitter: 0.25 };

/** Gaps between consecutive dials, from the first one after `since`. */
function dialGaps(h: EdgeHarness, since: number): number[] {
  const at = [since, ...h.cloud.dials.map((d) => d.at).filter((t) => t > since)];
  return at.slice(1).map((t, i) => t - at[i]!);
}

test('edgehub sends a keepalive on connect and then every keepaliveMs', async () => {
  const h = new EdgeHarness({ timings: { keepaliveMs: 1000 } });
  const t0 = h.now;
  await h.start();
  assert.equal(h.node.state, 'ready');
  const keepalives = () => h.cloud.received.filter(isKeepalive).map((m) => m.header.timestamp - t0);
  assert.deepEqual(keepalives(), [0]);
  await h.advance(3500);
  assert.deepEqual(keepalives(), [0, 1000, 2000, 3000]);
  assert.equal(h.cloud.dials[0]!.options.nodeName, 'n1');
  assert.equal(h.cloud.dials[0]!.options.server, 'cloudcore.test:10000');
});

test('edgehub reconnects with a backoff that grows by reconnectFactor up to reconnectMaxMs, and resets after a connect', async () => {
  const h = new EdgeHarness({ timings: backoff });
  await h.start();
  h.cloud.refuse = 'ECONNREFUSED';
  const closedAt = h.now;
  h.cloud.close();
  assert.equal(h.node.state, 'disconnected');
  await h.advance(17_000);
  assert.deepEqual(dialGaps(h, closedAt), [1000, 2000, 4000, 5000, 5000]);
  assert.deepEqual(h.events.errorKinds(), ['connect', 'connect', 'connect', 'connect', 'connect']);

  h.cloud.refuse = undefined;
  await h.advance(5000);
  assert.equal(h.node.state, 'ready');
  assert.equal(h.events.reconnects, 1);
  assert.equal(h.events.dialsInFlight, 0);
  const again = h.now;
  h.cloud.close();
  await h.advance(1000);
  assert.deepEqual(dialGaps(h, again), [1000], 'the attempt counter started over');
  assert.equal(h.node.state, 'ready');
});

test('reconnect jitter stays within +/- reconnectJitter of the backoff', async () => {
  for (const [random, first] of [
    [0, 750],
    [0.999_999, 1250],
  ] as const) {
    const h = new EdgeHarness({ timings: backoff, random: () => random });
    await h.start();
    h.cloud.refuse = 'ECONNREFUSED';
    const closedAt = h.now;
    h.cloud.close();
    await h.advance(25_000);
    const gaps = dialGaps(h, closedAt);
    // The cap (5 x the first wait) applies before the jitter.
    assert.deepEqual(gaps.slice(0, 5), [first, first * 2, first * 4, first * 5, first * 5], `random ${random}`);
  }
});

test('a refused join token is fatal: the node stops and never dials again', async () => {
  let bootstraps = 0;
  const h = new EdgeHarness({
    timings: backoff,
    secureContext: () => {
      bootstraps++;
      return Promise.reject(new EdgemarkError('EM_TOKEN_REJECTED', '[bootstrap] CloudCore refused the join token'));
    },
  });
  await h.start();
  await h.advance(60_000);
  assert.equal(bootstraps, 1);
  assert.deepEqual(h.events.errorKinds(), ['bootstrap']);
  assert.equal(h.cloud.dials.length, 0);
  assert.equal(h.node.hub.state, 'idle');
  assert.equal(h.events.dialsInFlight, 0);
});

test('a bootstrap error that is not fatal (CloudCore unreachable) is retried with backoff', async () => {
  let bootstraps = 0;
  const h = new EdgeHarness({
    timings: backoff,
    secureContext: () => {
      bootstraps++;
      if (bootstraps < 3) return Promise.reject(new EdgemarkError('EM_CLOUDCORE_UNREACHABLE', '[bootstrap] connection refused'));
      return Promise.resolve({} as SecureContext);
    },
  });
  await h.start();
  assert.equal(h.node.hub.state, 'waiting');
  await h.advance(1000);
  assert.equal(bootstraps, 2);
  await h.advance(2000);
  assert.equal(bootstraps, 3);
  assert.equal(h.node.state, 'ready');
  assert.deepEqual(h.events.errorKinds(), ['bootstrap', 'bootstrap']);
  assert.equal(h.events.dialsInFlight, 0);
});

test('a frame that is not a beehive message is reported as a decode error; the link stays up', async () => {
  const h = new EdgeHarness();
  await h.start();
  h.cloud.sendRaw('{"header":{}}');
  h.cloud.sendRaw('not json');
  assert.deepEqual(h.events.errorKinds(), ['decode', 'decode']);
  assert.equal(h.node.state, 'ready');
});

test('with several CloudCores, a failed dial goes to the next one, round the list; a connected node stays where it is', async () => {
  const h = new EdgeHarness({ timings: backoff, dial: { server: 'a:10000', fallbacks: [{ server: 'b:10000' }, { server: 'c:10000', servername: 'c' }] } });
  await h.start();
  assert.deepEqual(
    h.cloud.dials.map((d) => d.options.server),
    ['a:10000'],
  );
  // a goes down: the node redials a once (its connection dropped, the dial had not failed), then b.
  h.cloud.down.add('a:10000');
  h.cloud.down.add('b:10000');
  h.cloud.close();
  await h.advance(4000);
  h.cloud.down.delete('b:10000');
  await h.advance(20_000);
  assert.equal(h.node.state, 'ready');
  const servers = h.cloud.dials.map((d) => d.options.server);
  assert.deepEqual(servers.slice(0, 4), ['a:10000', 'a:10000', 'b:10000', 'c:10000'], servers.join(' '));
  assert.equal(h.cloud.dials.find((d) => d.options.server === 'c:10000')?.options.servername, 'c');
  // Connected to c: a drop redials c first.
  const n = h.cloud.dials.length;
  const last = servers.at(-1);
  h.cloud.close();
  await h.advance(2000);
  assert.equal(h.cloud.dials[n]?.options.server, last);
});

test('a storm drop: with backoff the node waits its first reconnect delay; without, it redials at once and every second until connected', async () => {
  const h = new EdgeHarness({ timings: backoff, random: () => 0.5 });
  await h.start();
  const t0 = h.now;
  h.node.dropLink(true);
  assert.equal(h.node.state, 'disconnected');
  await h.advance(999);
  assert.equal(h.cloud.dials.filter((d) => d.at > t0).length, 0, 'not before the backoff');
  await h.advance(1);
  assert.equal(h.node.state, 'ready');
  assert.equal(h.events.reconnects, 1);

  const herd = new EdgeHarness({ timings: backoff, random: () => 0.5 });
  await herd.start();
  herd.cloud.refuse = 'ECONNREFUSED';
  const t1 = herd.now;
  herd.node.dropLink(false);
  await herd.advance(3600);
  const at = herd.cloud.dials.filter((d) => d.at >= t1).map((d) => d.at - t1);
  assert.equal(at[0], 0, 'at once');
  const gaps = at.slice(2).map((t, i) => t - at[i + 1]!);
  assert.deepEqual(gaps, [1000, 1000, 1000], `then every second, no growth, no jitter: ${at.join(', ')}`);
  herd.cloud.refuse = undefined;
  await herd.advance(1000);
  assert.equal(herd.node.state, 'ready');
  // Connected again: the next failure backs off as before.
  const t2 = herd.now;
  herd.cloud.close();
  await herd.advance(1000);
  assert.deepEqual(dialGaps(herd, t2), [1000]);
});
