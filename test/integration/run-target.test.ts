/**
 * `edgemark run` against an existing control plane: a second local cluster
 * (free ports, its own state directory) addressed only through its
 * kubeconfig, CloudHub's address, a token file and its components' /metrics
 * URLs, from a state directory that holds no cluster. The density profile
 * completes there, and the record takes that cluster's component CPU and RSS
 * from their metrics (the report says so); a dry run with the same flags
 * prints the plan and creates nothing; a wrong address or token is refused
 * before anything is created.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultCacheDir } from '../../src/core/paths.js';
import { k8s, loadKubeConfig } from '../../src/kube/client.js';
import type { RunRecord } from '../../src/run/results.js';
import { readTokenSecret } from '../../src/target/target.js';
import { runCli, upTestCluster, type TestCluster } from './harness.js';

let other: TestCluster;
const work = mkdtempSync(join(tmpdir(), 'em-run-target-'));
/** A state directory with no cluster in it: nothing local can be used by mistake. */
const emptyState = mkdtempSync(join(tmpdir(), 'em-run-target-state-'));
let flags: string[] = [];

before(async () => {
  other = await upTestCluster();
  const s = other.state();
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, await readTokenSecret(s.kubeconfig), { mode: 0o600 });
  const p = s.ports;
  flags = [
    '--kubeconfig',
    s.kubeconfig,
    '--cloudcore',
    `127.0.0.1:${p.cloudhubWebsocket}`,
    '--cloudcore-https',
    `127.0.0.1:${p.cloudhubHttps}`,
    '--token-file',
    tokenFile,
    '--component-metrics',
    `etcd=http://127.0.0.1:${p.etcdMetrics}/metrics,cloudcore=http://127.0.0.1:${p.cloudcoreMetrics}/metrics`,
  ];
});

after(async () => {
  if (other) await other.down();
});

const base = () => ['--state-dir', emptyState, '--cache-dir', defaultCacheDir(), 'run', '--profile', 'density', '--nodes', '20', '--out', join(work, 'runs')];

test('a dry run against the existing cluster prints the plan and what would start, and creates nothing', async () => {
  const r = await runCli([...base(), ...flags, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# dry run: nothing started or created, no token read$/m);
  assert.match(r.stdout, /target: .*kubeconfig.* \(context .*\); CloudHub 127\.0\.0\.1:\d+; token from --token-file/);
  assert.match(r.stdout, /sample kube-apiserver from its \/metrics through the kubeconfig, and etcd, cloudcore from their \/metrics/);
  assert.match(r.stdout, /^kind: FleetPlan$/m);
  assert.match(r.stdout, /count: 20$/m);
  const core = loadKubeConfig(other.state().kubeconfig).makeApiClient(k8s.CoreV1Api);
  assert.equal((await core.listNamespace({ labelSelector: 'edgemark.io/run' })).items.length, 0, 'no namespace was created');
  assert.equal((await core.listNode()).items.filter((n) => n.metadata?.name?.startsWith('hollow-edge-')).length, 0, 'no node joined');
});

test('the density profile completes on the existing cluster; component CPU and RSS come from their metrics', async () => {
  const r = await runCli([...base(), ...flags], { timeoutMs: 900_000 });
  // 3: an SLO failed, which a 2-core machine may see; the run itself completed.
  assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}\n${r.stderr}`);
  const dir = /report: (.*)\/report\.html/.exec(r.stderr + r.stdout)?.[1];
  assert.ok(dir, r.stderr);
  const rec = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunRecord;
  assert.equal(rec.partial, false, rec.failure);
  assert.match(rec.versions.kubernetes ?? '', /^v1\.32\./);
  const how = Object.fromEntries(rec.resourceSources.map((s) => [s.name, s]));
  for (const name of ['kube-apiserver', 'etcd', 'cloudcore']) {
    assert.equal(how[name]?.how, 'metrics', `${name} sampled from its metrics: ${JSON.stringify(how[name])}`);
    assert.ok((how[name]?.samples ?? 0) > 0);
  }
  assert.equal(how.runner?.how, 'proc', 'the runner runs here and is read from /proc');
  // Nothing of the other cluster's processes was read from /proc: it has no local pids in this run.
  assert.ok(!rec.resourceSources.some((s) => s.how === 'proc' && s.name !== 'runner'));
  const points = rec.series.resources;
  const last = points.filter((p) => p.rss['kube-apiserver'] !== undefined).at(-1);
  assert.ok(last, 'kube-apiserver has readings');
  assert.ok(last.rss['kube-apiserver']! > 50 * 2 ** 20, `kube-apiserver RSS ${last.rss['kube-apiserver']}`);
  assert.ok(
    points.some((p) => (p.cpu.cloudcore ?? 0) > 0),
    'CloudCore CPU from its metrics',
  );
  assert.ok(
    points.some((p) => (p.rss.etcd ?? 0) > 0),
    'etcd RSS from its metrics',
  );
  assert.equal(rec.sli.podStartup.createdToRunningSeen.count, 200, 'every pod ran on the other cluster');
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /sampled from/i);
  assert.match(html, /metrics/);
  assert.ok(statSync(join(dir, 'junit.xml')).size > 0);
});

test('a wrong CloudCore address or token is refused before anything is created', async () => {
  const wrongToken = join(work, 'bad-token');
  writeFileSync(wrongToken, 'not-a-token', { mode: 0o600 });
  const bad = flags.map((f, i) => (flags[i - 1] === '--token-file' ? wrongToken : f));
  const r = await runCli([...base(), ...bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /EM_TOKEN_MALFORMED/);
  assert.ok(!r.stderr.includes('not-a-token'), 'the token is not echoed');
  const noCloudcore = flags.filter(
    (f, i) => f !== '--cloudcore' && flags[i - 1] !== '--cloudcore' && f !== '--cloudcore-https' && flags[i - 1] !== '--cloudcore-https',
  );
  const r2 = await runCli([...base(), ...noCloudcore]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /EM_TARGET_INVALID.*not where its CloudCore listens/);
  assert.match(r2.stderr, /fix: pass --cloudcore/);
});
