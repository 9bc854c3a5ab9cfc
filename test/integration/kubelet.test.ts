/**
 * Hollow kubelet nodes against the real kube-apiserver and controller manager
 * of `edgemark cluster up`: 200 nodes join by TLS bootstrap (a bootstrap
 * token, a CSR the controller manager approves and signs) and are Ready as
 * system:node:<name>; the Node authorizer and NodeRestriction keep each to its
 * own lease and status; a Deployment of 1,000 pods runs on them and is
 * deleted with none stuck Terminating; a restarted runner resumes its nodes
 * and pods without a new identity or a new Node; a wrong, malformed or
 * denied credential stops the run with its code; given node kubeconfigs
 * (one per node, or one shared) stand in for TLS bootstrap; a mixed run of edge and
 * kubelet nodes with the density profile gives SLIs for both kinds.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import { findKubemarkBinary, pathDifferences, type PathDifference } from '../../bench/lib/kubemark.js';
import { loadCa, pkiPaths } from '../../src/cluster/pki.js';
import { defaultCacheDir, packageRoot } from '../../src/core/paths.js';
import { createCa, issueLeaf } from '../../src/core/x509.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import type { RunRecord } from '../../src/run/results.js';
import { BOOTSTRAP_GROUP, checkBootstrapTokenSecret, createBootstrapToken, ensureBootstrapRbac } from '../../src/target/bootstrap-token.js';
import { runCli, startTestFleet, upTestCluster, type TestCluster, type TestFleet } from './harness.js';

const COUNT = 200;
const PREFIX = 'it-kubelet-';
const NS = 'it-kubelet';
let cluster: TestCluster;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let fleet: TestFleet | undefined;
let dataDir: string;

before(async () => {
  cluster = await upTestCluster();
  kc = loadKubeConfig(cluster.state().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  dataDir = join(cluster.stateDir, 'runner-kubelet');
});

after(async () => {
  await fleet?.stop();
  await cluster?.down();
});

const start = () => startTestFleet(cluster, { kind: 'kubelet', count: COUNT, prefix: PREFIX, joinRate: 50, dataDir });

async function readyNodes(): Promise<k8s.V1Node[]> {
  const nodes = await core.listNode();
  return nodes.items.filter((n) => n.metadata?.name?.startsWith(PREFIX) && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

/** One request as a node, with its own certificate. */
function asNode(node: string, method: string, path: string, body: unknown, contentType = 'application/merge-patch+json'): Promise<number> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const certs = join(dataDir, 'kubelet-certs');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: server.hostname,
        port: server.port,
        method,
        path,
        ca: Buffer.from(kc.getCurrentCluster()!.caData ?? '', 'base64').toString() || readFileSync(kc.getCurrentCluster()!.caFile!),
        cert: readFileSync(join(certs, `${node}.crt`)),
        key: readFileSync(join(certs, `${node}.key`)),
        headers: { 'content-type': contentType },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

test(`${COUNT} kubelet nodes join by TLS bootstrap and are Ready as system:node:<name>`, { timeout: 240_000 }, async () => {
  const t0 = Date.now();
  fleet = await start();
  await waitFor(`${COUNT} kubelet nodes Ready`, async () => ((await readyNodes()).length === COUNT ? true : undefined), {
    timeoutMs: 180_000,
    intervalMs: 2000,
  });
  console.log(`# ${COUNT} kubelet nodes Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const certApi = kc.makeApiClient(k8s.CertificatesV1Api);
  const csrs = (await certApi.listCertificateSigningRequest()).items.filter((c) => c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet');
  assert.equal(csrs.length, COUNT, 'one CSR per node');
  for (const c of csrs) {
    assert.match(c.spec.username ?? '', /^system:bootstrap:[a-z0-9]{6}$/, 'sent with the bootstrap token');
    assert.ok(
      c.status?.conditions?.some((x) => x.type === 'Approved' && x.status === 'True'),
      `${c.metadata?.name} approved by the controller manager`,
    );
    assert.ok(c.status?.certificate, 'and signed');
  }
  for (const name of [`${PREFIX}0`, `${PREFIX}${COUNT - 1}`]) {
    const cert = new X509Certificate(readFileSync(join(dataDir, 'kubelet-certs', `${name}.crt`)));
    assert.match(cert.subject, new RegExp(`CN=system:node:${name}`));
    assert.match(cert.subject, /O=system:nodes/);
    assert.ok(cert.checkIssued(new X509Certificate(Buffer.from(kc.getCurrentCluster()!.caData ?? '', 'base64'))), "issued by the cluster's signer");
  }
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  const lease = await coord.readNamespacedLease({ name: `${PREFIX}7`, namespace: 'kube-node-lease' });
  assert.equal(lease.spec?.holderIdentity, `${PREFIX}7`);
  assert.equal(lease.metadata?.ownerReferences?.[0]?.kind, 'Node');
  const storage = kc.makeApiClient(k8s.StorageV1Api);
  const csinode = await storage.readCSINode({ name: `${PREFIX}7` });
  assert.equal(csinode.metadata?.ownerReferences?.[0]?.name, `${PREFIX}7`);
  const node = await core.readNode({ name: `${PREFIX}7` });
  assert.equal(node.spec?.providerID, `kubemark://${PREFIX}7`, 'the kubemark shape by default');
  assert.equal(node.status?.capacity?.memory, '3840Mi');
});

test("a hollow kubelet's Node and CSINode have the field paths of the real kubemark's (kubemark shape), but for the known differences", {
  timeout: 120_000,
}, async () => {
  const binary = findKubemarkBinary(defaultCacheDir());
  assert.ok(binary, 'the real kubemark is built: run `edgemark setup --peers`');
  const tmp = mkdtempSync(join(tmpdir(), 'em-kubemark-'));
  // kubemark makes its root, pod and log dirs as /tmp/hollow-kubelet.<n> whatever TMPDIR says: the ones it made are removed after.
  const hollowDirs = () => readdirSync('/tmp').filter((d) => d.startsWith('hollow-kubelet.'));
  const existing = new Set(hollowDirs());
  const name = 'it-real-kubemark';
  // As the hollow-node template runs it, with the fake image service (there is no containerd here); its temporary dirs go under tmp.
  const km = spawn(binary, ['--morph=kubelet', `--name=${name}`, `--kubeconfig=${cluster.state().kubeconfig}`, '--use-host-image-service=false', '--v=0'], {
    cwd: tmp,
    env: { ...process.env, TMPDIR: tmp },
    stdio: 'ignore',
  });
  try {
    const real = await waitFor(
      'the real kubemark Ready',
      async () => {
        const n = await core.readNode({ name }).catch(() => undefined);
        return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const storage = kc.makeApiClient(k8s.StorageV1Api);
    const realCsi = await waitFor('its CSINode', () => storage.readCSINode({ name }).catch(() => undefined), { timeoutMs: 30_000, intervalMs: 500 });
    const ours = await core.readNode({ name: `${PREFIX}7` });
    const oursCsi = await storage.readCSINode({ name: `${PREFIX}7` });
    const found = [...pathDifferences('Node', real, ours), ...pathDifferences('CSINode', realCsi, oursCsi)];
    const known = (
      JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'kubelet-known-differences.json'), 'utf8')) as { differences: PathDifference[] }
    ).differences;
    const key = (d: Omit<PathDifference, 'why'>) => `${d.object} ${d.only} ${d.path}`;
    const knownKeys = new Set(known.map(key));
    assert.deepEqual(
      found.filter((d) => !knownKeys.has(key(d))),
      [],
      'differences not in test/fixtures/kubelet-known-differences.json',
    );
    const foundKeys = new Set(found.map(key));
    assert.deepEqual(known.filter((d) => !foundKeys.has(key(d))).map(key), [], 'listed differences that no longer occur');
    // The values kubemark is known by.
    for (const f of ['kubeletVersion', 'containerRuntimeVersion', 'osImage', 'kernelVersion', 'machineID'] as const) {
      assert.equal(ours.status?.nodeInfo?.[f], real.status?.nodeInfo?.[f], `nodeInfo.${f}`);
    }
    assert.deepEqual(ours.status?.capacity, real.status?.capacity);
    assert.deepEqual(ours.status?.allocatable, real.status?.allocatable);
    assert.deepEqual(ours.metadata?.labels && Object.keys(ours.metadata.labels).sort(), Object.keys(real.metadata?.labels ?? {}).sort());
    assert.deepEqual(oursCsi.metadata?.annotations, realCsi.metadata?.annotations);
    const managers = (n: k8s.V1Node) => [...new Set((n.metadata?.managedFields ?? []).map((m) => `${m.manager} ${m.operation} ${m.subresource ?? ''}`))].sort();
    assert.deepEqual(managers(ours), managers(real), 'the same field managers (hollow-kubelet) for the same operations');
  } finally {
    km.kill('SIGKILL');
    await new Promise((r) => km.once('exit', r));
    await core.deleteNode({ name }).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
    for (const d of hollowDirs()) if (!existing.has(d)) rmSync(join('/tmp', d), { recursive: true, force: true });
  }
});

test('the Node authorizer and NodeRestriction keep a node to its own lease and status', async () => {
  const a = `${PREFIX}1`;
  const b = `${PREFIX}2`;
  const leasePath = (n: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n}`;
  const patch = { metadata: { labels: { 'edgemark.io/touched': 'yes' } } };
  assert.equal(await asNode(a, 'PATCH', leasePath(a), patch), 200, 'its own lease');
  assert.equal(await asNode(a, 'PATCH', leasePath(b), patch), 403, "another node's lease");
  const status = { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'Hijacked' }] } };
  assert.equal(await asNode(a, 'PATCH', `/api/v1/nodes/${b}/status`, status, 'application/strategic-merge-patch+json'), 403, "another node's status");
  assert.equal(await asNode(a, 'GET', `/api/v1/nodes/${a}`, undefined), 200, 'reads its own Node');
  assert.equal(await asNode(a, 'DELETE', `/api/v1/nodes/${b}`, undefined), 403, 'cannot delete another Node');
  const other = await core.readNode({ name: b });
  assert.ok(
    other.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    'the other node is untouched',
  );
});

test('a Deployment of 1,000 pods runs Ready on them and is deleted, none stuck Terminating', { timeout: 420_000 }, async () => {
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const t0 = Date.now();
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 1000,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '1m', memory: '1Mi' } } }] },
        },
      },
    },
  });
  await waitFor(
    '1,000 pods available',
    async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace: NS });
      return d.status?.availableReplicas === 1000 ? true : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 2000 },
  );
  console.log(`# 1,000 pods available in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const pods = (await core.listNamespacedPod({ namespace: NS })).items;
  const ips = new Set(pods.map((p) => p.status?.podIP));
  assert.equal(ips.size, 1000, 'every pod has its own IP');
  assert.ok(pods.every((p) => p.spec?.nodeName?.startsWith(PREFIX) && p.status?.phase === 'Running'));
  const t1 = Date.now();
  await apps.deleteNamespacedDeployment({ name: 'web', namespace: NS });
  await waitFor('every pod gone', async () => ((await core.listNamespacedPod({ namespace: NS })).items.length === 0 ? true : undefined), {
    timeoutMs: 180_000,
    intervalMs: 2000,
  });
  console.log(`# 1,000 pods deleted in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
});

test('a restarted runner resumes its nodes and pods: the same Nodes, no new CSR, no pod recreated', { timeout: 300_000 }, async () => {
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'keep' },
      spec: {
        replicas: 100,
        selector: { matchLabels: { app: 'keep' } },
        template: { metadata: { labels: { app: 'keep' } }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } },
      },
    },
  });
  await waitFor(
    '100 pods available',
    async () => ((await apps.readNamespacedDeployment({ name: 'keep', namespace: NS })).status?.availableReplicas === 100 ? true : undefined),
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  const nodesBefore = new Map((await core.listNode()).items.map((n) => [n.metadata!.name!, n.metadata!.uid!]));
  const podsBefore = new Map((await core.listNamespacedPod({ namespace: NS })).items.map((p) => [p.metadata!.uid!, p.status?.podIP]));
  const certApi = kc.makeApiClient(k8s.CertificatesV1Api);
  const csrsBefore = (await certApi.listCertificateSigningRequest()).items.length;
  const result = await fleet!.stop();
  assert.deepEqual(result.problems, []);
  fleet = await start();
  await waitFor(`${COUNT} nodes Ready again`, async () => (fleet!.summary()?.groups.nodes?.ready === COUNT ? true : undefined), {
    timeoutMs: 120_000,
    intervalMs: 1000,
  });
  // A few renewals later: pods the runner kept report what they reported.
  await new Promise((r) => setTimeout(r, 12_000));
  const nodesAfter = (await core.listNode()).items.filter((n) => n.metadata?.name?.startsWith(PREFIX));
  assert.equal(nodesAfter.length, COUNT);
  for (const n of nodesAfter) assert.equal(n.metadata?.uid, nodesBefore.get(n.metadata!.name!), `${n.metadata?.name} is the same Node`);
  assert.equal((await certApi.listCertificateSigningRequest()).items.length, csrsBefore, 'no node asked for a new certificate');
  const podsAfter = (await core.listNamespacedPod({ namespace: NS })).items;
  assert.equal(podsAfter.length, 100);
  for (const p of podsAfter) {
    assert.ok(podsBefore.has(p.metadata!.uid!), `${p.metadata?.name} was not recreated`);
    assert.equal(p.status?.podIP, podsBefore.get(p.metadata!.uid!), 'and keeps its IP');
    assert.equal(p.status?.phase, 'Running');
  }
  const s = fleet!.summary()!;
  assert.equal(s.pods.running, 100, 'the runner holds the pods it kept: running, not admitted again');
  assert.equal(s.pods.admitted, 0);
});

/** A kubeconfig with this client certificate, at the test cluster's apiserver (key file 0600). */
function nodeKubeconfig(file: string, certPem: string, keyPem: string): string {
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  const server = kc.getCurrentCluster()!.server;
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "${server}"}\nusers:\n- name: node\n  user: {client-certificate-data: ${b64(certPem)}, client-key-data: ${b64(keyPem)}}\ncontexts:\n- name: x\n  context: {cluster: c, user: node}\ncurrent-context: x\n`,
    { mode: 0o600 },
  );
  return file;
}

test('given node kubeconfigs instead of TLS bootstrap: one identity per node from a directory, or one shared; no CSR; a wrong one refused with its fix', {
  timeout: 240_000,
}, async () => {
  const ca = await loadCa(pkiPaths(cluster.stateDir));
  const dir = mkdtempSync(join(tmpdir(), 'em-given-'));
  const certApi = kc.makeApiClient(k8s.CertificatesV1Api);
  const csrsBefore = (await certApi.listCertificateSigningRequest()).items.length;
  const ready = async (prefix: string, n: number) =>
    waitFor(
      `${n} ${prefix}* nodes Ready`,
      async () => {
        const nodes = (await core.listNode()).items.filter(
          (x) => x.metadata?.name?.startsWith(prefix) && x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return nodes.length === n ? nodes : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
  try {
    // A directory: it-given-<i>.kubeconfig, each a system:node:<name> certificate of the cluster's CA.
    const perNode = join(dir, 'nodes');
    mkdirSync(perNode);
    const leaves = [];
    for (let i = 0; i < 3; i++) {
      const leaf = await issueLeaf(ca, { subject: { cn: `system:node:it-given-${i}`, o: ['system:nodes'] }, client: true });
      nodeKubeconfig(join(perNode, `it-given-${i}.kubeconfig`), leaf.certPem, leaf.key.privatePem);
      leaves.push(leaf);
    }
    const run = runCli(
      [...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '3', '--prefix', 'it-given-', '--node-kubeconfig', perNode, '--duration', '40'],
      { timeoutMs: 120_000 },
    );
    const nodes = await ready('it-given-', 3);
    // Their leases were written by the nodes themselves (NodeRestriction admits a node's own lease only).
    const lease = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'it-given-1', namespace: 'kube-node-lease' });
    assert.equal(lease.spec?.holderIdentity, 'it-given-1');
    assert.equal(nodes.length, 3);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /kubelet identities: --node-kubeconfig .*<node>\.kubeconfig/);

    // One shared kubeconfig, as a kubemark cluster gives its hollow nodes: a user bound to ClusterRole system:node.
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'it-shared-kubelets' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
        subjects: [{ kind: 'User', name: 'it-shared-kubelets', apiGroup: 'rbac.authorization.k8s.io' }],
      },
    });
    const sharedLeaf = await issueLeaf(ca, { subject: { cn: 'it-shared-kubelets' }, client: true });
    const shared = nodeKubeconfig(join(dir, 'shared.kubeconfig'), sharedLeaf.certPem, sharedLeaf.key.privatePem);
    const sharedRun = runCli(
      [...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '2', '--prefix', 'it-shared-', '--node-kubeconfig', shared, '--duration', '30'],
      { timeoutMs: 120_000 },
    );
    await ready('it-shared-', 2);
    const sr = await sharedRun;
    assert.equal(sr.code, 0, sr.stderr);
    assert.match(sr.stderr + sr.stdout, /authenticate as it-shared-kubelets/);
    await rbac.deleteClusterRoleBinding({ name: 'it-shared-kubelets' });
    assert.equal((await certApi.listCertificateSigningRequest()).items.length, csrsBefore, 'no node asked for a certificate');

    // A node's own identity shared by two nodes: refused before anything starts, naming the node it may act as.
    const one = nodeKubeconfig(join(dir, 'one.kubeconfig'), leaves[0]!.certPem, leaves[0]!.key.privatePem);
    const two = await runCli(
      [...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '2', '--prefix', 'it-given-', '--node-kubeconfig', one, '--duration', '20'],
      {
        timeoutMs: 60_000,
      },
    );
    assert.notEqual(two.code, 0);
    assert.match(two.stdout + two.stderr, /EM_NODE_KUBECONFIG/);
    assert.match(two.stdout + two.stderr, /act as node it-given-0 only, not as it-given-1/);

    // A certificate of another CA: kube-apiserver refuses it, one clear error.
    const foreign = await issueLeaf(await createCa({ cn: 'not-the-cluster-ca' }), {
      subject: { cn: 'system:node:it-foreign-0', o: ['system:nodes'] },
      client: true,
    });
    const bad = nodeKubeconfig(join(dir, 'foreign.kubeconfig'), foreign.certPem, foreign.key.privatePem);
    const refused = await runCli(
      [...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '1', '--prefix', 'it-foreign-', '--node-kubeconfig', bad, '--duration', '20'],
      {
        timeoutMs: 60_000,
      },
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /EM_NODE_KUBECONFIG/);
    // Refused (401, 403 as nobody, anonymous, or in the TLS handshake): one clear error before any node starts, not a retry.
    assert.match(
      refused.stdout + refused.stderr,
      /refused the node kubeconfig .*(401 Unauthorized|in the TLS handshake|403: it sees no user|system:anonymous)/,
    );
    assert.doesNotMatch(refused.stdout + refused.stderr, /PRIVATE KEY|client-key-data/, 'no key material printed');
  } finally {
    for (const p of ['it-given-', 'it-shared-']) for (let i = 0; i < 3; i++) await core.deleteNode({ name: `${p}${i}` }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad credentials: a wrong, malformed or denied bootstrap stops the run with its code', { timeout: 180_000 }, async () => {
  const wrong = await runCli(
    [
      ...cluster.args,
      'nodes',
      'run',
      '--kind',
      'kubelet',
      '-n',
      '2',
      '--prefix',
      'it-bad-',
      '--bootstrap-token',
      'abcdef.0123456789abcdef',
      '--duration',
      '20',
    ],
    {
      timeoutMs: 60_000,
    },
  );
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /EM_BOOTSTRAP_TOKEN_REJECTED/);
  assert.match(wrong.stdout + wrong.stderr, /no secret kube-system\/bootstrap-token-abcdef/);
  assert.doesNotMatch(wrong.stdout + wrong.stderr, /0123456789abcdef/, 'the token secret is never printed');

  // An expired token: checked against its secret before any node starts (the clock moved past its expiration).
  const fresh = await createBootstrapToken(cluster.state().kubeconfig, 1);
  await assert.rejects(
    checkBootstrapTokenSecret(cluster.state().kubeconfig, fresh, Date.now() + 2 * 3600_000),
    (e: Error & { code?: string; fix?: string }) =>
      e.code === 'EM_BOOTSTRAP_TOKEN_REJECTED' &&
      /expired at \d{4}-/.test(e.message) &&
      !e.message.includes(fresh.split('.')[1]!) &&
      /fresh one/.test(e.fix ?? ''),
  );
  await assert.doesNotReject(checkBootstrapTokenSecret(cluster.state().kubeconfig, fresh));

  const malformed = await runCli([...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '2', '--prefix', 'it-bad-', '--bootstrap-token', 'not-a-token'], {
    timeoutMs: 60_000,
  });
  assert.notEqual(malformed.code, 0);
  assert.match(malformed.stdout + malformed.stderr, /EM_BOOTSTRAP_TOKEN_MALFORMED/);

  const badName = await runCli([...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '2', '--prefix', 'Bad_Node-', '--dry-run'], { timeoutMs: 60_000 });
  assert.notEqual(badName.code, 0);
  assert.match(badName.stdout + badName.stderr, /prefix/i);

  // A token whose group may create CSRs but is not auto-approved: the CSR waits; denied by hand, the run stops with EM_CSR_DENIED.
  const group = 'system:bootstrappers:edgemark-noapprove';
  await ensureBootstrapRbac(kc);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'it-noapprove-bootstrap' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node-bootstrapper' },
      subjects: [{ kind: 'Group', name: group, apiGroup: 'rbac.authorization.k8s.io' }],
    },
  });
  assert.notEqual(group, BOOTSTRAP_GROUP);
  await core.createNamespacedSecret({
    namespace: 'kube-system',
    body: {
      metadata: { name: 'bootstrap-token-noappr' },
      type: 'bootstrap.kubernetes.io/token',
      stringData: { 'token-id': 'noappr', 'token-secret': 'deny0123456789ab', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': group },
    },
  });
  const certApi = kc.makeApiClient(k8s.CertificatesV1Api);
  const denied = runCli(
    [
      ...cluster.args,
      'nodes',
      'run',
      '--kind',
      'kubelet',
      '-n',
      '1',
      '--prefix',
      'it-denied-',
      '--bootstrap-token',
      'noappr.deny0123456789ab',
      '--duration',
      '90',
    ],
    {
      timeoutMs: 120_000,
    },
  );
  const csr = await waitFor(
    'the pending CSR',
    async () => (await certApi.listCertificateSigningRequest()).items.find((c) => c.spec.username === 'system:bootstrap:noappr'),
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  await certApi.replaceCertificateSigningRequestApproval({
    name: csr.metadata!.name!,
    body: {
      ...csr,
      status: { conditions: [{ type: 'Denied', status: 'True', reason: 'ItDenied', message: 'denied by the test', lastUpdateTime: new Date() }] },
    },
  });
  const r = await denied;
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /EM_CSR_DENIED/);
  assert.match(r.stdout + r.stderr, /ItDenied/);
});

test('a mixed run: 100 edge and 100 kubelet nodes with the density profile, SLIs for both kinds', { timeout: 600_000 }, async () => {
  // The earlier tests' nodes leave first: the run measures its own.
  await fleet?.stop();
  fleet = undefined;
  const work = mkdtempSync(join(tmpdir(), 'em-mixed-it-'));
  try {
    const config = join(work, 'mixed.yaml');
    writeFileSync(
      config,
      `profile: density
metadata: { name: mixed }
spec:
  nodes:
    - { kind: edge, count: 100, joinRate: 50 }
    - { kind: kubelet, count: 100, joinRate: 50 }
  timeoutSeconds: 500
`,
    );
    const r = await runCli([...cluster.args, 'run', '--config', config, '--out', join(work, 'runs')], { timeoutMs: 560_000 });
    const text = r.stdout + r.stderr;
    // It completes; whether this 2-core machine meets every SLO is the run's finding (exit 3 when not), not the test's.
    assert.ok(r.code === 0 || r.code === 3, text);
    const dir = /report: (.*)\/report\.html/.exec(text)?.[1];
    assert.ok(dir, text);
    const rec = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunRecord;
    assert.equal(rec.partial, false);
    assert.equal(rec.sli.podStartup.createdToRunningSeen.count, 2000);
    const groups = rec.sli.byGroup ?? [];
    assert.deepEqual(
      groups.map((g) => [g.group, g.kind, g.nodes]),
      [
        ['edge', 'edge', 100],
        ['kubelet', 'kubelet', 100],
      ],
    );
    for (const g of groups) {
      // Both kinds took pods (the scheduler spreads them) and every node was Ready.
      assert.ok(g.podStartup.count > 500, `${g.group}: ${g.podStartup.count} pods`);
      assert.equal(g.nodeJoin.count, 100, `${g.group}: ${g.nodeJoin.count} nodes Ready`);
      console.log(`# ${g.group}: Ready p99 ${g.nodeJoin.p99} ms; ${g.podStartup.count} pods, startup p50 ${g.podStartup.p50} ms, p99 ${g.podStartup.p99} ms`);
    }
    const verdicts = rec.slos.filter((v) => / on (edge|kubelet) \(/.test(v.name));
    assert.deepEqual(
      verdicts.map((v) => [v.name, v.noData === true]),
      [
        ['pod startup latency p99 on edge (edge) nodes', false],
        ['pod startup latency p99 on kubelet (kubelet) nodes', false],
      ],
    );
    for (const v of rec.slos) console.log(`# SLO ${v.ok ? 'pass' : 'FAIL'} ${v.name}: ${v.value} ${v.unit} (bound ${v.threshold})`);
    // Exit 3 exactly when a verdict failed.
    assert.equal(
      r.code === 3,
      rec.slos.some((v) => !v.ok),
    );
    // Both kinds' lines in the CLI's summary, and nothing of the run left behind.
    assert.match(text, /edge \(100 edge nodes\): Ready p99/);
    assert.match(text, /kubelet \(100 kubelet nodes\): Ready p99/);
    const left = (await core.listNode()).items.filter((n) => /^run-(edge|kubelet)-/.test(n.metadata?.name ?? ''));
    assert.equal(left.length, 0, 'the run removes its nodes');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
