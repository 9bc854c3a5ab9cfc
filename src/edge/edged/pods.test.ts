import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BeehiveMessage } from '../../protocol/message.js';
import { request } from '../testing/fake-cloud.js';
import { EdgeHarness, podObject } from '../testing/harness.js';

const goodPod = podObject('p', 'uid-1');

/** The pod status patches the node sent (their content, parsed), from `since` on. */
function patches(h: EdgeHarness, since = 0): { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: unknown[] }[] {
  return h.cloud
    .requests(request('patch', 'podpatch'))
    .filter((m) => m.header.timestamp >= since)
    .map((m) => (JSON.parse(m.content as string) as { status: never }).status);
}
const ready = (s: { conditions?: { type: string; status: string }[] } | undefined) => s?.conditions?.find((c) => c.type === 'Ready')?.status;
const isRunningPatch = (m: BeehiveMessage) => request('patch', 'podpatch')(m) && (m.content as string).includes('"phase":"Running"');

async function runningPod(h: EdgeHarness) {
  await h.start();
  h.cloud.push('default/pod/p', goodPod);
  await h.advance(3000);
  const rec = h.node.edged.pods.byUid.get('uid-1')!;
  assert.equal(rec.step, 'running');
  return rec;
}

test('a malformed pod message is logged with its message id; the node keeps running and takes the next pod', async () => {
  const h = new EdgeHarness();
  await h.start();
  const bad = [
    h.cloud.push('default/pod/p0', null),
    h.cloud.push('default/pod/p1', 'not a pod'),
    h.cloud.push('default/pod/p2', { metadata: { name: 'p2', namespace: 'default' } }),
    h.cloud.push('default/pod/p3', { metadata: { name: 'p3', namespace: 'default', uid: 'u3' } }),
  ];
  assert.deepEqual(
    h.events.errorKinds(),
    bad.map(() => 'pod-message'),
  );
  for (const [i, m] of bad.entries()) assert.match(String(h.events.errors[i]!.err), new RegExp(m.header.msg_id));
  assert.equal(h.node.edged.pods.byUid.size, 0);

  h.cloud.push('default/pod/p', goodPod);
  await h.advance(3000);
  assert.equal(h.node.edged.pods.admitted, 1);
  assert.equal(h.node.edged.pods.byUid.get('uid-1')!.step, 'running');
  assert.equal(h.events.errors.length, bad.length, 'the good pod raised no error');
});

test('a pod for another node is ignored', async () => {
  const h = new EdgeHarness();
  await h.start();
  h.cloud.push('default/pod/q', podObject('q', 'u-q', { nodeName: 'other' }));
  assert.equal(h.node.edged.pods.byUid.size, 0);
  assert.deepEqual(patches(h), []);
  assert.equal(h.events.errors.length, 0);
});

test('pods over allocatable are rejected as the kubelet rejects them (OutOfcpu)', async () => {
  const h = new EdgeHarness();
  await h.start();
  const big = (uid: string, cpu: string) => podObject(uid, uid, { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] });
  h.cloud.push('default/pod/a', big('a', '1500m'));
  h.cloud.push('default/pod/b', big('b', '1'));
  const b = h.node.edged.pods.byUid.get('b')!;
  assert.equal(b.step, 'rejected');
  assert.equal(b.reason, 'OutOfcpu');
  assert.match(b.message ?? '', /requested: 1000, used: 1500, capacity: 2000/);
  assert.equal(h.node.edged.pods.byUid.get('a')!.step, 'creating');
  assert.equal(patches(h).at(-1)!.phase, 'Failed');
});

test('the same pod status is patched once; a changed one is patched again', async () => {
  const h = new EdgeHarness();
  await h.start();
  // The ConfigMap is missing: the pod waits, and looks again every podRetryMs.
  h.cloud.push('default/pod/p', podObject('p', 'uid-1', { containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'cfg' } }] }] }));
  await h.advance(3 * h.timings.podRetryMs);
  assert.equal(h.cloud.requests(request('query', 'configmap')).length, 4, 'looked again every retry');
  const waiting = patches(h);
  assert.equal(waiting.length, 1, 'the unchanged waiting status went out once');
  assert.match(JSON.stringify(waiting[0]), /CreateContainerConfigError/);

  h.api!.objects.set('default/configmap/cfg', { metadata: { name: 'cfg', resourceVersion: '9' } });
  await h.advance(h.timings.podRetryMs + 3000);
  const after = patches(h);
  assert.equal(after.at(-1)!.phase, 'Running');
  assert.ok(after.length >= 2 && after.length <= 3, `${after.length} patches`);
  assert.equal(new Set(after.map((s) => JSON.stringify(s))).size, after.length, 'no status sent twice');
});

test('a pushed pod whose API status disagrees (Ready=False from the node lifecycle controller) gets our status again', async () => {
  const h = new EdgeHarness();
  await runningPod(h);
  const last = patches(h).at(-1)!;
  assert.equal(last.phase, 'Running');
  const before = patches(h).length;
  // An update that agrees with us changes nothing.
  h.cloud.push('default/pod/p', { ...goodPod, status: last }, 'update');
  assert.equal(patches(h).length, before);
  // The controller marked it not Ready while the node was away.
  const notReady = { ...last, conditions: last.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'False' } : c)) };
  h.cloud.push('default/pod/p', { ...goodPod, status: notReady }, 'update');
  assert.equal(patches(h).length, before + 1);
  assert.equal(ready(patches(h).at(-1)), 'True');
});

test("a pod's lifecycle is persisted; a restored node resumes the pod where it was without recreating it", async () => {
  const h = new EdgeHarness();
  const rec = await runningPod(h);
  const was = { step: rec.step, startTime: rec.startTime, startedAt: rec.startedAt, podIP: rec.podIP };
  await h.commit();
  assert.ok(h.store.load('n1').podStates.has('uid-1'));

  const node = h.restart();
  const restored = node.edged.pods.byUid.get('uid-1');
  assert.ok(restored, 'the pod came back from the store');
  assert.deepEqual({ step: restored.step, startTime: restored.startTime, startedAt: restored.startedAt, podIP: restored.podIP }, was);
  const since = h.now;
  await h.start();
  assert.equal(node.state, 'ready');
  assert.equal(h.cloud.requests((m) => request('insert', 'node')(m) && m.header.timestamp >= since).length, 0, 'not registered again');
  assert.deepEqual(
    patches(h, since).map((s) => s.phase),
    ['Running'],
    'its status resent as it was',
  );
  // CloudCore sends the pod again after the reconnect (with the status the API
  // holds): nothing is recreated.
  h.cloud.push('default/pod/p', { ...goodPod, status: patches(h, since)[0] });
  await h.advance(3000);
  assert.equal(node.edged.pods.admitted, 0);
  assert.deepEqual(
    h.events.podTraces.filter((t) => t.event === 'duplicate-insert').map((t) => t.uid),
    ['uid-1'],
  );
  assert.deepEqual(
    patches(h, since).map((s) => s.phase),
    ['Running'],
  );
});

test('a status patch that times out (CloudCore dropped it) is sent again', async () => {
  const h = new EdgeHarness();
  h.cloud.drop(isRunningPatch, { times: 1 });
  await runningPod(h);
  const running = () => h.cloud.requests(isRunningPatch).map((m) => m.content);
  assert.equal(running().length, 1);
  await h.advance(h.timings.requestTimeoutMs + h.timings.requestTimeoutMs / 4);
  assert.equal(running().length, 2, 'resent after the timeout');
  assert.equal(running()[0], running()[1], 'the same status');
  await h.advance(h.timings.requestTimeoutMs * 2);
  assert.equal(running().length, 2, 'answered this time: not sent again');
});

test('a status patch cut off by a disconnect is sent again after the reconnect, not while down', async () => {
  const h = new EdgeHarness();
  h.cloud.drop(isRunningPatch, { times: 1 });
  const rec = await runningPod(h);
  h.cloud.close();
  assert.equal(rec.lastSent, '', 'marked for the resync');
  const running = () => h.cloud.requests(isRunningPatch).length;
  await h.advance(h.timings.reconnectInitialMs - 1);
  assert.equal(running(), 1, 'nothing sent while disconnected');
  await h.advance(1);
  assert.equal(h.events.reconnects, 1);
  assert.equal(running(), 2);
});
