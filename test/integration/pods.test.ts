/**
 * Pods on hollow edge nodes, on the real control plane: a Deployment of 100
 * over 20 nodes runs and is Ready; the runner is SIGKILLed and restarted and
 * no pod is recreated (same UIDs) while status updates resume; scaled to 0,
 * every pod is gone and none is left Terminating. Also: a pod over the node's
 * capacity is rejected as the kubelet rejects it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { startTestFleet, upTestCluster, type TestCluster, type TestFleet } from './harness.js';

const NODES = 20;
const REPLICAS = 100;
const NS = 'pods-it';
let cluster: TestCluster;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let runner: TestFleet | undefined;

/** The nodes in one worker process, so that the test can SIGKILL it as a crash would. */
function startRunner(): Promise<TestFleet> {
  return startTestFleet(cluster, { count: NODES, prefix: 'pods-it-', joinRate: 20, workers: 1 });
}

const podReady = (p: k8s.V1Pod) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function pods(): Promise<k8s.V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: NS })).items;
}

before(async () => {
  cluster = await upTestCluster();
  const kc = loadKubeConfig(cluster.state().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  runner = await startRunner();
  await waitFor(
    `${NODES} Ready edge nodes`,
    async () => {
      const n = (await core.listNode({ labelSelector: 'node-role.kubernetes.io/edge' })).items;
      return n.length === NODES && n.every((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 1000 },
  );
});

after(async () => {
  await runner?.stop();
  if (cluster) await cluster.down();
});

test(`a Deployment of ${REPLICAS} over ${NODES} hollow nodes: all Running and Ready`, async () => {
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { 'node-role.kubernetes.io/edge': '' },
            containers: [{ name: 'c', image: 'registry.invalid/web:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
          },
        },
      },
    },
  });
  const list = await waitFor(
    'all pods Running and Ready',
    async () => {
      const p = await pods();
      return p.length === REPLICAS && p.every(podReady) ? p : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  const nodes = new Set(list.map((p) => p.spec?.nodeName));
  assert.ok(nodes.size > 1 && [...nodes].every((n) => n?.startsWith('pods-it-')));
  for (const p of list) {
    assert.match(p.status?.podIP ?? '', /^10\.\d+\.\d+\.\d+$/);
    assert.match(p.status?.containerStatuses?.[0]?.containerID ?? '', /^containerd:\/\//);
    assert.equal(p.status?.hostIP, (await core.readNode({ name: p.spec!.nodeName! })).status?.addresses?.[0]?.address);
  }
});

test('the runner is killed and restarted: 0 pods recreated, all still Running, status updates resume', async () => {
  const before = new Set((await pods()).map((p) => p.metadata!.uid!));
  assert.equal(before.size, REPLICAS);
  const [pid] = runner!.fleet.processes();
  assert.ok(pid && pid !== process.pid, 'the nodes run in a worker process');
  process.kill(pid, 'SIGKILL');
  // The runtime notices the crash by itself and ends the fleet with the reason.
  const crashed = await runner!.fleet.done;
  assert.equal(crashed.fatal?.code, 'EM_WORKER_FAILED', JSON.stringify(crashed.fatal));
  assert.match(crashed.fatal?.message ?? '', /SIGKILL/);
  runner = await startRunner();
  // A node whose first reconnects are refused backs off as edgecore does (2 s doubling to 60 s, with
  // jitter): five refusals are a minute. The bound covers that; a failure says where the nodes were.
  await waitFor('the restarted runner to be ready', async () => (runner!.summary()?.states.ready === NODES ? true : undefined), {
    timeoutMs: 150_000,
    intervalMs: 500,
  }).catch((err: unknown) => {
    const s = runner!.summary();
    throw new Error(`${(err as Error).message}; states ${JSON.stringify(s?.states)}, reconnects ${s?.reconnects}, errors ${JSON.stringify(s?.errors)}`);
  });
  const after = await pods();
  assert.equal(after.length, REPLICAS);
  assert.deepEqual(new Set(after.map((p) => p.metadata!.uid!)), before, 'same UIDs: nothing recreated');
  assert.ok(after.every(podReady));
  // Status updates resume: a deletion after the restart completes through the nodes.
  const victim = after[0]!;
  await core.deleteNamespacedPod({ name: victim.metadata!.name!, namespace: NS });
  await waitFor(
    'the deleted pod to be gone and replaced',
    async () => {
      const p = await pods();
      return !p.some((x) => x.metadata?.uid === victim.metadata?.uid) && p.length === REPLICAS && p.every(podReady) ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
});

test('scaled to 0: every pod is gone, none left Terminating', async () => {
  await apps.patchNamespacedDeploymentScale(
    { name: 'web', namespace: NS, body: { spec: { replicas: 0 } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await waitFor('no pods left', async () => ((await pods()).length === 0 ? true : undefined), { timeoutMs: 90_000, intervalMs: 1000 });
});

test('a pod over the node capacity is rejected as the kubelet rejects it', async () => {
  const node = 'pods-it-0';
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'too-big' },
      // Bound directly to the node, past the scheduler, as a kubelet can see it.
      spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.invalid/big:1', resources: { requests: { cpu: '64' } } }] },
    },
  });
  const p = await waitFor(
    'the pod to be rejected',
    async () => {
      const x = await core.readNamespacedPod({ name: 'too-big', namespace: NS });
      return x.status?.phase === 'Failed' ? x : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.equal(p.status?.reason, 'OutOfcpu');
  assert.match(p.status?.message ?? '', /Node didn't have enough resource: cpu, requested: 64000, used: \d+, capacity: 2000/);
});

function podWith(name: string, node: string, cm: string, secret: string): k8s.V1Pod {
  return {
    metadata: { name },
    spec: {
      nodeName: node,
      containers: [
        {
          name: 'c',
          image: 'registry.invalid/app:1',
          envFrom: [{ configMapRef: { name: cm } }],
          volumeMounts: [
            { name: 's', mountPath: '/s' },
            { name: 'tok', mountPath: '/var/run/tok' },
          ],
        },
      ],
      volumes: [
        { name: 's', secret: { secretName: secret } },
        { name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'edgemark' } }] } },
      ],
    },
  };
}

test('a pod with a ConfigMap, a Secret and a projected token goes Running once the node fetched them', async () => {
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cm1' }, data: { K: 'v' } } });
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 's1' }, stringData: { p: 'w' } } });
  await core.createNamespacedPod({ namespace: NS, body: podWith('with-deps', 'pods-it-1', 'cm1', 's1') });
  const p = await waitFor(
    'with-deps Running',
    async () => {
      const x = await core.readNamespacedPod({ name: 'with-deps', namespace: NS });
      return podReady(x) ? x : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.equal(p.status?.phase, 'Running');
});

test('a pod created before its ConfigMap waits (CreateContainerConfigError) until the ConfigMap exists', async () => {
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 's2' }, stringData: { p: 'w' } } });
  await core.createNamespacedPod({ namespace: NS, body: podWith('early', 'pods-it-2', 'cm-late', 's2') });
  const waiting = await waitFor(
    'early to report its missing ConfigMap',
    async () => {
      const x = await core.readNamespacedPod({ name: 'early', namespace: NS });
      const w = x.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? w : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.equal(waiting.message, 'configmap "cm-late" not found');
  await new Promise((r) => setTimeout(r, 6000));
  assert.equal((await core.readNamespacedPod({ name: 'early', namespace: NS })).status?.phase, 'Pending', 'still not Running');
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cm-late' }, data: { K: 'v' } } });
  await waitFor(
    'early Running after its ConfigMap was created',
    async () => {
      const x = await core.readNamespacedPod({ name: 'early', namespace: NS });
      return podReady(x) ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
});

test('a Job completes on a hollow node (job lifecycle: Running, then Succeeded)', async () => {
  const batch = loadKubeConfig(cluster.state().kubeconfig).makeApiClient(k8s.BatchV1Api);
  await batch.createNamespacedJob({
    namespace: NS,
    body: {
      metadata: { name: 'once' },
      spec: {
        template: {
          spec: { restartPolicy: 'Never', nodeSelector: { 'node-role.kubernetes.io/edge': '' }, containers: [{ name: 'c', image: 'registry.invalid/job:1' }] },
        },
      },
    },
  });
  await waitFor(
    'the Job to succeed',
    async () => {
      const j = await batch.readNamespacedJob({ name: 'once', namespace: NS });
      return j.status?.succeeded === 1 ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
});

test('a pod annotated for the crashloop lifecycle reports container restarts', async () => {
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'crashy', annotations: { 'edgemark.io/lifecycle': 'crashloop' } },
      spec: { nodeName: 'pods-it-3', automountServiceAccountToken: false, containers: [{ name: 'c', image: 'registry.invalid/crash:1' }] },
    },
  });
  await waitFor(
    'a restart',
    async () => {
      const p = await core.readNamespacedPod({ name: 'crashy', namespace: NS });
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && p.status?.phase === 'Running' ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
});

test("a DaemonSet that tolerates the edge nodes' taint lands on tainted hollow nodes", async () => {
  const tainted = await startTestFleet(cluster, {
    count: 2,
    prefix: 'tainted-',
    profile: { taints: [{ key: 'edgemark.io/dedicated', value: 'edge', effect: 'NoSchedule' }], labels: { pool: 'tainted' } },
  });
  try {
    await apps.createNamespacedDaemonSet({
      namespace: NS,
      body: {
        metadata: { name: 'agent' },
        spec: {
          selector: { matchLabels: { app: 'agent' } },
          template: {
            metadata: { labels: { app: 'agent' } },
            spec: {
              nodeSelector: { pool: 'tainted' },
              tolerations: [{ key: 'edgemark.io/dedicated', operator: 'Exists', effect: 'NoSchedule' }],
              containers: [{ name: 'c', image: 'registry.invalid/agent:1' }],
            },
          },
        },
      },
    });
    await waitFor(
      'the DaemonSet Ready on both tainted nodes',
      async () => {
        const d = await apps.readNamespacedDaemonSet({ name: 'agent', namespace: NS });
        return d.status?.desiredNumberScheduled === 2 && d.status.numberReady === 2 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const node = await core.readNode({ name: 'tainted-0' });
    assert.deepEqual(
      node.spec?.taints?.map((t) => t.key),
      ['edgemark.io/dedicated'],
    );
  } finally {
    await tainted.stop();
  }
});
