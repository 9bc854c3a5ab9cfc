/**
 * Scale-out on a real kubelet and containerd: a local cluster with one real
 * worker node (`cluster up --workers 1`) is both the external cluster (the
 * runner pods run on its worker) and the cluster under test (the hollow
 * nodes join its CloudCore). One cluster, not two: on a 2-core machine a
 * second control plane would take the CPU the test measures, and the seeds'
 * two roles stay apart all the same (--external-kubeconfig names where the
 * pods run, the target flags where the nodes join; runner pods never land on
 * edge nodes). The runner image is built with `edgemark image build` and
 * imported into the worker's containerd.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import type { RunRecord } from '../../src/run/results.js';
import { runCli, upTestCluster, type CliResult, type TestCluster } from './harness.js';

let c: TestCluster;
let kc: k8s.KubeConfig;
const work = mkdtempSync(join(tmpdir(), 'em-fleet-'));

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);

before(async () => {
  c = await upTestCluster(['--workers', '1']);
  kc = loadKubeConfig(c.state().kubeconfig);
  const archive = join(work, 'edgemark.tar');
  ok(await runCli(['--cache-dir', c.args[3]!, 'image', 'build', '--out', archive], { timeoutMs: 600_000 }), 'image build');
  ok(await runCli([...c.args, 'cluster', 'import-image', archive], { timeoutMs: 300_000 }), 'import-image');
});

after(async () => {
  if (c) {
    await runCli([...c.args, 'fleet', 'cleanup', '--external-kubeconfig', c.state().kubeconfig]).catch(() => undefined);
    const d = await c.down();
    assert.equal(d.code, 0, d.stderr);
  }
  // The image archive (145 MiB) and the run's artifacts.
  rmSync(work, { recursive: true, force: true });
});

const fleet = (verb: string[], extra: string[] = [], timeoutMs = 600_000) =>
  runCli([...c.args, 'fleet', ...verb, '--external-kubeconfig', c.state().kubeconfig, ...extra], { timeoutMs });

async function nodeUids(prefix: string): Promise<Map<string, string>> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNode({ labelSelector: 'edgemark.io/fleet=edgemark' });
  return new Map(list.items.filter((n) => n.metadata!.name!.startsWith(prefix)).map((n) => [n.metadata!.name!, n.metadata!.uid!]));
}

async function runnerPods(): Promise<k8s.V1Pod[]> {
  return (await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'edgemark', labelSelector: 'app.kubernetes.io/component=runner' })).items;
}

test('setup: the external cluster answers, RBAC is enough, and a Job on the worker reaches CloudCore and kube-apiserver with the token', async () => {
  const r = await fleet(['setup']);
  ok(r, 'setup');
  assert.match(r.stderr, /ok {4}the external cluster https:\/\/127\.0\.0\.1:\d+ answers/);
  assert.match(r.stderr, /ok {4}RBAC: may create statefulsets/);
  assert.match(r.stderr, /ok {4}CloudCore https:\/\/127\.0\.0\.1:\d+ serves the CA of the token, and takes the token/);
  assert.match(r.stderr, /ok {4}kube-apiserver 127\.0\.0\.1:\d+ answers/);
  assert.match(r.stderr, /setup: the external cluster can run the fleet/);
});

test('bad input is refused before anything is created, each with its fix', async () => {
  // Unreachable external cluster.
  const dead = join(work, 'dead.kubeconfig');
  writeFileSync(
    dead,
    `apiVersion: v1\nkind: Config\nclusters: [{name: d, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: d, context: {cluster: d, user: u}}]\ncurrent-context: d\n`,
  );
  let r = await runCli([...c.args, 'fleet', 'create', '100', '--nodes-per-pod', '50', '--external-kubeconfig', dead]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /EM_EXTERNAL_UNREACHABLE: \[fleet\] the external cluster https:\/\/127\.0\.0\.1:1 does not answer/);
  assert.match(r.stderr, /fix: check that it runs/);
  // Missing RBAC: a service account with no role.
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'em-nobody' } } });
  const tr = await core.createNamespacedServiceAccountToken({
    name: 'em-nobody',
    namespace: 'default',
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster()!;
  const weak = join(work, 'weak.kubeconfig');
  writeFileSync(
    weak,
    `apiVersion: v1\nkind: Config\nclusters: [{name: w, cluster: {server: "${cluster.server}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: "${tr.status!.token}"}}]\ncontexts: [{name: w, context: {cluster: w, user: u}}]\ncurrent-context: w\n`,
    { mode: 0o600 },
  );
  r = await runCli([...c.args, 'fleet', 'setup', '--external-kubeconfig', weak]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /EM_EXTERNAL_RBAC: \[fleet\] the external cluster's credentials may not, in namespace edgemark: create apps\/statefulsets/);
  assert.ok(!r.stderr.includes(tr.status!.token!), 'the token is never printed');
  // CloudCore unreachable from the pods: the setup Job names it.
  r = await fleet(['setup'], ['--cloudcore', '127.0.0.1:1', '--cloudcore-https', '127.0.0.1:2', '--kubeconfig', c.state().kubeconfig]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FAIL {2}CloudCore websocket 127\.0\.0\.1:1 answers/);
  assert.match(r.stderr, /EM_FLEET_CONNECTIVITY/);
  // A wrong token (well formed, another CA): the Job says CloudCore refuses it.
  const wrong = `${'0'.repeat(64)}.eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln`;
  r = await fleet(['setup'], ['--token', wrong]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FAIL {2}CloudCore https:\/\/127\.0\.0\.1:\d+ serves the CA of the token.*not the one the join token names/);
  assert.ok(!r.stderr.includes(wrong) && !r.stdout.includes(wrong), 'the token is never printed');
  // An image that is not on the node.
  r = await fleet(['create', '50', '--nodes-per-pod', '50', '--name', 'noimage', '--image', 'localhost/edgemark:missing'], [], 180_000);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /EM_IMAGE_NOT_PRESENT: .*ErrImageNeverPull: the image localhost\/edgemark:missing is not on that node and the pull policy is Never/);
  assert.match(r.stderr, /fix: build it with `edgemark image build` and import it/);
  ok(await fleet(['cleanup', '--name', 'noimage']), 'cleanup noimage');
  // A count that does not divide into pods: the plan is printed.
  r = await fleet(['create', '210', '--nodes-per-pod', '50']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /210 nodes do not divide into pods of 50: plan nodes 210 x edge \(hollow-edge-0\.\.\)/);
  assert.equal((await runnerPods()).length, 0, 'nothing was created');
});

let first: Map<string, string>;

test('create 200 with 50 per pod: 4 runner pods Running on the real worker, 200 hollow nodes Ready; verify says so', async () => {
  ok(await fleet(['create', '200', '--nodes-per-pod', '50']), 'create');
  const pods = await runnerPods();
  assert.equal(pods.length, 4);
  const worker = (await kc.makeApiClient(k8s.CoreV1Api).listNode({ labelSelector: 'edgemark.io/worker=true' })).items[0]!.metadata!.name!;
  for (const p of pods) {
    assert.equal(p.status?.phase, 'Running', p.metadata!.name);
    assert.equal(p.spec?.nodeName, worker, 'on the real worker');
  }
  const v = await fleet(['verify']);
  ok(v, 'verify');
  assert.match(v.stdout, /200\/200 hollow nodes Ready on .*; 4\/4 runner pods Ready/);
  first = await nodeUids('hollow-edge-');
  assert.equal(first.size, 200);
});

test('scale 300: 300 Ready; the first 200 keep their names and do not register again', async () => {
  ok(await fleet(['scale', '300']), 'scale');
  const now = await nodeUids('hollow-edge-');
  assert.equal(now.size, 300);
  for (const [name, uid] of first) assert.equal(now.get(name), uid, `${name} is the same Node object`);
  assert.equal((await runnerPods()).length, 6);
});

test('where and logs answer for a node of the third pod', async () => {
  const w = await fleet(['where', 'hollow-edge-120']);
  ok(w, 'where');
  assert.match(w.stdout, /^hollow-edge-120: pod edgemark\/edgemark-runner-2, container runner, external node \S+, pod IP \S+/m);
  const l = await fleet(['logs', 'hollow-edge-120']);
  ok(l, 'logs');
  const lines = l.stdout.trim().split('\n');
  assert.ok(lines.length >= 1, l.stdout);
  for (const line of lines) assert.match(line, /node hollow-edge-120:/);
  assert.ok(
    lines.some((x) => /node hollow-edge-120: ready/.test(x)),
    l.stdout,
  );
});

async function boundPods(): Promise<Map<string, { uid: string; phase: string | undefined }>> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'default', labelSelector: 'app=on-pod-1' });
  return new Map(list.items.map((p) => [p.metadata!.name!, { uid: p.metadata!.uid!, phase: p.status?.phase }]));
}

test('a runner pod deleted through the API: its 50 nodes are Ready again under the same names, no duplicate Node; their pods stay, not recreated', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  // Pods bound to nodes of runner pod 1 (nodes 50..99).
  for (const i of [50, 60, 70, 80, 90]) {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: `on-pod-1-${i}`, labels: { app: 'on-pod-1' } },
        spec: { nodeName: `hollow-edge-${i}`, containers: [{ name: 'c', image: 'example.invalid/app:1' }] },
      },
    });
  }
  const t0 = Date.now();
  while ([...(await boundPods()).values()].some((p) => p.phase !== 'Running')) {
    assert.ok(Date.now() - t0 < 120_000, `pods not Running: ${JSON.stringify([...(await boundPods())])}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
  const podsBefore = await boundPods();
  const before = await nodeUids('hollow-edge-');
  await core.deleteNamespacedPod({ name: 'edgemark-runner-1', namespace: 'edgemark' });
  // The StatefulSet brings pod 1 back; its nodes rejoin.
  const started = Date.now();
  for (;;) {
    const v = await fleet(['verify']);
    if (v.code === 0 && Date.now() - started > 5000) break;
    assert.ok(Date.now() - started < 300_000, `not Ready again in 300 s:\n${v.stdout}`);
    await new Promise((r) => setTimeout(r, 3000));
  }
  const after = await nodeUids('hollow-edge-');
  assert.equal(after.size, 300, 'no duplicate, none missing');
  for (let i = 50; i < 100; i++) assert.equal(after.get(`hollow-edge-${i}`), before.get(`hollow-edge-${i}`), `hollow-edge-${i}: the same Node object`);
  // The store was the deleted pod's (an emptyDir): the pods on its nodes are the same objects, and Running again.
  const t1 = Date.now();
  for (;;) {
    const now = await boundPods();
    for (const [name, p] of podsBefore) assert.equal(now.get(name)?.uid, p.uid, `${name} not recreated`);
    if ([...now.values()].every((p) => p.phase === 'Running')) break;
    assert.ok(Date.now() - t1 < 120_000, `pods not Running after the rejoin: ${JSON.stringify([...now])}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
  await core.deleteCollectionNamespacedPod({ namespace: 'default', labelSelector: 'app=on-pod-1', gracePeriodSeconds: 0 });
});

test('run --runtime kubernetes --profile density writes the same artifacts as a local run', async () => {
  const out = join(work, 'runs');
  const r = await runCli(
    [
      ...c.args,
      'run',
      '--profile',
      'density',
      '--nodes',
      '50',
      '--runtime',
      'kubernetes',
      '--nodes-per-pod',
      '50',
      '--out',
      out,
      '--external-kubeconfig',
      c.state().kubeconfig,
    ],
    {
      timeoutMs: 1_200_000,
    },
  );
  // 3: an SLO failed, which a 2-core machine may see; the run itself completed.
  assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}\n${r.stderr}`);
  const dir = /report: (.*)\/report\.html/.exec(r.stderr + r.stdout)?.[1];
  assert.ok(dir, r.stderr);
  const files = readdirSync(dir).sort();
  for (const f of ['summary.json', 'report.html', 'junit.xml', 'test.yaml', 'runner.log']) assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  const rec = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunRecord;
  assert.equal(rec.partial, false, rec.failure);
  const runner = rec.resourceSources?.find((s) => s.name === 'runner');
  assert.equal(runner?.how, 'metrics', JSON.stringify(runner));
  assert.ok((runner?.samples ?? 0) > 0, 'the runner pods were sampled');
  assert.ok(rec.sli.podStartup.createdToRunningSeen.count > 0, 'pod startup measured');
  assert.ok(rec.sli.delivery.cloudToEdge.count > 0, 'milestones came back from the pods (cloud-to-edge delivery)');
  assert.equal((await runnerPods()).filter((p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === 'edgemark-run').length, 0, 'its runner pods are gone');
});

test('kubelet nodes on the kubernetes runtime: 20 hollow kubelets in a runner pod on the real worker, Ready as system:node:<name> by TLS bootstrap', {
  timeout: 600_000,
}, async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const run = runCli(
    [
      ...c.args,
      'nodes',
      'run',
      '--kind',
      'kubelet',
      '-n',
      '20',
      '--prefix',
      'it-kpod-',
      '--runtime',
      'kubernetes',
      '--external-kubeconfig',
      c.state().kubeconfig,
      '--duration',
      '120',
    ],
    { timeoutMs: 400_000 },
  );
  const ready = await waitFor(
    '20 kubelet nodes of the runner pod Ready',
    async () => {
      const nodes = (await core.listNode()).items.filter(
        (n) => n.metadata?.name?.startsWith('it-kpod-') && n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
      );
      return nodes.length === 20 ? nodes : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 2000 },
  );
  assert.ok(ready.every((n) => n.spec?.providerID?.startsWith('kubemark://')));
  // The nodes run in the pod, not here: the pod is on the worker and holds their lease writes.
  const pods = (await runnerPods()).filter((p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === 'edgemark-nodes');
  assert.equal(pods.length, 1);
  assert.ok(pods[0]!.spec?.nodeName && !pods[0]!.spec.nodeName.startsWith('it-kpod-'), 'the runner pod is on the real worker');
  const secret = await core.readNamespacedSecret({ name: 'edgemark-nodes-token', namespace: 'edgemark' });
  assert.ok(secret.data?.['bootstrap-token'], 'the bootstrap token travels in the fleet Secret');
  const csrs = (await kc.makeApiClient(k8s.CertificatesV1Api).listCertificateSigningRequest()).items;
  assert.ok(
    csrs.filter((x) => /^system:bootstrap:/.test(x.spec.username ?? '') && x.status?.certificate).length >= 20,
    'each node was issued its certificate by the controller manager',
  );
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    (await runnerPods()).filter((p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === 'edgemark-nodes').length,
    0,
    'the runner pod went with the run',
  );
  for (const n of ready) await core.deleteNode({ name: n.metadata!.name! }).catch(() => undefined);
});

test('cleanup leaves no object of its own on either cluster', async () => {
  ok(await fleet(['cleanup']), 'cleanup');
  const core = kc.makeApiClient(k8s.CoreV1Api);
  assert.equal((await nodeUids('hollow-edge-')).size, 0, 'no hollow Node');
  const leases = await kc.makeApiClient(k8s.CoordinationV1Api).listNamespacedLease({ namespace: 'kube-node-lease' });
  assert.equal(leases.items.filter((l) => l.metadata!.name!.startsWith('hollow-edge-')).length, 0, 'no hollow Lease');
  const nss = await core.listNamespace();
  assert.ok(!nss.items.some((n) => n.metadata!.name === 'edgemark' && !n.metadata!.deletionTimestamp), 'the namespace it created is gone or going');
});
