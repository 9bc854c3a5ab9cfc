import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconnectDelay, defaultTimings } from '../timings.js';
import { conditionsDiffer, defaultNodeProfile, binaryQuantity, fullStatusPatch, heartbeatPatch, initialNode, microTime, newLease } from './objects.js';

const id = { name: 'n1', ip: '10.128.0.1', machineId: 'm'.repeat(32), bootId: 'b', podCidrPrefix: '10.0.1' };

test('the registered Node carries the edge role, capacity and the EdgeReady condition', () => {
  const n = initialNode({ ...defaultNodeProfile, labels: { zone: 'a' }, taints: [{ key: 'edge', effect: 'NoSchedule' }] }, id, new Date(0));
  assert.equal(n.metadata.labels['node-role.kubernetes.io/edge'], '');
  assert.equal(n.metadata.labels['kubernetes.io/hostname'], 'n1');
  assert.equal(n.metadata.labels.zone, 'a');
  assert.deepEqual(n.spec, { taints: [{ key: 'edge', effect: 'NoSchedule' }] });
  assert.equal(n.status.capacity.pods, '110');
  assert.equal('kind' in n, false, 'edged inserts the Node without apiVersion/kind');
  assert.equal(n.status.capacity.memory, '4Gi');
  assert.equal(n.status.allocatable.memory, '3996Mi', 'memory allocatable = capacity - 100Mi');
  assert.equal(n.status.capacity['ephemeral-storage'], '20Gi');
  assert.equal(n.status.allocatable['ephemeral-storage'], '18Gi', 'ephemeral-storage allocatable = capacity - 10%');
  assert.equal(n.status.allocatable.cpu, n.status.capacity.cpu);
  assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
  const ready = n.status.conditions.find((c) => c.type === 'Ready')!;
  assert.deepEqual([ready.status, ready.reason, ready.message], ['True', 'EdgeReady', 'edge is posting ready status']);
  assert.deepEqual(n.status.addresses, [
    { type: 'InternalIP', address: '10.128.0.1' },
    { type: 'Hostname', address: 'n1' },
  ]);
  assert.equal(n.status.nodeInfo.kubeletVersion, 'v1.32.10-kubeedge-v1.23.1');
});

test('the heartbeat patch is a strategic-merge string with $setElementOrder', () => {
  const p = JSON.parse(heartbeatPatch(new Date('2026-01-01T00:00:00.123Z')));
  assert.deepEqual(
    p.status['$setElementOrder/conditions'].map((c: { type: string }) => c.type),
    ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'],
  );
  assert.deepEqual(p.status.conditions[3], { lastHeartbeatTime: '2026-01-01T00:00:00Z', type: 'Ready' });
});

test('lease: holder, duration, MicroTime renewTime and the Node owner', () => {
  const l = newLease('n1', 40, new Date('2026-01-01T00:00:00.123Z'), 'uid-1');
  assert.equal(l.spec.renewTime, '2026-01-01T00:00:00.123000Z');
  assert.equal(microTime(new Date(0)), '1970-01-01T00:00:00.000000Z');
  assert.deepEqual(l.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'uid-1' }]);
  assert.equal(l.spec.leaseDurationSeconds, 40);
});

test('reconnect backoff grows, caps and jitters within bounds', () => {
  const t = defaultTimings;
  assert.equal(
    reconnectDelay(t, 0, () => 0.5),
    t.reconnectInitialMs,
  );
  assert.equal(
    reconnectDelay(t, 3, () => 0.5),
    t.reconnectInitialMs * 8,
  );
  assert.equal(
    reconnectDelay(t, 50, () => 0.5),
    t.reconnectMaxMs,
  );
  assert.equal(
    reconnectDelay(t, 0, () => 0),
    t.reconnectInitialMs * (1 - t.reconnectJitter),
  );
  assert.equal(
    reconnectDelay(t, 0, () => 1),
    t.reconnectInitialMs * (1 + t.reconnectJitter),
  );
});

test('bytes print in canonical binary form', () => {
  assert.equal(binaryQuantity(4 * 1024 ** 3), '4Gi');
  assert.equal(binaryQuantity(1536 * 1024), '1536Ki');
  assert.equal(binaryQuantity(1000), '1000');
  assert.equal(binaryQuantity(0), '0');
});

test('conditions in full when the API shows something else (e.g. Unknown from the node lifecycle controller)', () => {
  const p = JSON.parse(fullStatusPatch(new Date('2026-01-01T00:00:10Z'), new Date('2026-01-01T00:00:00Z')));
  const ready = p.status.conditions.find((c: { type: string }) => c.type === 'Ready');
  assert.deepEqual(ready, {
    type: 'Ready',
    status: 'True',
    reason: 'EdgeReady',
    message: 'edge is posting ready status',
    lastHeartbeatTime: '2026-01-01T00:00:10Z',
    lastTransitionTime: '2026-01-01T00:00:00Z',
  });
  const ours = initialNode(defaultNodeProfile, id, new Date(0));
  assert.equal(conditionsDiffer(ours), false);
  const unknown = { status: { conditions: ours.status.conditions.map((c) => ({ ...c, status: c.type === 'Ready' ? 'Unknown' : c.status })) } };
  assert.equal(conditionsDiffer(unknown), true);
  assert.equal(conditionsDiffer({ status: { conditions: [] } }), true);
});
