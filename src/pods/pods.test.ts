import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../core/paths.js';
import { FakeClock, Scheduler } from '../core/scheduler.js';
import { StageEngine } from '../lifecycle/engine.js';
import { loadLifecycles } from '../lifecycle/schema.js';
import type { PodEnv, PodHost, PodRequestKind } from './host.js';
import { hostPortRefusal, PodManager, type PodRecord } from './pods.js';

/** A node of no kind at all: a PodHost that records what its pods ask for. */
class TinyHost implements PodHost {
  readonly name = 'tiny-1';
  readonly hostIP = '192.0.2.1';
  readonly podCidrPrefix = '10.99.1';
  readonly state = 'ready';
  readonly requests: { kind: PodRequestKind; resource: string; content: unknown; subject: PodRecord | string }[] = [];
  constructor(readonly env: PodEnv) {}
  podRequest(kind: PodRequestKind, resource: string, content: unknown, subject: PodRecord | string): void {
    this.requests.push({ kind, resource, content, subject });
  }
  start(): void {}
  stop(): void {}
  fail(): void {}
  podCounts() {
    return { running: 0, admitted: 0, rejected: 0 };
  }
}

test('a PodManager runs pods for any kind: a plain PodHost, no edge and no beehive', () => {
  const clock = new FakeClock(0);
  const scheduler = new Scheduler(clock);
  const stored: string[] = [];
  const errors: unknown[] = [];
  const traces: string[] = [];
  const env: PodEnv = {
    scheduler,
    stages: new StageEngine(loadLifecycles([join(packageRoot(), 'stages')])),
    random: () => 0.5,
    timings: { podStopMs: 500, podStopJitter: 0.5, podRetryMs: 5000 },
    store: {
      putObject: (_node, resource) => stored.push(`object ${resource}`),
      putPodState: (_node, uid) => stored.push(`state ${uid}`),
      deletePodState: (_node, uid) => stored.push(`forget ${uid}`),
    },
    events: { error: (_node, kind, err) => errors.push([kind, err]), podTrace: (uid, event) => traces.push(`${uid} ${event}`) },
    allocatable: { pods: '10', cpu: '2', memory: '4Gi' },
  };
  const host = new TinyHost(env);
  const pods = new PodManager(host);
  const pod = {
    metadata: { name: 'p', namespace: 'default', uid: 'uid-1' },
    spec: {
      nodeName: 'tiny-1',
      containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'cfg' } }] }],
      volumes: [{ projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607 } }] } }],
    },
  };
  const sent = (kind: PodRequestKind) => host.requests.filter((r) => r.kind === kind);
  const phases = () => sent('patch').map((r) => (JSON.parse(r.content as string) as { status: { phase: string } }).status.phase);

  // Added: admitted, its ConfigMap and token asked for, the waiting status patched.
  pods.podChanged('added', pod, 'default/pod/p');
  const rec = pods.byUid.get('uid-1')!;
  assert.equal(pods.admitted, 1);
  assert.deepEqual(traces, ['uid-1 admitted']);
  assert.deepEqual(
    host.requests.map((r) => `${r.kind} ${r.resource}`),
    ['query-token default/serviceaccounttoken/default', 'query-object default/configmap/cfg', 'patch default/podpatch/p'],
  );
  assert.match(sent('patch')[0]!.content as string, /"waiting":\{"reason":"ContainerCreating"\}/, 'waiting for the token');

  // The answers come: the pod waits for its ConfigMap, then the containers start and Running is patched.
  pods.queryDone('query-token', rec, { resourceVersion: '', content: { status: { token: 't' } } });
  assert.match(sent('patch').at(-1)!.content as string, /CreateContainerConfigError/);
  pods.queryDone('query-object', 'default/configmap/cfg', { resourceVersion: '7', content: { metadata: { name: 'cfg' } } });
  assert.ok(stored.includes('object default/configmap/cfg'));
  clock.advance(3000);
  assert.equal(rec.step, 'running');
  assert.deepEqual(phases(), ['Pending', 'Pending', 'Pending', 'Running']);
  for (const r of sent('patch')) pods.requestDone(r.subject as PodRecord, 'patch');
  assert.deepEqual(sent('delete'), []);

  // Deleted gracefully: the fake runtime stops it, the terminal status goes out, then the delete.
  pods.podChanged('modified', { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 30 } });
  clock.advance(499);
  assert.equal(rec.step, 'running');
  clock.advance(1);
  assert.equal(rec.step, 'terminated');
  assert.equal(phases().at(-1), 'Succeeded');
  assert.deepEqual(sent('delete'), [], 'not before the API holds the terminal status');
  pods.requestDone(sent('patch').at(-1)!.subject as PodRecord, 'patch');
  assert.deepEqual(
    sent('delete').map((r) => [r.resource, r.content]),
    [['default/pod/p', { gracePeriodSeconds: 0, preconditions: { uid: 'uid-1' } }]],
  );

  // The API's delete reaches the node: the pod is forgotten, its state too.
  pods.podChanged('deleted', null, 'default/pod/p');
  assert.equal(pods.byUid.size, 0);
  assert.equal(stored.at(-1), 'forget uid-1');
  assert.deepEqual(errors, []);
});

test("EdgeSite's hostPort rule: a container port without a hostPort equal to it is refused, with the port named; no ports, or equal ones, pass", () => {
  assert.equal(hostPortRefusal({ containers: [{ name: 'a' }] }), undefined);
  assert.equal(hostPortRefusal({ containers: [{ name: 'a', ports: [{ containerPort: 80, hostPort: 80 }] }] }), undefined);
  const none = hostPortRefusal({
    containers: [
      { name: 'a', ports: [{ containerPort: 80, hostPort: 80 }] },
      { name: 'web', ports: [{ containerPort: 8080 }] },
    ],
  });
  assert.equal(none?.reason, 'HostPortRequired');
  assert.match(none!.message, /container web port 8080 has no hostPort/);
  assert.match(hostPortRefusal({ containers: [{ name: 'a', ports: [{ containerPort: 80, hostPort: 8080 }] }] })!.message, /port 80 has hostPort 8080/);
});

test('a node with the hostPort rule rejects a pod without the hostPort (status Failed, reason HostPortRequired) and admits one with it', () => {
  const scheduler = new Scheduler(new FakeClock(0));
  const env: PodEnv = {
    scheduler,
    stages: new StageEngine(loadLifecycles([join(packageRoot(), 'stages')])),
    random: () => 0.5,
    timings: { podStopMs: 500, podStopJitter: 0.5, podRetryMs: 5000 },
    store: { putObject: () => {}, putPodState: () => {}, deletePodState: () => {} },
    events: { error: () => {} },
    allocatable: { pods: '10', cpu: '2', memory: '4Gi' },
    requireHostPort: true,
  };
  const host = new TinyHost(env);
  const pods = new PodManager(host);
  const pod = (uid: string, hostPort?: number) => ({
    metadata: { name: uid, namespace: 'default', uid },
    spec: { nodeName: 'tiny-1', containers: [{ name: 'web', image: 'x', ports: [{ containerPort: 80, ...(hostPort ? { hostPort } : {}) }] }] },
  });
  pods.podChanged('added', pod('without'), 'default/pod/without');
  pods.podChanged('added', pod('with', 80), 'default/pod/with');
  assert.deepEqual([pods.admitted, pods.rejected], [1, 1]);
  const status = JSON.parse(host.requests.find((r) => r.resource === 'default/podpatch/without')!.content as string) as {
    status: { phase: string; reason: string };
  };
  assert.deepEqual([status.status.phase, status.status.reason], ['Failed', 'HostPortRequired']);
});
