import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BeehiveMessage } from '../../protocol/message.js';
import { request } from '../testing/fake-cloud.js';
import { EdgeHarness } from '../testing/harness.js';
import { FLUSH_DELAY_MS } from '../../store/store.js';

test('a request with no answer fails with "timeout" once requestTimeoutMs has passed (the sweep timer)', async () => {
  const h = new EdgeHarness({ timings: { requestTimeoutMs: 8000 } });
  h.cloud.drop(request('insert', 'node'), { times: 1 });
  await h.start();
  assert.equal(h.node.state, 'connected');
  assert.equal(h.node.meta.inFlight, 1);
  await h.advance(8000 - 1);
  assert.equal(h.node.meta.inFlight, 1, 'still waiting before the timeout');
  assert.deepEqual(h.events.errorKinds(), []);
  // The sweep runs every quarter of the timeout.
  await h.advance(8000 / 4);
  assert.deepEqual(h.events.errorKinds(), ['register-timeout']);
  await h.advance(h.timings.registerRetryInitialMs);
  assert.equal(h.cloud.requests(request('insert', 'node')).length, 2, 'registration retried');
  assert.equal(h.node.state, 'ready');
});

test('a stored push is ACKed only after the store batch holding it commits', async () => {
  const h = new EdgeHarness();
  await h.start();
  const stored = () => h.store.load('n1').objects.map((o) => o.resource);
  const pushed = h.cloud.push('default/configmap/cm', { metadata: { name: 'cm', namespace: 'default' }, data: { k: 'v' } });
  await h.advance(FLUSH_DELAY_MS - 1);
  assert.deepEqual(h.cloud.acksOf(pushed.header.msg_id), [], 'no ACK before the commit');
  assert.ok(!stored().includes('default/configmap/cm'));
  await h.advance(1);
  assert.ok(stored().includes('default/configmap/cm'));
  const [ackMsg, ...more] = h.cloud.acksOf(pushed.header.msg_id);
  assert.equal(more.length, 0);
  assert.deepEqual(ackMsg!.route, { source: 'edgecontroller', group: 'resource', operation: 'response', resource: 'default/configmap/cm' });
  assert.equal(ackMsg!.content, 'OK');
  assert.deepEqual(h.events.acks, [FLUSH_DELAY_MS]);
});

test('replies to register, lease and query requests are ACKed; replies to patches are not', async () => {
  const h = new EdgeHarness();
  await h.start();
  await h.advance(h.timings.leaseRenewMs);
  const replyTo = (match: (m: BeehiveMessage) => boolean) => {
    const ids = new Set(h.cloud.requests(match).map((m) => m.header.msg_id));
    const replies = h.cloud.sent.filter((m) => ids.has(m.header.parent_msg_id ?? ''));
    assert.ok(replies.length > 0);
    return replies.map((r) => h.cloud.acksOf(r.header.msg_id).length);
  };
  assert.deepEqual(replyTo(request('insert', 'node')), [1]);
  assert.deepEqual(replyTo(request('query', 'lease')), [1]);
  assert.deepEqual(replyTo(request('insert', 'lease')), [1]);
  assert.deepEqual(replyTo(request('update', 'lease')), [1]);
  assert.deepEqual(replyTo(request('patch', 'nodepatch')), [0]);
});

test('a reply nobody waits for (a duplicate) is neither ACKed nor acted on', async () => {
  const h = new EdgeHarness({ kubeApi: false });
  await h.start();
  const register = h.cloud.last(request('insert', 'node'));
  const node = { Object: { metadata: { name: 'n1', uid: 'u-1' } }, Err: null };
  const first = h.cloud.reply(register, node);
  const second = h.cloud.reply(register, { Object: { metadata: { name: 'n1', uid: 'u-other' } }, Err: null });
  assert.equal(h.cloud.acksOf(first.header.msg_id).length, 1);
  assert.equal(h.cloud.acksOf(second.header.msg_id).length, 0);
  assert.equal(h.node.edged.nodeUid, 'u-1');
});

test('on disconnect every pending request fails "not-connected" at once (no timeout), and is made again after the reconnect', async () => {
  const h = new EdgeHarness();
  h.cloud.drop(request('insert', 'node'), { times: 1 });
  await h.start();
  assert.equal(h.node.meta.inFlight, 1);
  h.cloud.close();
  assert.equal(h.node.meta.inFlight, 0);
  assert.equal(h.node.edged.phase, 'unregistered');
  await h.advance(h.timings.reconnectInitialMs);
  assert.equal(h.node.state, 'ready');
  assert.equal(h.cloud.requests(request('insert', 'node')).length, 2);
  assert.ok(!h.events.errorKinds().includes('register-timeout'));
});
