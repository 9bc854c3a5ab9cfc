import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../../core/errors.js';
import { oneGroupPlan } from '../plan.js';
import { fleetObjects, podCount, podPlan, probeJob, resourcesFor, type PodSettings } from './manifests.js';
import { ordinalOf, podSlice } from './runner.js';
import { podSettings } from './runtime.js';

const plan = (count: number, websocket = '127.0.0.1:10000') =>
  oneGroupPlan({ target: { name: 't', cloudcore: [{ websocket, https: 'https://127.0.0.1:10002' }] }, count, prefix: 'h-', dataDir: '/x' });

const settings = (o: Partial<PodSettings> = {}): PodSettings => ({ ...podSettings(plan(200), { image: 'localhost/edgemark:1', nodesPerPod: 50 }), ...o });

type Obj = { kind: string; spec?: any; data?: Record<string, string>; stringData?: Record<string, string> };

test('a plan of N nodes is N/K pods of a StatefulSet; its plan and runner settings in a ConfigMap, the token in a Secret', () => {
  const objs = fleetObjects(plan(200), settings(), { token: 'TOKEN' }) as Obj[];
  assert.deepEqual(
    objs.map((o) => o.kind),
    ['Secret', 'ConfigMap', 'Service', 'StatefulSet'],
  );
  const sts = objs[3]!;
  assert.equal(sts.spec.replicas, 4);
  assert.equal(sts.spec.podManagementPolicy, 'Parallel');
  assert.equal(objs[0]!.stringData!.token, 'TOKEN');
  const cm = objs[1]!;
  const p = JSON.parse(cm.data!['plan.json']!);
  assert.equal(p.dataDir, '/var/lib/edgemark');
  assert.equal(p.observe.metrics, false);
  assert.equal(p.observe.nodeLog, true);
  assert.equal(p.groups[0].count, 200);
  assert.deepEqual(JSON.parse(cm.data!['runner.json']!), { nodesPerPod: 50, port: 9400, portPerOrdinal: true });
  const pod = sts.spec.template.spec;
  assert.equal(pod.hostNetwork, true, 'CloudCore on loopback: host network');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.containers[0].securityContext.allowPrivilegeEscalation, false);
  assert.ok(!JSON.stringify(pod).includes('privileged'));
  assert.ok(pod.tolerations.some((t: { key: string }) => t.key === 'node.kubernetes.io/unreachable'));
  assert.ok(pod.tolerations.some((t: { key: string }) => t.key === 'node.kubernetes.io/not-ready'));
  // Host network: exec probes at the pod's address, port + ordinal.
  assert.match(pod.containers[0].readinessProbe.exec.command.join(' '), /port:9400\+o,path:'\/readyz'/);
  assert.match(pod.containers[0].livenessProbe.exec.command.join(' '), /\/healthz/);
  assert.equal(sts.spec.template.metadata.annotations['prometheus.io/scrape'], 'true');
  assert.ok(!JSON.stringify(objs.slice(1)).includes('TOKEN'), 'the token only in the Secret');
});

test('a pod network: httpGet probes on the named port, one port for all', () => {
  const objs = fleetObjects(plan(100, '10.0.0.5:10000'), podSettings(plan(100, '10.0.0.5:10000'), { image: 'r/e:1', nodesPerPod: 50 }), {
    token: 'T',
  }) as Obj[];
  const c = objs[3]!.spec.template.spec.containers[0];
  assert.equal(objs[3]!.spec.template.spec.hostNetwork, false);
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'runner' });
  assert.deepEqual(c.ports, [{ name: 'runner', containerPort: 9400 }]);
  assert.deepEqual(JSON.parse(objs[1]!.data!['runner.json']!).portPerOrdinal, false);
});

test('resources follow the nodes per pod', () => {
  const small = resourcesFor(50);
  const big = resourcesFor(1000);
  assert.equal(small.requests.memory, '100Mi');
  assert.equal(big.requests.memory, '471Mi');
  assert.equal(big.limits.memory, '942Mi');
  assert.equal(big.requests.cpu, '250m');
});

test('a count that does not divide into pods is refused before anything is made, with the plan and the counts that would', () => {
  assert.throws(
    () => podCount(plan(210), 50),
    (e: unknown) =>
      e instanceof EdgemarkError &&
      e.code === 'EM_PLAN_INVALID' &&
      /210 nodes do not divide into pods of 50: plan nodes 210 x edge \(h-0\.\.\)/.test(e.message) &&
      /200 or 250/.test(e.fix ?? ''),
  );
});

test('pod o holds nodes o*K..o*K+K-1: its slice of the plan; its ordinal from its name', () => {
  assert.equal(ordinalOf('edgemark-runner-3'), 3);
  assert.throws(() => ordinalOf('runner'), /does not end in -<ordinal>/);
  assert.deepEqual(podSlice(podPlan(plan(200)), 2, 50).slice, { from: 100, count: 50 });
  assert.throws(() => podSlice(plan(200), 4, 50), /would hold nodes from 200, and the plan has 200/);
});

test('the setup Job runs the probe like a runner pod, with the token Secret', () => {
  const j = probeJob(plan(1), settings()) as Obj;
  const c = j.spec.template.spec.containers[0];
  assert.deepEqual(c.args.slice(0, 2), ['fleet', 'probe']);
  assert.ok(c.args.includes('127.0.0.1:10000'));
  assert.equal(j.spec.template.spec.hostNetwork, true);
  assert.equal(j.spec.template.spec.volumes[0].secret.secretName, 'edgemark-token');
});

test('a kubelet-kind plan: its bootstrap token or shared identity in the Secret and named to the runner; host network for a loopback apiserver; a directory of kubeconfigs refused', () => {
  const kplan = oneGroupPlan({
    target: { name: 't', cloudcore: [], apiserver: 'https://127.0.0.1:6443', apiserverCa: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    kind: 'kubelet',
    count: 100,
    prefix: 'k-',
    dataDir: '/x',
  });
  const s = podSettings(kplan, { image: 'r/e:1', nodesPerPod: 50 });
  assert.equal(s.hostNetwork, true, 'kube-apiserver on loopback: host network');
  const objs = fleetObjects(kplan, s, { token: '', bootstrapToken: 'abcdef.0123456789abcdef' }) as Obj[];
  assert.equal(objs[0]!.stringData!['bootstrap-token'], 'abcdef.0123456789abcdef');
  const args: string[] = objs[3]!.spec.template.spec.containers[0].args;
  assert.equal(args[args.indexOf('--bootstrap-token-file') + 1], '/var/run/edgemark/bootstrap-token');
  assert.ok(!args.includes('--node-identity-file'));
  assert.ok(!JSON.stringify(objs.slice(1)).includes('0123456789abcdef'), 'the token only in the Secret');

  const shared = { shared: { user: 'u', token: 'SECRET-TOKEN' }, source: '/k' };
  const withId = fleetObjects(kplan, s, { token: '', nodeKubeconfig: shared }) as Obj[];
  assert.deepEqual(JSON.parse(withId[0]!.stringData!['node-identity.json']!), shared);
  assert.ok(withId[3]!.spec.template.spec.containers[0].args.includes('--node-identity-file'));
  assert.ok(!JSON.stringify(withId.slice(1)).includes('SECRET-TOKEN'));

  assert.throws(
    () => fleetObjects(kplan, s, { token: '', nodeKubeconfig: { dir: '/d' } }),
    (e: unknown) => e instanceof EdgemarkError && /is a directory: runner pods cannot read/.test(e.message) && /give one kubeconfig/.test(e.fix ?? ''),
  );
  assert.equal(podSettings(plan(10, '10.0.0.5:10000'), { image: 'r/e:1' }).hostNetwork, false, 'edge nodes to a routable CloudCore: pod network');
});
