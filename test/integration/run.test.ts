/**
 * `edgemark run` and `edgemark report compare` on the real control plane: a
 * short density run writes every artifact (PerfData JSON checked against its
 * schema, junit.xml, the report); the report renders in headless Chromium
 * (Debian's chromium, driven by playwright-core); a second run with a slower
 * pod lifecycle is flagged by `report compare`; Ctrl-C writes a partial run
 * and removes what the test created; bad input fails before anything starts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { z } from 'zod';
import { k8s, loadKubeConfig, waitFor } from '../../src/kube/client.js';
import { builtinProfiles } from '../../src/run/config.js';
import type { RunRecord } from '../../src/run/results.js';
import { cli, runCli, upTestCluster, type TestCluster } from './harness.js';

let cluster: TestCluster;
let core: k8s.CoreV1Api;
const work = mkdtempSync(join(tmpdir(), 'em-run-it-'));
const out = join(work, 'runs');
let fastDir = '';

function config(name: string, prefix: string, extra: string): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `profile: density
metadata: { name: ${name} }
spec:
  nodes: { count: 10, joinRate: 20, prefix: ${prefix} }
  timeoutSeconds: 400
${extra}`,
  );
  return file;
}

const shortPhases = `  phases:
    - kind: nodesUp
    - kind: namespaces
      count: 1
    - kind: deployments
      perNamespace: 2
      replicas: 10
      qps: 20
    - kind: wait
      seconds: 5
    - kind: scale
      replicas: 4
    - kind: delete
      what: deployments
    - kind: nodesDown
`;

const perfDataSchema = z
  .object({
    version: z.literal('v1'),
    dataItems: z.array(z.object({ data: z.record(z.string(), z.number()), unit: z.string(), labels: z.record(z.string(), z.string()) }).strict()),
  })
  .strict();

function runDirOf(stdoutAndErr: string): string {
  const m = /report: (.*)\/report\.html/.exec(stdoutAndErr);
  assert.ok(m, stdoutAndErr);
  return m[1]!;
}

before(async () => {
  cluster = await upTestCluster();
  core = loadKubeConfig(cluster.state().kubeconfig).makeApiClient(k8s.CoreV1Api);
  mkdirSync(out, { recursive: true });
});

after(async () => {
  if (cluster) await cluster.down();
});

test('a short density run writes every artifact; the PerfData JSON matches its schema', async () => {
  const r = await runCli([...cluster.args, 'run', '--config', config('fast', 'fast-', shortPhases), '--out', out], { timeoutMs: 480_000 });
  const text = r.stdout + r.stderr;
  assert.equal(r.code, 0, text);
  fastDir = runDirOf(text);
  for (const f of [
    'summary.json',
    'test.yaml',
    'junit.xml',
    'report.html',
    'runner.log',
    'PodStartupLatency.json',
    'APIResponsivenessPrometheus.json',
    'ResourceUsageSummary.json',
    'NodeJoinLatency.json',
    'DeliveryLatency.json',
    'SchedulingThroughput.json',
    'RunnerHealth.json',
  ]) {
    assert.ok(existsSync(join(fastDir, f)), `${f} in ${fastDir}`);
  }
  for (const f of readdirSync(fastDir).filter((x) => /^[A-Z].*\.json$/.test(x))) perfDataSchema.parse(JSON.parse(readFileSync(join(fastDir, f), 'utf8')));
  const rec = JSON.parse(readFileSync(join(fastDir, 'summary.json'), 'utf8')) as RunRecord;
  assert.equal(rec.partial, false);
  assert.deepEqual(
    rec.phases.map((p) => p.kind),
    ['nodesUp', 'namespaces', 'deployments', 'wait', 'scale', 'delete', 'nodesDown'],
  );
  assert.equal(rec.sli.podStartup.createdToRunningSeen.count, 20);
  assert.equal(rec.sli.delivery.cloudToEdge.count, 20, 'every pod was traced at the edge');
  assert.equal(rec.sli.delivery.lost, 0);
  assert.equal(rec.sli.nodeJoin.count, 10);
  assert.ok(
    rec.sli.api.some((a) => a.verb === 'POST' && a.resource === 'pods'),
    'API latency of pod creation',
  );
  for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'cloudcore', 'runner'])
    assert.ok(rec.sli.resources[c], `resources of ${c}`);
  assert.ok(rec.sli.resources.runner!.rssBytesMax > 0);
  assert.ok(rec.sli.runner && rec.sli.runner.eventLoopLagP99Ms >= 0);
  assert.equal(rec.slos.length, 5);
  const junit = readFileSync(join(fastDir, 'junit.xml'), 'utf8');
  assert.match(junit, /<testsuite name="fast-[^"]+" tests="7"/);
  // Everything the test created is gone.
  const nodes = (await core.listNode()).items.filter((n) => n.metadata?.name?.startsWith('fast-'));
  assert.equal(nodes.length, 0);
  const nss = (await core.listNamespace()).items.filter((n) => n.metadata?.name?.startsWith('fast-') && n.status?.phase !== 'Terminating');
  assert.equal(nss.length, 0);
});

test('the report renders in headless Chromium: charts drawn, screenshot taken', async () => {
  assert.ok(fastDir, 'needs the first run');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${join(fastDir, 'report.html')}`);
    const charts = await page.locator('svg.chart').count();
    assert.ok(charts >= 4, `charts: ${charts}`);
    const lines = await page.locator('svg.chart polyline').count();
    const bars = await page.locator('svg.chart rect').count();
    assert.ok(lines >= 6 && bars >= 6, `polylines ${lines}, rects ${bars}`);
    const box = await page.locator('svg.chart').first().boundingBox();
    assert.ok(box && box.width > 300 && box.height > 100, 'the first chart has a size on the page');
    assert.deepEqual(
      requests.filter((u) => !u.startsWith('file://')),
      [],
      'self-contained: no network',
    );
    const shot = join(fastDir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
  } finally {
    await browser.close();
  }
});

test('report compare flags the regression of a run with slower pods', async () => {
  const slow = await runCli([...cluster.args, 'run', '--config', config('slow', 'slow-', `  podLifecycle: late-readiness\n${shortPhases}`), '--out', out], {
    timeoutMs: 480_000,
  });
  const text = slow.stdout + slow.stderr;
  // Ready after about 10 s: the pod startup SLO fails (exit 3) or holds; both are results.
  assert.ok(slow.code === 0 || slow.code === 3, text);
  const slowDir = runDirOf(text);
  const html = join(work, 'compare.html');
  const c = await runCli([...cluster.args, 'report', 'compare', fastDir, slowDir, '--html', html, '--fail-on-regression']);
  assert.equal(c.code, 3, c.stdout + c.stderr);
  assert.match(c.stdout, /pod startup createdToRunningSeen p99 .*REGRESSION/);
  assert.ok(readFileSync(html, 'utf8').includes('REGRESSION'));
  const same = await runCli([...cluster.args, 'report', 'compare', fastDir, fastDir]);
  assert.equal(same.code, 0);
  assert.match(same.stdout, /0 regression\(s\)/);
});

test('Ctrl-C ends the run early: partial artifacts written, what it created removed', async () => {
  const file = config(
    'stopped',
    'stop-',
    `  phases:\n    - kind: nodesUp\n    - kind: namespaces\n      count: 1\n    - kind: deployments\n      perNamespace: 1\n      replicas: 10\n    - kind: wait\n      seconds: 300\n    - kind: nodesDown\n`,
  );
  const child = spawn(process.execPath, [cli, ...cluster.args, 'run', '--config', file, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await waitFor('the steady phase', async () => (/phase 4\/5/.test(text) ? true : undefined), { timeoutMs: 240_000, intervalMs: 500 });
  child.kill('SIGINT');
  assert.equal(await exited, 130, text);
  const dir = runDirOf(text);
  const rec = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as RunRecord;
  assert.equal(rec.partial, true);
  assert.equal(rec.sli.podStartup.createdToRunningSeen.count, 10, 'what was measured before Ctrl-C is kept');
  assert.match(readFileSync(join(dir, 'junit.xml'), 'utf8'), /run completed"><failure/);
  assert.equal((await core.listNode()).items.filter((n) => n.metadata?.name?.startsWith('stop-')).length, 0);
});

test('the footprint and churn profiles run: footprint steps recorded, churned pods measured and removed', async () => {
  const fp = join(work, 'fp.yaml');
  writeFileSync(
    fp,
    `profile: footprint\nmetadata: { name: fp }\nspec:\n  nodes: { prefix: fp- }\n  sampleEverySeconds: 1\n  phases:\n    - kind: nodesUp\n    - kind: namespaces\n      count: 1\n    - kind: footprint\n      from: 0\n      to: 10\n      step: 5\n      holdSeconds: 3\n    - kind: delete\n      what: deployments\n    - kind: nodesDown\n`,
  );
  const f = await runCli([...cluster.args, 'run', '--config', fp, '--out', out], { timeoutMs: 300_000 });
  assert.ok(f.code === 0 || f.code === 3, f.stdout + f.stderr);
  const fr = JSON.parse(readFileSync(join(runDirOf(f.stdout + f.stderr), 'summary.json'), 'utf8')) as RunRecord;
  assert.deepEqual(
    fr.footprint.map((x) => x.pods),
    [0, 5, 10],
  );
  for (const step of fr.footprint) assert.ok((step.rss.runner ?? 0) > 0 && (step.rss.cloudcore ?? 0) > 0, 'RSS of the runner and CloudCore at each step');
  assert.ok(existsSync(join(runDirOf(f.stdout + f.stderr), 'Footprint.json')));

  const ch = join(work, 'churn.yaml');
  writeFileSync(
    ch,
    `profile: churn\nmetadata: { name: churn }\nspec:\n  nodes: { count: 5, prefix: churn- }\n  phases:\n    - kind: nodesUp\n    - kind: namespaces\n      count: 1\n    - kind: churn\n      podsPerSecond: 2\n      seconds: 6\n      lifetimeSeconds: 3\n    - kind: delete\n      what: pods\n    - kind: nodesDown\n`,
  );
  const c = await runCli([...cluster.args, 'run', '--config', ch, '--out', out], { timeoutMs: 300_000 });
  assert.ok(c.code === 0 || c.code === 3, c.stdout + c.stderr);
  const cr = JSON.parse(readFileSync(join(runDirOf(c.stdout + c.stderr), 'summary.json'), 'utf8')) as RunRecord;
  assert.ok(cr.sli.podStartup.createdToScheduled.count >= 10, `churned pods: ${cr.sli.podStartup.createdToScheduled.count}`);
  assert.equal(
    (await core.listPodForAllNamespaces({ labelSelector: `edgemark.io/run=${cr.runId}` })).items.filter((p) => !p.metadata?.deletionTimestamp).length,
    0,
  );
});

test('bad input is refused before anything starts: unknown profile, unknown field, unreachable target', async () => {
  const p = await runCli([...cluster.args, 'run', '--profile', 'densty']);
  assert.equal(p.code, 2);
  assert.ok(p.stderr.includes(`unknown profile "densty"; allowed: ${builtinProfiles().join(', ')}`), p.stderr);
  assert.ok(builtinProfiles().includes('density'));
  const bad = join(work, 'bad.yaml');
  writeFileSync(bad, 'profile: density\nspec:\n  nodes: { cuont: 3 }\n');
  const f = await runCli([...cluster.args, 'run', '--config', bad]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /EM_CONFIG_INVALID.*spec\.nodes: unknown field "cuont" \(allowed here: name, kind, count/);
  // A state whose components are not running: reported, nothing created.
  const dead = mkdtempSync(join(tmpdir(), 'em-dead-'));
  const st = JSON.parse(readFileSync(join(cluster.stateDir, 'cluster.json'), 'utf8')) as { components: Record<string, { pid: number; startTicks?: number }> };
  for (const c of Object.values(st.components)) c.pid = 999_999;
  writeFileSync(join(dead, 'cluster.json'), JSON.stringify(st));
  const u = await runCli(['--state-dir', dead, 'run', '--profile', 'density', '--out', join(work, 'never')]);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /EM_TARGET_UNREACHABLE/);
  assert.match(u.stderr, /edgemark cluster up/);
  assert.equal(existsSync(join(work, 'never')), false, 'no run directory for a run that never started');
  rmSync(dead, { recursive: true, force: true });
});
