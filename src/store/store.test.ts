import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeClock, Scheduler } from '../core/scheduler.js';
import { NodeStore, FLUSH_DELAY_MS } from './store.js';

test('writes are batched into one transaction; what waits for them runs after commit', () => {
  const clock = new FakeClock(0);
  const path = join(mkdtempSync(join(tmpdir(), 'em-store-')), 'edge.db');
  const store = new NodeStore(path, new Scheduler(clock));
  const order: string[] = [];
  store.putObject('n1', 'default/pod/a', '5', { metadata: { uid: 'u1' } });
  store.afterCommit(() => order.push('ack-a'));
  store.putObject('n2', 'default/pod/b', '6', { metadata: { uid: 'u2' } });
  store.afterCommit(() => order.push('ack-b'));
  assert.deepEqual(order, [], 'nothing is ACKed before the commit');
  clock.advance(FLUSH_DELAY_MS);
  assert.deepEqual(order, ['ack-a', 'ack-b']);
  assert.equal(store.transactions, 1);
  assert.equal(store.writes, 2);
  store.close();
  assert.equal(statSync(path).mode & 0o777, 0o600, 'the store holds Secrets: 0600');
});

test('a reopened store gives each node back its objects, registration and pod state', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'em-store-')), 'edge.db');
  const a = new NodeStore(path);
  a.putNode('n1', 'node-uid', null);
  a.putObject('n1', 'default/pod/a', '5', { metadata: { uid: 'u1' } });
  a.putObject('n1', 'default/pod/a', '7', { metadata: { uid: 'u1' }, v: 2 });
  a.putObject('n1', 'default/configmap/c', '8', { data: {} });
  a.deleteObject('n1', 'default/configmap/c');
  a.putPodState('n1', 'u1', '{"step":"running"}');
  a.putObject('n2', 'default/pod/x', '1', {});
  a.close();
  const b = new NodeStore(path);
  const n1 = b.load('n1');
  assert.equal(n1.uid, 'node-uid');
  assert.deepEqual(n1.objects, [{ resource: 'default/pod/a', rv: '7', content: '{"metadata":{"uid":"u1"},"v":2}' }]);
  assert.equal(n1.podStates.get('u1'), '{"step":"running"}');
  assert.equal(b.load('n3').objects.length, 0);
  b.close();
});
