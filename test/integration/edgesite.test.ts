/**
 * EdgeSite (seed 004) on the real components: `cluster up --profile edgesite`
 * starts etcd, kube-apiserver, the controller manager and the scheduler, no
 * CloudCore, every one inside one cgroup envelope (2 CPUs, 1Gi by default)
 * that the kernel enforces; `cluster status` shows it; kubelet-kind nodes are
 * its workers and edge nodes are refused; `down` removes the envelope. An
 * envelope too small is refused before anything starts, and one the control
 * plane does not fit in fails `up` with the OOM kill named.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultCacheDir } from '../../src/core/paths.js';
import { pidAlive } from '../../src/core/proc.js';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import type { RunRecord } from '../../src/run/results.js';
import { readState, type ClusterState } from '../../src/cluster/state.js';
import { runCli, upTestCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;
let state: ClusterState;

before(async () => {
  cluster = await upTestCluster(['--profile', 'edgesite']);
  state = cluster.state();
});

after(async () => {
  await cluster?.down();
});

/** The cgroup paths of a process, one per hierarchy. */
function cgroupsOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
}

test('an EdgeSite control plane: four components, no CloudCore, each inside the envelope, whose limits the kernel holds', async () => {
  assert.equal(state.profile, 'edgesite');
  assert.equal(state.cloudcores, 0);
  assert.deepEqual(Object.keys(state.components).sort(), ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
  const env = state.envelope!;
  assert.deepEqual([env.cpus, env.memoryBytes], [2, 2 ** 30]);
  for (const [name, p] of Object.entries(state.components)) {
    const mine = cgroupsOf(p!.pid);
    for (const dir of env.dirs) {
      const rel = dir.slice(dir.indexOf('/edgemark/'));
      assert.ok(
        mine.some((l) => l.endsWith(rel)),
        `${name} (pid ${p!.pid}) is in ${rel}: ${mine.join(' | ')}`,
      );
    }
  }
  // What the kernel was told.
  if (env.cgroup === 2) {
    assert.equal(readFileSync(join(env.dirs[0]!, 'memory.max'), 'utf8').trim(), String(2 ** 30));
    assert.equal(readFileSync(join(env.dirs[0]!, 'cpu.max'), 'utf8').trim(), '200000 100000');
  } else {
    const mem = env.dirs.find((d) => existsSync(join(d, 'memory.limit_in_bytes')))!;
    const cpu = env.dirs.find((d) => existsSync(join(d, 'cpu.cfs_quota_us')))!;
    assert.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(2 ** 30));
    assert.equal(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '200000');
  }
  const r = await runCli([...cluster.args, 'cluster', 'status']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /cloudcore/);
  assert.match(r.stdout, /envelope \(cgroup v[12]\): 2 CPU and 1Gi for 4 process\(es\); memory \d+Mi \(\d+ %\)/);
  assert.match(r.stdout, /no OOM kill/);
  console.log(`# ${r.stdout.split('\n').find((l) => l.startsWith('envelope'))}`);
  const json = JSON.parse((await runCli([...cluster.args, 'cluster', 'status', '--json'])).stdout) as { profile: string; envelope: { usedBytes: number } };
  assert.equal(json.profile, 'edgesite');
  assert.ok(json.envelope.usedBytes > 100 * 2 ** 20 && json.envelope.usedBytes < 2 ** 30, String(json.envelope.usedBytes));
});

test('kubelet nodes are its workers; edge nodes are refused, as it has no CloudCore', { timeout: 120_000 }, async () => {
  const run = await runCli([...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '20', '--prefix', 'site-', '--duration', '25'], { timeoutMs: 90_000 });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const core = loadKubeConfig(state.kubeconfig).makeApiClient(k8s.CoreV1Api);
  const nodes = (await core.listNode()).items.filter((n) => n.metadata?.name?.startsWith('site-'));
  assert.equal(nodes.length, 20);
  const edge = await runCli([...cluster.args, 'nodes', 'run', '-n', '2', '--dry-run']);
  assert.notEqual(edge.code, 0);
  assert.match(edge.stdout + edge.stderr, /EM_NO_CLOUDCORE[\s\S]*is an EdgeSite[\s\S]*--kind kubelet/);
  for (const n of nodes) await core.deleteNode({ name: n.metadata!.name! });
});

test('the edgesite profile runs on it: hostPort pods, one per worker, with its SLO verdicts; a pod without the hostPort is refused by the node', {
  timeout: 400_000,
}, async () => {
  const core = loadKubeConfig(state.kubeconfig).makeApiClient(k8s.CoreV1Api);
  const out = mkdtempSync(join(tmpdir(), 'em-it-site-'));
  try {
    const r = await runCli([...cluster.args, 'run', '--profile', 'edgesite', '--nodes', '30', '--out', out], { timeoutMs: 360_000 });
    const text = r.stdout + r.stderr;
    // It completes; whether the site master meets every SLO is the run's finding (exit 3 when not): bench/edgesite-capacity answers it.
    assert.ok(r.code === 0 || r.code === 3, text);
    const dir = /report: (.*)\/report\.html/.exec(text)?.[1];
    assert.ok(dir, text);
    const rec = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunRecord;
    assert.equal(rec.sli.podStartup.createdToRunningSeen.count, 30);
    assert.equal(rec.partial, false);
    assert.ok(rec.slos.length >= 5 && rec.slos.every((v) => !v.noData), JSON.stringify(rec.slos));
    assert.equal(
      r.code === 3,
      rec.slos.some((v) => !v.ok),
      'exit 3 exactly when a verdict failed',
    );
    for (const v of rec.slos) console.log(`# SLO ${v.ok ? 'pass' : 'FAIL'} ${v.name}: ${v.value} ${v.unit} (bound ${v.threshold})`);
    assert.ok(rec.sli.resources['kube-apiserver'], 'the master sampled');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  // A worker with the rule, and a pod that lacks the hostPort.
  const fleet = runCli([...cluster.args, 'nodes', 'run', '--kind', 'kubelet', '-n', '1', '--prefix', 'rule-', '--require-host-port', '--duration', '40'], {
    timeoutMs: 90_000,
  });
  await waitFor(
    'the worker Ready',
    async () =>
      (await core.readNode({ name: 'rule-0' }).catch(() => undefined))?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? true
        : undefined,
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  await core.createNamespacedPod({
    namespace: 'default',
    body: {
      metadata: { name: 'no-hostport' },
      spec: { nodeName: 'rule-0', containers: [{ name: 'web', image: 'registry.invalid/web:1', ports: [{ containerPort: 8080 }] }] },
    },
  });
  const pod = await waitFor(
    'the pod refused',
    async () => {
      const p = await core.readNamespacedPod({ name: 'no-hostport', namespace: 'default' });
      return p.status?.phase === 'Failed' ? p : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.equal(pod.status?.reason, 'HostPortRequired');
  assert.match(pod.status?.message ?? '', /container web port 8080 has no hostPort/);
  await core.deleteNamespacedPod({ name: 'no-hostport', namespace: 'default', gracePeriodSeconds: 0 });
  assert.equal((await fleet).code, 0);
  await core.deleteNode({ name: 'rule-0' }).catch(() => undefined);
});

test('an envelope too small: refused before anything starts, or the OOM kill named when the control plane does not fit', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'em-it-small-'));
  const args = ['--state-dir', dir, '--cache-dir', defaultCacheDir()];
  try {
    const tiny = await runCli([...args, 'cluster', 'up', '--ports', 'auto', '--profile', 'edgesite', '--envelope-memory', '48Mi']);
    assert.notEqual(tiny.code, 0);
    assert.match(tiny.stdout + tiny.stderr, /EM_ENVELOPE_TOO_SMALL[\s\S]*48Mi is too small[\s\S]*--envelope-memory/);
    assert.equal(readState(dir), undefined, 'nothing was made');
    const bad = await runCli([...args, 'cluster', 'up', '--ports', 'auto', '--profile', 'edgesite', '--envelope-memory', 'lots']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--envelope-memory takes a size such as 1Gi/);
    // Above the floor but below what the four components hold once started (they start in 150Mi).
    const small = await runCli([...args, 'cluster', 'up', '--ports', 'auto', '--profile', 'edgesite', '--envelope-memory', '90Mi'], { timeoutMs: 200_000 });
    assert.notEqual(small.code, 0, small.stdout + small.stderr);
    assert.match(
      small.stdout + small.stderr,
      /EM_ENVELOPE_TOO_SMALL[\s\S]*90Mi are too small for the control plane: \d+ OOM kill\(s\) in it while \S+ started \(\S+ killed\)/,
    );
    const s = readState(dir);
    assert.deepEqual(Object.keys(s?.components ?? {}), [], 'what started was stopped');
    for (const d of s?.envelope?.dirs ?? []) assert.equal(existsSync(d), false, `${d} removed`);
  } finally {
    await runCli([...args, 'cluster', 'down', '--purge']);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('down removes the envelope and every process in it', async () => {
  const dirs = state.envelope!.dirs;
  const pids = Object.values(state.components).map((p) => p!.pid);
  const r = await cluster.down();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const d of dirs) assert.equal(existsSync(d), false, `${d} removed`);
  // Gone or a zombie waiting for init to reap it.
  for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} gone`);
});
