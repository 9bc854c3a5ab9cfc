import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BeehiveMessage } from '../../protocol/message.js';
import { apiError, request, resourceType } from '../testing/fake-cloud.js';
import { EdgeHarness } from '../testing/harness.js';

const gaps = (ms: BeehiveMessage[]) => ms.slice(1).map((m, i) => m.header.timestamp - ms[i]!.header.timestamp);
const leaseRequests = (h: EdgeHarness, since = 0) => h.cloud.requests((m) => resourceType(m) === 'lease' && m.header.timestamp >= since);
const rvOf = (m: BeehiveMessage) => (m.content as { metadata: { resourceVersion?: string } }).metadata.resourceVersion;

test('a failed registration is retried with a backoff that doubles up to registerRetryMaxMs', async () => {
  const h = new EdgeHarness({ timings: { registerRetryInitialMs: 100, registerRetryMaxMs: 500 } });
  h.cloud.answer(request('insert', 'node'), () => ({ content: apiError(500, 'InternalError', 'etcdserver: request timed out') }), { times: 5 });
  await h.start();
  await h.advance(2000);
  const registers = h.cloud.requests(request('insert', 'node'));
  assert.deepEqual(gaps(registers), [100, 200, 400, 500, 500]);
  assert.deepEqual(h.events.errorKinds(), ['register', 'register', 'register', 'register', 'register']);
  assert.equal(h.node.state, 'ready');
});

test('a registration that gets no answer is retried after the request timeout', async () => {
  const h = new EdgeHarness({ timings: { requestTimeoutMs: 4000 } });
  h.cloud.drop(request('insert', 'node'), { times: 2 });
  await h.start();
  await h.advance(20_000);
  assert.equal(h.cloud.requests(request('insert', 'node')).length, 3);
  assert.deepEqual(h.events.errorKinds(), ['register-timeout', 'register-timeout']);
  assert.equal(h.node.state, 'ready');
});

test('AlreadyExists at registration (ours from an earlier run) reads the Node back and takes its uid', async () => {
  const h = new EdgeHarness();
  h.api!.nodes.set('n1', { metadata: { name: 'n1', uid: 'uid-earlier', resourceVersion: '7' } });
  await h.start();
  const [first, second] = h.cloud.requests();
  assert.equal(`${first!.route.operation} ${first!.route.resource}`, 'insert null/node/n1');
  assert.equal(`${second!.route.operation} ${second!.route.resource}`, 'query null/node/n1');
  assert.equal(h.node.edged.nodeUid, 'uid-earlier');
  assert.equal(h.node.state, 'ready');
  await h.commit();
  assert.equal(h.store.load('n1').uid, 'uid-earlier');
});

test('only one lease renewal is in flight: a lease timer firing while one is unanswered sends nothing', async () => {
  const h = new EdgeHarness();
  await h.start();
  const t0 = h.now;
  h.cloud.drop(request('update', 'lease'), { times: 1 });
  await h.advance(3 * h.timings.leaseRenewMs);
  assert.deepEqual(
    leaseRequests(h, t0 + 1).map((m) => m.route.operation),
    ['update'],
  );
  // The unanswered update times out; the next timer renews again.
  await h.advance(h.timings.requestTimeoutMs + h.timings.leaseRenewMs);
  const ops = leaseRequests(h, t0 + 1).map((m) => m.route.operation);
  assert.ok(ops.length >= 2 && ops.every((o) => o === 'update'), ops.join());
  assert.equal(h.node.state, 'ready');
});

test('a lease Conflict re-reads the lease, and the next update carries the new resourceVersion', async () => {
  const h = new EdgeHarness();
  await h.start();
  const lease = h.api!.leases.get('n1')!;
  // Someone else wrote the lease.
  lease.metadata = { ...lease.metadata, resourceVersion: h.api!.nextVersion() };
  const since = h.now + 1;
  await h.advance(h.timings.leaseRenewMs);
  await h.advance(h.timings.leaseRenewMs);
  const after = leaseRequests(h, since);
  assert.deepEqual(
    after.map((m) => m.route.operation),
    ['update', 'query', 'update'],
  );
  assert.notEqual(rvOf(after[0]!), lease.metadata.resourceVersion);
  assert.equal(rvOf(after[2]!), lease.metadata.resourceVersion);
  assert.deepEqual(h.events.errorKinds(), []);
  assert.equal(h.node.edged.leaseRenewedAt, after[2]!.header.timestamp);
});

test('the node is not ready once its lease went unrenewed for leaseDurationSeconds, and ready again after the next renewal', async () => {
  const h = new EdgeHarness();
  await h.start();
  const renewedAt = h.node.edged.leaseRenewedAt;
  assert.equal(h.node.state, 'ready');
  h.cloud.drop(request('update', 'lease'), { times: 1 });
  await h.advance(renewedAt + h.timings.leaseDurationSeconds * 1000 - 1 - h.now);
  assert.equal(h.node.state, 'ready');
  await h.advance(1);
  assert.equal(h.node.state, 'registered');
  // The dropped update times out, then the next renewal is answered.
  await h.advance(h.timings.requestTimeoutMs);
  assert.equal(h.node.state, 'ready');
  assert.ok(h.node.edged.leaseRenewedAt > renewedAt);
});

test('after a reconnect the node renews its lease at once and sends its status in full', async () => {
  const h = new EdgeHarness({ timings: { nodeStatusReportMs: 10_000, nodeStatusUpdateMs: 10_000 } });
  await h.start();
  await h.advance(10_000);
  const patches = () =>
    h.cloud.requests(request('patch', 'nodepatch')).map((m) => ({ at: m.header.timestamp, full: (m.content as string).includes('EdgeReady') }));
  assert.deepEqual(
    patches().map((p) => p.full),
    [true, false],
    'full at registration, then a heartbeat',
  );
  await h.advance(3000);
  h.cloud.close();
  await h.advance(h.timings.reconnectInitialMs);
  assert.equal(h.events.reconnects, 1);
  const reconnectedAt = h.now;
  assert.deepEqual(patches().at(-1), { at: reconnectedAt, full: true });
  const last = leaseRequests(h).at(-1)!;
  assert.equal(last.route.operation, 'update');
  assert.equal(last.header.timestamp, reconnectedAt, 'renewed on connect, not at the next lease timer');
  assert.equal(h.node.state, 'ready');
});
