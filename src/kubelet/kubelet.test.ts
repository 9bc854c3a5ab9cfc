import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { resourceOf } from './api.js';
import { checkBootstrapToken, csrName } from './bootstrap.js';
import { checkNodeName, kubeletKind } from './kind.js';
import { allocatable, initialNode, kubeletIdentity, kubeletProfile, statusPatch } from './objects.js';
import { jitterUp, kubeletTimings } from './timings.js';

const id = kubeletIdentity('n-1', 258, 'boot');

test('the kubemark shape is what cmd/kubemark reports: 1 CPU, 3840Mi, 110 pods, no storage, kubemark:// providerID, empty ids', () => {
  const p = kubeletProfile('g', {});
  const n = initialNode(p, id, new Date(0));
  assert.deepEqual(n.status.capacity, { cpu: '1', 'ephemeral-storage': '0', memory: '3840Mi', pods: '110' });
  assert.deepEqual(n.status.allocatable, n.status.capacity, 'the stub container manager reserves nothing');
  assert.equal(n.spec.providerID, 'kubemark://n-1');
  assert.equal('annotations' in n.metadata, false, 'kubemark turns controller attach-detach off');
  assert.equal(n.status.nodeInfo.machineID, '');
  assert.equal(n.status.nodeInfo.containerRuntimeVersion, 'fakeRuntime://0.1.0');
  const ready = n.status.conditions.find((c) => c.type === 'Ready')!;
  assert.equal(ready.status, 'False', 'NotReady until the CSINode exists');
  assert.equal(ready.message, 'CSINode is not yet initialized');
  assert.equal(p.events, false);
});

test('the kubelet shape takes the eviction thresholds off allocatable and carries the attach-detach annotation', () => {
  const p = kubeletProfile('g', { shape: 'kubelet', memory: '8Gi', ephemeralStorage: '100Gi' });
  assert.equal(allocatable(p).memory, `${8 * 1024 * 1024 - 100 * 1024}Ki`);
  assert.equal(allocatable(p)['ephemeral-storage'], String(Math.floor(100 * 1024 ** 3 * 0.9)));
  const n = initialNode(p, id, new Date(0));
  assert.equal(n.metadata.annotations?.['volumes.kubernetes.io/controller-managed-attach-detach'], 'true');
  assert.equal(n.spec.providerID, undefined);
  assert.match(n.status.nodeInfo.systemUUID, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
});

test('a heartbeat status patch carries only each condition heartbeat; the Ready flip carries the whole condition', () => {
  const hb = JSON.parse(statusPatch('T1', 'T0', true, false));
  assert.deepEqual(hb.status.conditions, [
    { lastHeartbeatTime: 'T1', type: 'MemoryPressure' },
    { lastHeartbeatTime: 'T1', type: 'DiskPressure' },
    { lastHeartbeatTime: 'T1', type: 'PIDPressure' },
    { lastHeartbeatTime: 'T1', type: 'Ready' },
  ]);
  assert.equal(hb.status['$setElementOrder/conditions'].length, 4);
  const flip = JSON.parse(statusPatch('T1', 'T1', true, true));
  const ready = flip.status.conditions.find((c: { type: string }) => c.type === 'Ready');
  assert.deepEqual([ready.status, ready.reason, ready.lastTransitionTime], ['True', 'KubeletReady', 'T1']);
});

test('pod IPs come from a /24 of the node own: nodes of one plan never share one', () => {
  const a = kubeletIdentity('a', 1, 'b');
  const b = kubeletIdentity('b', 257, 'b');
  assert.notEqual(a.podCidrPrefix, b.podCidrPrefix);
  assert.notEqual(a.ip, b.ip);
});

test('the API path of a request names its resource as the apiserver metrics do', () => {
  assert.equal(resourceOf('/api/v1/nodes/n-1/status'), 'nodes/status');
  assert.equal(resourceOf('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n-1'), 'leases');
  assert.equal(resourceOf('/api/v1/pods?fieldSelector=spec.nodeName%3Dn'), 'pods');
  assert.equal(resourceOf('/api/v1/namespaces/ns/serviceaccounts/sa/token'), 'serviceaccounts/token');
  assert.equal(resourceOf('/api/v1/namespaces/ns/pods'), 'pods');
});

test('bootstrap tokens are <6>.<16> lowercase; the CSR name is digested from the key and the node', () => {
  assert.deepEqual(checkBootstrapToken('abcdef.0123456789abcdef'), { id: 'abcdef' });
  for (const bad of ['abcdef', 'ABCDEF.0123456789abcdef', 'abcde.0123456789abcdef', 'abcdef.0123456789abcde']) {
    assert.throws(
      () => checkBootstrapToken(bad),
      (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_BOOTSTRAP_TOKEN_MALFORMED',
    );
  }
  const k = Buffer.from('key');
  assert.equal(csrName(k, 'n'), csrName(k, 'n'));
  assert.notEqual(csrName(k, 'n'), csrName(k, 'm'));
  assert.match(csrName(k, 'n'), /^node-csr-[A-Za-z0-9_-]{43}$/);
});

test('a kubelet group is checked before anything starts: profile keys, shape, timings, node names', () => {
  const g = { name: 'g', prefix: 'k-', profile: {}, timings: {} };
  kubeletKind.validate(g);
  const refused = (o: Partial<typeof g>, re: RegExp) =>
    assert.throws(
      () => kubeletKind.validate({ ...g, ...o }),
      (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_PLAN_INVALID' && re.test(e.message),
    );
  refused({ profile: { shape: 'big' } }, /profile\.shape/);
  refused({ profile: { cpus: '2' } }, /profile/);
  refused({ timings: { leaseRenewMS: 5 } }, /unknown kubelet timing leaseRenewMS/);
  refused({ prefix: 'Bad_' }, /DNS-1123/);
  assert.throws(() => checkNodeName(`${'a'.repeat(254)}`), /DNS-1123/);
});

test('timings: wait.JitterUntil only lengthens a period; overrides of unknown names are refused', () => {
  assert.equal(
    jitterUp(10_000, 0.04, () => 0),
    10_000,
  );
  assert.equal(jitterUp(10_000, 0.04, () => 0.999999) < 10_400, true);
  assert.equal(kubeletTimings('g', { leaseRenewMs: 5000 }).leaseRenewMs, 5000);
});
