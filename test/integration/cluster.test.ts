/**
 * The local control plane, end to end through the CLI: up; a namespace, Node
 * and Pod that the scheduler binds; a Deployment that the controller manager
 * turns into a ReplicaSet; CloudCore's CA endpoint and join token; status;
 * up-when-up; down leaves no process behind.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { componentNames } from '../../src/cluster/state.js';
import { httpGet } from '../../src/core/http.js';
import { isSameProcess, pidsOfExecutable } from '../../src/core/proc.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { runCli, upTestCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;
let kc: k8s.KubeConfig;

before(async () => {
  const c = await upTestCluster();
  cluster = c;
  process.stdout.write(`# cluster up took ${(c.up.ms / 1000).toFixed(1)}s\n`);
  kc = loadKubeConfig(c.state().kubeconfig);
});

after(async () => {
  if (cluster) await cluster.down();
});

test('status shows all five components healthy with pid, ports, RSS and uptime', async () => {
  const r = await runCli([...cluster.args, 'cluster', 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as {
    components: { name: string; pid: number; health: { healthy: boolean }; rssBytes: number; uptimeMs: number; ports: number[] }[];
  };
  assert.deepEqual(
    s.components.map((c) => c.name),
    [...componentNames],
  );
  for (const c of s.components) {
    assert.ok(c.health.healthy, `${c.name} healthy`);
    assert.ok(c.pid > 0 && c.rssBytes > 1024 * 1024 && c.uptimeMs > 0 && c.ports.length > 0, c.name);
  }
  const table = await runCli([...cluster.args, 'cluster', 'status']);
  assert.match(table.stdout, /cloudcore\s+\d+\s+[\d,]+\s+healthy/);
});

test('the scheduler binds a pod to a node', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'em-it' } } });
  await core.createNode({ body: { metadata: { name: 'em-it-node', labels: { 'kubernetes.io/hostname': 'em-it-node' } } } });
  const capacity = { cpu: '4', memory: '8Gi', pods: '110' };
  await core.patchNodeStatus(
    {
      name: 'em-it-node',
      body: {
        status: {
          capacity,
          allocatable: capacity,
          conditions: [{ type: 'Ready', status: 'True', reason: 'Test', lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }],
        },
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
  await core.createNamespacedPod({
    namespace: 'em-it',
    body: {
      metadata: { name: 'p1' },
      spec: {
        containers: [{ name: 'c', image: 'registry.invalid/none:1' }],
        tolerations: [{ operator: 'Exists' }],
        automountServiceAccountToken: false,
      },
    },
  });
  const nodeName = await waitFor(
    'pod p1 to be bound',
    async () => (await core.readNamespacedPod({ name: 'p1', namespace: 'em-it' })).spec?.nodeName || undefined,
    { timeoutMs: 30_000 },
  );
  assert.equal(nodeName, 'em-it-node');
});

test('the controller manager gives a Deployment its ReplicaSet', async () => {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  await apps.createNamespacedDeployment({
    namespace: 'em-it',
    body: {
      metadata: { name: 'd1' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'd1' } },
        template: { metadata: { labels: { app: 'd1' } }, spec: { containers: [{ name: 'c', image: 'registry.invalid/none:1' }] } },
      },
    },
  });
  const rs = await waitFor(
    'a ReplicaSet owned by d1',
    async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: 'em-it' });
      return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'd1'));
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(rs.spec?.replicas, 1);
});

test('CloudCore serves its CA as DER matching its CA secret, and the join token exists', async () => {
  const s = cluster.state();
  const r = await httpGet(`https://127.0.0.1:${s.ports.cloudhubHttps}/ca.crt`, { verify: false });
  assert.equal(r.status, 200);
  assert.equal(r.body[0], 0x30, 'DER starts with an ASN.1 SEQUENCE');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const caSecret = await core.readNamespacedSecret({ name: 'casecret', namespace: 'kubeedge' });
  assert.ok(caSecret.data?.cadata);
  assert.ok(Buffer.from(caSecret.data.cadata, 'base64').equals(r.body), '/ca.crt equals casecret cadata');
  const token = await core.readNamespacedSecret({ name: 'tokensecret', namespace: 'kubeedge' });
  const tokenText = Buffer.from(token.data?.tokendata ?? '', 'base64').toString();
  assert.equal(tokenText.split('.').length, 4, 'token is <caHash>.<jwt>');
  const { createHash } = await import('node:crypto');
  assert.equal(tokenText.split('.')[0], createHash('sha256').update(r.body).digest('hex'), 'token carries the CA hash');
});

test('up when already up says so and shows status', async () => {
  const r = await runCli([...cluster.args, 'cluster', 'up']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /already up/);
  assert.match(r.stdout, /kube-apiserver\s+\d+/);
});

test('logs prints a component log; an unknown component lists the valid ones', async () => {
  const r = await runCli([...cluster.args, 'cluster', 'logs', 'cloudcore', '--tail', '5']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.trim().split('\n').length <= 5);
  const bad = await runCli([...cluster.args, 'cluster', 'logs', 'kubelet']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /EM_UNKNOWN_COMPONENT.*\n.*etcd, kube-apiserver/);
});

test('down stops every component and leaves no process behind; logs are kept', async () => {
  const s = cluster.state();
  const records = componentNames.map((n) => s.components[n]!);
  const r = await runCli([...cluster.args, 'cluster', 'down']);
  assert.equal(r.code, 0, r.stderr);
  for (const p of records) {
    assert.equal(isSameProcess(p.pid, p.startTicks), false, `${p.binary} (pid ${p.pid}) still runs`);
    // No process of this cluster's binaries may remain (other clusters on the
    // machine use other state directories and would be listed in their logs).
    const left = pidsOfExecutable(p.binary).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cluster.stateDir));
    assert.deepEqual(left, [], `${p.binary} left running`);
    assert.ok(readFileSync(p.log, 'utf8').length > 0, `log kept: ${p.log}`);
  }
  const st = await runCli([...cluster.args, 'cluster', 'status']);
  assert.equal(st.code, 3, 'status exits 3 when not healthy');
});
