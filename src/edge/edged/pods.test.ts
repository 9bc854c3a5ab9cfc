import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../core/paths.js';
import { FakeClock, Scheduler } from '../../core/scheduler.js';
import { StageEngine } from '../../lifecycle/engine.js';
import { loadLifecycles } from '../../lifecycle/schema.js';
import type { BeehiveMessage } from '../../protocol/message.js';
import type { EdgeContext, NodeHost } from '../host.js';
import { Req } from '../metamanager/metamanager.js';
import { EdgeStore } from '../metamanager/store.js';
import { HollowEdgeNode } from '../node.js';
import { defaultTimings } from '../timings.js';
import { defaultNodeProfile } from './objects.js';

/** One node wired to a fake clock and an in-memory store; its link stays down. */
function harness() {
  const clock = new FakeClock();
  const scheduler = new Scheduler(clock);
  const errors: { node: string; kind: string; message: string }[] = [];
  const ctx: EdgeContext = {
    scheduler,
    store: new EdgeStore(':memory:', scheduler),
    stages: new StageEngine(loadLifecycles([join(packageRoot(), 'stages')])),
    timings: defaultTimings,
    profile: defaultNodeProfile,
    dial: { server: '127.0.0.1:1' },
    random: () => 0.5,
    isFatal: () => false,
    events: {
      messageIn() {},
      messageOut() {},
      reconnected() {},
      changed() {},
      error(node: NodeHost, kind: string, err: unknown) {
        errors.push({ node: node.name, kind, message: err instanceof Error ? err.message : String(err) });
      },
    },
  };
  const node = new HollowEdgeNode(ctx, { name: 'n1', ip: '10.128.0.1', machineId: 'm', bootId: 'b', podCidrPrefix: '10.244.1' }, () => new Promise(() => {}));
  return { node, errors, clock };
}

let seq = 0;
function push(resource: string, content: unknown, operation = 'insert'): BeehiveMessage {
  return {
    header: { msg_id: `msg-${++seq}`, timestamp: 0, resourceversion: '1' },
    route: { source: 'edgecontroller', group: 'resource', operation, resource },
    content,
  };
}

const goodPod = {
  metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] },
};

test('a malformed pod message is logged with its message id; the node keeps running and takes the next pod', () => {
  const { node, errors, clock } = harness();
  const bad = [
    push('default/pod/p0', null),
    push('default/pod/p1', 'not a pod'),
    push('default/pod/p2', { metadata: { name: 'p2', namespace: 'default' } }),
    push('default/pod/p3', { metadata: { name: 'p3', namespace: 'default', uid: 'u3' } }),
  ];
  for (const m of bad) node.meta.receive(m);
  assert.deepEqual(
    errors.map((e) => e.kind),
    bad.map(() => 'pod-message'),
  );
  for (const [i, m] of bad.entries()) assert.match(errors[i]!.message, new RegExp(m.header.msg_id));
  assert.equal(node.edged.pods.byUid.size, 0);

  node.meta.receive(push('default/pod/p', goodPod));
  clock.advance(1000);
  assert.equal(node.edged.pods.byUid.size, 1);
  assert.equal(node.edged.pods.admitted, 1);
  assert.equal(errors.length, bad.length, 'the good pod raised no error');
});

test('a pod for another node is ignored', () => {
  const { node, errors } = harness();
  node.meta.receive(push('default/pod/q', { ...goodPod, metadata: { ...goodPod.metadata, uid: 'u-q' }, spec: { ...goodPod.spec, nodeName: 'other' } }));
  assert.equal(node.edged.pods.byUid.size, 0);
  assert.equal(errors.length, 0);
});

test('pods over allocatable are rejected as the kubelet rejects them (OutOfcpu)', () => {
  const { node } = harness();
  const big = (uid: string, cpu: string) => ({
    metadata: { name: uid, namespace: 'default', uid },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] },
  });
  node.meta.receive(push('default/pod/a', big('a', '1500m')));
  node.meta.receive(push('default/pod/b', big('b', '1')));
  const b = node.edged.pods.byUid.get('b')!;
  assert.equal(b.step, 'rejected');
  assert.equal(b.reason, 'OutOfcpu');
  assert.match(b.message ?? '', /requested: 1000, used: 1500, capacity: 2000/);
  assert.equal(node.edged.pods.byUid.get('a')!.step, 'creating');
});

test('a pushed pod whose API status disagrees (Ready=False from the node lifecycle controller) gets our status again', () => {
  const { node, clock } = harness();
  const sent: { kind: string; content: string }[] = [];
  node.podRequest = (kind, _resource, content) => {
    if (kind === 'patch') sent.push({ kind, content: content as string });
  };
  node.meta.receive(push('default/pod/p', goodPod));
  clock.advance(5000);
  const rec = node.edged.pods.byUid.get('uid-1')!;
  assert.equal(rec.step, 'running');
  const last = JSON.parse(sent.at(-1)!.content);
  assert.equal(last.status.phase, 'Running');
  const before = sent.length;
  // An update that agrees with us changes nothing.
  node.meta.receive(push('default/pod/p', { ...goodPod, status: last.status }, 'update'));
  assert.equal(sent.length, before);
  // The controller marked it not Ready while the node was away.
  const notReady = { ...last.status, conditions: last.status.conditions.map((c: { type: string }) => (c.type === 'Ready' ? { ...c, status: 'False' } : c)) };
  node.meta.receive(push('default/pod/p', { ...goodPod, status: notReady }, 'update'));
  assert.equal(sent.length, before + 1);
  assert.equal(JSON.parse(sent.at(-1)!.content).status.conditions.find((c: { type: string }) => c.type === 'Ready').status, 'True');
});

test('a status patch that times out (CloudCore dropped it) is sent again; one that could not go out waits for the reconnect', () => {
  const { node, clock } = harness();
  const sent: string[] = [];
  node.podRequest = (kind, _resource, content) => {
    if (kind === 'patch') sent.push(content as string);
  };
  node.meta.receive(push('default/pod/p', goodPod));
  clock.advance(5000);
  const rec = node.edged.pods.byUid.get('uid-1')!;
  assert.equal(rec.step, 'running');
  const before = sent.length;
  node.edged.onRequestFailed(Req.patchPodStatus, 'timeout', rec);
  assert.equal(sent.length, before + 1, 'resent at once');
  assert.equal(sent.at(-1), sent.at(-2), 'the same status');
  node.edged.onRequestFailed(Req.patchPodStatus, 'not-connected', rec);
  assert.equal(sent.length, before + 1, 'nothing sent while disconnected');
  assert.equal(rec.lastSent, '', 'marked for the resync');
});
