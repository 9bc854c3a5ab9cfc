/**
 * The Helm chart (deploy/helm/edgemark) with the pinned helm binary: it lints;
 * for several sets of settings it renders the objects `edgemark fleet create
 * --dry-run -o yaml` prints for the same settings (parsed YAML, deep-equal;
 * plan.json parsed, as toPrettyJson sorts its keys); it refuses what the CLI
 * refuses; and it installs into a real kube-apiserver and uninstalls without
 * leaving an object behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { helmBinary } from '../../src/cluster/helm.js';
import { defaultCacheDir, packageRoot } from '../../src/core/paths.js';
import { isNotFound, k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { parsePlan } from '../../src/runtime/index.js';
import { runCli, upTestCluster, type TestCluster } from './harness.js';

const chart = join(packageRoot(), 'deploy', 'helm', 'edgemark');
/** The Secret's value in a dry run (fleet.ts): the chart is given it as token.value to render the same Secret. */
const DRY_RUN_TOKEN = '(the join token of the cluster under test, copied at create)';
const work = mkdtempSync(join(tmpdir(), 'em-helm-'));
let helm: string;

before(async () => {
  const started = Date.now();
  helm = await helmBinary({ cacheDir: defaultCacheDir() });
  process.stdout.write(`# helm ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${helm}\n`);
});

after(() => rmSync(work, { recursive: true, force: true }));

async function runHelm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(helm, args, { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, HELM_CACHE_HOME: join(work, 'cache') } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

let files = 0;
function valuesFile(values: unknown): string {
  const file = join(work, `values-${files++}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

type Obj = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: { template: { spec: { tolerations: unknown[] } } } };

/** Every object of a YAML stream, with the ConfigMap's plan.json parsed: its key order is the one part that differs. */
function objectsOf(yamlText: string): Obj[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null)
    .map((o) => (o.kind === 'ConfigMap' && o.data ? { ...o, data: { ...o.data, 'plan.json': JSON.parse(o.data['plan.json']!) } } : o));
}

async function cliObjects(count: number, flags: string[]): Promise<Obj[]> {
  const r = await runCli(['--state-dir', join(work, 'no-cluster'), 'fleet', 'create', String(count), '--dry-run', '-o', 'yaml', ...flags]);
  assert.equal(r.code, 0, r.stderr);
  return objectsOf(r.stdout);
}

async function chartObjects(namespace: string, values: unknown): Promise<Obj[]> {
  const r = await runHelm(['template', 'edgemark', chart, '--namespace', namespace, '-f', valuesFile(values)]);
  assert.equal(r.code, 0, r.stderr);
  return objectsOf(r.stdout);
}

test('helm lint passes, with the default values and a token', async () => {
  const r = await runHelm(['lint', '--strict', chart, '--set', 'token.value=x']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
});

test('host network (loopback CloudCore): the chart renders the objects of fleet create --dry-run -o yaml', async () => {
  const want = await cliObjects(200, ['--nodes-per-pod', '50', '--cloudcore', '127.0.0.1:10000', '--token', 'x', '--image', 'localhost/edgemark:0.1.0']);
  const got = await chartObjects('edgemark', {
    count: 200,
    nodesPerPod: 50,
    cloudcore: [{ websocket: '127.0.0.1:10000' }],
    token: { value: DRY_RUN_TOKEN },
    image: { repository: 'localhost/edgemark', tag: '0.1.0' },
  });
  assert.deepEqual(
    want.map((o) => o.kind),
    ['Secret', 'ConfigMap', 'Service', 'StatefulSet'],
  );
  assert.deepEqual(got, want);
  // The chart's plan is a valid plan, and the one the CLI wrote.
  const plan = (objs: Obj[]) => objs.find((o) => o.kind === 'ConfigMap')!.data!['plan.json'];
  assert.deepEqual(parsePlan(plan(got)), parsePlan(plan(want)));
});

test('pod network, a kubeconfig target, two CloudCores, a node selector and an extra toleration: the same objects', async () => {
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443' } }],
      users: [{ name: 'u', user: { token: 'unused' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  const toleration = { key: 'dedicated', operator: 'Equal', value: 'edgemark', effect: 'NoSchedule' };
  const want = await cliObjects(1000, [
    ...['--name', 'f2', '--namespace', 'loadtest', '--kubeconfig', kubeconfig, '--cloudcore', '10.0.0.5:10000,10.0.0.6:10000', '--token', 'x'],
    ...['--image', 'registry.example/edgemark:0.1.0', '--pull-policy', 'Always', '--no-host-network', '--node-selector', 'role=hollow,zone=a'],
    ...['--prefix', 'he-', '--join-rate', '12.5'],
  ]);
  // The CLI has no flag for tolerations (the runtime's options have): they come after the two defaults.
  want.find((o) => o.kind === 'StatefulSet')!.spec!.template.spec.tolerations.push(toleration);
  const got = await chartObjects('loadtest', {
    name: 'f2',
    count: 1000,
    prefix: 'he-',
    joinRate: 12.5,
    cloudcore: [{ websocket: '10.0.0.5:10000' }, { websocket: '10.0.0.6:10000' }],
    apiserver: 'https://10.0.0.1:6443',
    targetName: `${kubeconfig} (context c)`,
    token: { value: DRY_RUN_TOKEN },
    image: { repository: 'registry.example/edgemark', tag: '0.1.0', pullPolicy: 'Always' },
    hostNetwork: false,
    nodeSelector: { role: 'hollow', zone: 'a' },
    tolerations: [toleration],
  });
  assert.deepEqual(got, want);
});

test('host network asked for with a remote CloudCore and its certificate server: the same objects', async () => {
  const flags = ['--cloudcore', '192.168.1.10:10000', '--cloudcore-https', '192.168.1.10:443', '--token', 'x', '--image', 'localhost/edgemark:0.1.0'];
  const want = await cliObjects(100, [...flags, '--nodes-per-pod', '25', '--host-network']);
  const got = await chartObjects('edgemark', {
    count: 100,
    nodesPerPod: 25,
    cloudcore: [{ websocket: '192.168.1.10:10000', https: 'https://192.168.1.10:443' }],
    token: { value: DRY_RUN_TOKEN },
    hostNetwork: true,
  });
  assert.deepEqual(got, want);
  // Left to derive, host network follows the address (not loopback: pod network), as in the CLI.
  const derivedWant = await cliObjects(100, [...flags, '--nodes-per-pod', '25']);
  const derived = await chartObjects('edgemark', {
    count: 100,
    nodesPerPod: 25,
    cloudcore: [{ websocket: '192.168.1.10:10000', https: 'https://192.168.1.10:443' }],
    token: { value: DRY_RUN_TOKEN },
  });
  assert.deepEqual(derived, derivedWant);
});

test('an existing Secret for the token: no Secret rendered, the pods mount that one under its key', async () => {
  const objs = await chartObjects('edgemark', { count: 10, token: { existingSecret: 'join', existingSecretKey: 'tokendata' } });
  assert.deepEqual(
    objs.map((o) => o.kind),
    ['ConfigMap', 'Service', 'StatefulSet'],
  );
  const pod = (objs[2] as unknown as { spec: { template: { spec: { volumes: { name: string; secret?: unknown }[] } } } }).spec.template.spec;
  assert.deepEqual(pod.volumes.find((v) => v.name === 'token')!.secret, {
    secretName: 'join',
    defaultMode: 0o440,
    items: [{ key: 'tokendata', path: 'token' }],
  });
});

test('the chart refuses what the CLI refuses, saying what to change', async () => {
  const base = { token: { value: 'x' } };
  const cases: [unknown, RegExp][] = [
    [{ ...base, nodeKind: 'kubelet' }, /nodeKind "kubelet" is not supported: only edge/],
    [{ ...base, count: 210, nodesPerPod: 50 }, /210 nodes do not divide into pods of 50 .*200 or 250/],
    [{ count: 10 }, /no join token: set token.value/],
    [{ ...base, cloudcore: [{ websocket: 'cloudcore' }] }, /cloudcore websocket takes host:port/],
    [{ ...base, prefix: 'Hollow_' }, /prefix "Hollow_"/],
  ];
  for (const [values, message] of cases) {
    const r = await runHelm(['template', 'edgemark', chart, '-f', valuesFile(values)]);
    assert.notEqual(r.code, 0, JSON.stringify(values));
    assert.match(r.stderr, message);
  }
});

test('helm install into a real kube-apiserver creates the fleet; helm uninstall leaves nothing of it', async (t) => {
  const cluster: TestCluster = await upTestCluster();
  t.after(() => cluster.down());
  const kubeconfig = cluster.state().kubeconfig;
  const kc = loadKubeConfig(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const namespace = 'em-helm';
  const install = await runHelm([
    ...['install', 'fleet', chart, '--kubeconfig', kubeconfig, '--namespace', namespace, '--create-namespace'],
    ...['--set', 'name=hf', '--set', 'count=20', '--set', 'nodesPerPod=10', '--set', 'token.value=x'],
  ]);
  assert.equal(install.code, 0, install.stderr);
  assert.match(install.stdout, /Fleet hf: 20 hollow edge nodes \(hollow-edge-0\.\.\) as 2 runner pod\(s\) of 10, joining CloudCore 127\.0\.0\.1:10000/);
  const sts = await apps.readNamespacedStatefulSet({ name: 'hf-runner', namespace });
  assert.equal(sts.spec?.replicas, 2);
  assert.equal(sts.metadata?.labels?.['app.kubernetes.io/instance'], 'hf');
  // What Helm adds to a live object to own it; the rendered objects have none of it.
  assert.equal(sts.metadata?.annotations?.['meta.helm.sh/release-name'], 'fleet');
  const cm = await core.readNamespacedConfigMap({ name: 'hf-plan', namespace });
  assert.equal(parsePlan(JSON.parse(cm.data!['plan.json']!)).groups[0]!.count, 20);
  assert.equal((await core.readNamespacedSecret({ name: 'hf-token', namespace })).type, 'Opaque');
  await core.readNamespacedService({ name: 'hf-runner', namespace });
  t.diagnostic('release installed: StatefulSet, Service, ConfigMap and Secret in the API');
  // The fleet verbs find a fleet the chart installed.
  const list = await runCli(['fleet', 'list', '--external-kubeconfig', kubeconfig, '--name', 'hf', '--namespace', namespace]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /fleet hf: 20 nodes, 2 pod\(s\) of 10, image localhost\/edgemark:0\.1\.0/);

  const record = () => core.listNamespacedSecret({ namespace, labelSelector: 'owner=helm,name=fleet' });
  assert.equal((await record()).items.length, 1, "Helm's release record");

  const uninstall = await runHelm(['uninstall', 'fleet', '--kubeconfig', kubeconfig, '--namespace', namespace, '--wait']);
  assert.equal(uninstall.code, 0, uninstall.stderr);
  const gone = async (read: () => Promise<unknown>) =>
    read().then(
      () => false,
      (e: unknown) => {
        if (isNotFound(e)) return true;
        throw e;
      },
    );
  assert.ok(await gone(() => apps.readNamespacedStatefulSet({ name: 'hf-runner', namespace })), 'StatefulSet gone');
  assert.ok(await gone(() => core.readNamespacedService({ name: 'hf-runner', namespace })), 'Service gone');
  assert.ok(await gone(() => core.readNamespacedConfigMap({ name: 'hf-plan', namespace })), 'ConfigMap gone');
  assert.ok(await gone(() => core.readNamespacedSecret({ name: 'hf-token', namespace })), 'Secret gone');
  // The release's own record, and the pods the StatefulSet made (garbage-collected after it).
  assert.deepEqual(
    (await record()).items.map((s) => s.metadata?.name),
    [],
  );
  await waitFor(
    'the runner pods to go',
    async () => ((await core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/instance=hf' })).items.length === 0 ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  await core.deleteNamespace({ name: namespace });
});
