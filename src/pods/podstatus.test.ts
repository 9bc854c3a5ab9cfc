import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuantity, podRequests, podStatus, qosClass } from './podstatus.js';

const spec = {
  containers: [
    { name: 'a', image: 'img:1', resources: { requests: { cpu: '250m', memory: '64Mi' } } },
    { name: 'b', image: 'img:2' },
  ],
};
const base = { spec, hostIP: '10.128.0.1', podIP: '10.0.1.2', startTime: '2026-01-01T00:00:00Z', restartCount: 0, uidHex: 'ab'.repeat(16) };

test('creating: Pending, ContainerCreating, not ready, no pod IP yet', () => {
  const s = podStatus({ ...base, step: 'creating' }) as any;
  assert.equal(s.phase, 'Pending');
  assert.equal(s.podIP, undefined);
  assert.deepEqual(
    s.conditions.map((c: any) => `${c.type}=${c.status}`),
    ['PodReadyToStartContainers=False', 'Initialized=True', 'Ready=False', 'ContainersReady=False', 'PodScheduled=True'],
  );
  assert.equal(s.conditions[2].message, 'containers with unready status: [a b]');
  assert.deepEqual(s.containerStatuses[0].state, { waiting: { reason: 'ContainerCreating' } });
  assert.equal(s.qosClass, 'Burstable');
});

test('running: all conditions True, container ids, pod IP, started', () => {
  const s = podStatus({ ...base, step: 'running', startedAt: '2026-01-01T00:00:01Z' }) as any;
  assert.equal(s.phase, 'Running');
  assert.equal(s.podIP, '10.0.1.2');
  assert.ok(s.conditions.every((c: any) => c.status === 'True'));
  assert.match(s.containerStatuses[0].containerID, /^containerd:\/\/[0-9a-f]{64}$/);
  assert.notEqual(s.containerStatuses[0].containerID, s.containerStatuses[1].containerID);
  assert.deepEqual(s.containerStatuses[1].state, { running: { startedAt: '2026-01-01T00:00:01Z' } });
});

test('terminated after deletion: Succeeded with exit code 0', () => {
  const s = podStatus({ ...base, step: 'terminated', startedAt: 'x', finishedAt: 'y' }) as any;
  assert.equal(s.phase, 'Succeeded');
  assert.equal(s.containerStatuses[0].state.terminated.exitCode, 0);
  assert.equal(s.conditions[2].reason, 'PodCompleted');
});

test('quantities, requests and QoS', () => {
  assert.equal(parseQuantity('250m'), 0.25);
  assert.equal(parseQuantity('64Mi'), 64 * 1024 * 1024);
  assert.equal(parseQuantity('1G'), 1e9);
  assert.deepEqual(podRequests(spec), { cpu: 0.25, memory: 64 * 1024 * 1024 });
  assert.equal(qosClass({ containers: [{ name: 'x' }] }), 'BestEffort');
  assert.equal(qosClass({ containers: [{ name: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } }] }), 'Guaranteed');
});
