/**
 * bench/kubelet-density: the hollow kubelet kind side by side with the real
 * kubemark (cmd/kubemark of the pinned Kubernetes, built by `edgemark setup
 * --peers`) on one private control plane with its audit log on. First K
 * kubemark processes (`--morph=kubelet`, each in its own network and mount
 * namespace, each its own system:node identity), then N of our kubelet nodes
 * (kubemark shape, no proxy: the same settings) in one worker process; the
 * time each side takes until all its nodes are Ready; then one steady window
 * with both running, in which /proc gives RSS, PSS and CPU of each side and
 * the audit log the API calls each side's nodes made, by verb and resource,
 * per node per minute.
 *
 *   node dist/bench/kubelet-density.js [--kubemark 20] [--nodes 1000] [--window 360] [--join-rate 50]
 *
 * The window should cover the 5-minute status report (default 6 minutes).
 * Loopback only; bounded waits; Ctrl-C stops, writes what was measured
 * (partial) and removes everything it made. Needs root (namespaces).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { issueClusterLeaf, pkiPaths } from '../src/cluster/pki.js';
import type { ClusterState } from '../src/cluster/state.js';
import { createLogger } from '../src/core/log.js';
import { defaultCacheDir, packageRoot } from '../src/core/paths.js';
import { pollUntil } from '../src/core/poll.js';
import { k8s, loadKubeConfig } from '../src/kube/client.js';
import { sampleGroups, type GroupUsage } from '../src/measure/procsample.js';
import { createRuntime, oneGroupPlan, type RunningFleet } from '../src/runtime/index.js';
import { resolveTarget } from '../src/target/target.js';
import { machineFacts, startBench, writeResult } from './lib/harness.js';
import { countCalls, perNodeMinute, type CallRow } from './lib/audit.js';
import { findKubemarkBinary, startKubemarkPeer, type KubemarkPeer } from './lib/kubemark.js';

const { values } = parseArgs({
  options: {
    kubemark: { type: 'string', default: '20' },
    nodes: { type: 'string', default: '1000' },
    window: { type: 'string', default: '360' },
    'join-rate': { type: 'string', default: '50' },
    out: { type: 'string', default: join(packageRoot(), 'bench', 'results') },
  },
});
const peerCount = Number(values.kubemark);
const nodes = Number(values.nodes);
const windowMs = Number(values.window) * 1000;
const joinRate = Number(values['join-rate']);
if ([peerCount, nodes, windowMs, joinRate].some((n) => !Number.isFinite(n) || n <= 0)) {
  process.stderr.write('usage: kubelet-density.js [--kubemark K] [--nodes N] [--window s] [--join-rate r] (each a positive number)\n');
  process.exit(2);
}

const { signal, log } = startBench();

const KM = 'km-';
const OURS = 'hk-';
const stateDir = mkdtempSync(join(tmpdir(), 'em-kubelet-density-'));
// The peer's work dir may not be under /tmp (each instance mounts its own tmpfs there).
const peerDir = mkdtempSync('/var/tmp/em-kubemark-');
const cacheDir = defaultCacheDir();
let peer: KubemarkPeer | undefined;
let fleet: RunningFleet | undefined;
let partial = false;

interface Side {
  nodes: number;
  readySeconds?: number;
  readyPerSecond?: number;
  steady?: GroupUsage & { rssPerNodeKiB: number; pssPerNodeKiB: number; millicoresPerNode: number; nodesPerCore: number };
  callsPerNodeMinute?: number;
}
const result: {
  kubemark: Side;
  edgemark: Side;
  ratios?: { rssPerNode: number; pssPerNode: number; cpuPerNode: number; callsPerNode: number };
  calls?: CallRow[];
  controlPlane?: Record<string, GroupUsage>;
} = { kubemark: { nodes: peerCount }, edgemark: { nodes } };

const wait = (what: string, check: () => Promise<true | undefined>, timeoutMs: number) =>
  pollUntil(what, check, { timeoutMs, intervalMs: 1000, signal, retryErrors: true, prefix: '[bench]' });

try {
  const binary = findKubemarkBinary(cacheDir);
  if (!binary) throw new Error('no kubemark binary: run `edgemark setup --peers` first');
  log(`private control plane (audit log on) in ${stateDir}`);
  const state: ClusterState = await clusterUp({ stateDir, cacheDir, ports: 'auto', audit: true, signal });
  const kc = loadKubeConfig(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const readyOf = async (prefix: string) =>
    (await core.listNode()).items.filter(
      (n) => n.metadata?.name?.startsWith(prefix) && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  const pki = pkiPaths(stateDir);

  log(`${peerCount} kubemark processes, each in its own namespaces`);
  const p0 = Date.now();
  peer = await startKubemarkPeer({
    binary,
    count: peerCount,
    prefix: KM,
    apiserverPort: state.ports.apiserver,
    caPem: readFileSync(pki.caCert, 'utf8'),
    identity: async (name) => {
      const files = { cert: join(peerDir, `${name}.crt`), key: join(peerDir, `${name}.key`) };
      await issueClusterLeaf(pki, files, { subject: { cn: `system:node:${name}`, o: ['system:nodes'] }, client: true });
      const id = { certPem: readFileSync(files.cert, 'utf8'), keyPem: readFileSync(files.key, 'utf8') };
      rmSync(files.cert);
      rmSync(files.key);
      return id;
    },
    workDir: peerDir,
    log,
  });
  await wait(`${peerCount} kubemark nodes Ready`, async () => ((await readyOf(KM)) >= peerCount ? true : undefined), 300_000);
  result.kubemark.readySeconds = (Date.now() - p0) / 1000;
  result.kubemark.readyPerSecond = Math.round((peerCount / result.kubemark.readySeconds) * 10) / 10;
  log(`  kubemark: ${peerCount} Ready in ${result.kubemark.readySeconds.toFixed(1)} s`);

  const target = resolveTarget({}, stateDir);
  const plan = oneGroupPlan({
    target: { name: target.name, cloudcore: [], apiserver: target.apiserver, apiserverCa: target.apiserverCa },
    kind: 'kubelet',
    count: nodes,
    prefix: OURS,
    profile: { shape: 'kubemark', proxy: 'off' },
    joinRate,
    dataDir: join(stateDir, 'runner'),
    metrics: false,
    durationSeconds: 7200,
  });
  log(`${nodes} hollow kubelets (kubemark shape, no proxy) in one worker process at ${joinRate}/s`);
  const e0 = Date.now();
  fleet = await createRuntime('workers', { workers: 1 }).start(
    plan,
    { token: '', bootstrapToken: await target.bootstrapToken() },
    {
      log: createLogger({ level: 'warn' }),
      signal,
    },
  );
  await wait(`${nodes} hollow kubelets Ready`, async () => ((await readyOf(OURS)) >= nodes ? true : undefined), 300_000 + (nodes / joinRate) * 3000);
  result.edgemark.readySeconds = (Date.now() - e0) / 1000;
  result.edgemark.readyPerSecond = Math.round((nodes / result.edgemark.readySeconds) * 10) / 10;
  log(`  edgemark: ${nodes} Ready in ${result.edgemark.readySeconds.toFixed(1)} s`);

  // Both sides settled: the window starts after a minute of quiet (the joins' own calls left out).
  await new Promise((r) => setTimeout(r, 60_000));
  if (signal.aborted) throw new Error('interrupted');
  log(`steady window of ${windowMs / 1000} s with both sides running`);
  const from = Date.now();
  const pid = (n: 'kube-apiserver' | 'etcd' | 'kube-controller-manager' | 'kube-scheduler') => () => [state.components[n]!.pid];
  const usage = await sampleGroups(
    {
      kubemark: () => peer!.pids(),
      edgemark: () => fleet!.processes(),
      'kube-apiserver': pid('kube-apiserver'),
      etcd: pid('etcd'),
      'kube-controller-manager': pid('kube-controller-manager'),
    },
    windowMs,
  );
  const to = Date.now();
  for (const side of ['kubemark', 'edgemark'] as const) {
    const u = usage[side]!;
    const n = result[side].nodes;
    result[side].steady = {
      ...u,
      rssPerNodeKiB: Math.round(u.rssBytes / n / 1024),
      pssPerNodeKiB: Math.round(u.pssBytes / n / 1024),
      millicoresPerNode: Math.round((u.cores / n) * 1e6) / 1000,
      nodesPerCore: Math.round(n / Math.max(u.cores, 1e-6)),
    };
    log(`  ${side}: ${u.cores.toFixed(3)} cores, RSS ${(u.rssBytes / 2 ** 20).toFixed(0)} MiB, PSS ${(u.pssBytes / 2 ** 20).toFixed(0)} MiB for ${n} nodes`);
  }
  result.controlPlane = Object.fromEntries(Object.entries(usage).filter(([k]) => k !== 'kubemark' && k !== 'edgemark'));
  // The audit log is written as requests complete: a moment for the window's last ones.
  await new Promise((r) => setTimeout(r, 3000));
  const clientOf = (u: string) => (u.startsWith(`system:node:${KM}`) ? 'kubemark' : u.startsWith(`system:node:${OURS}`) ? 'edgemark' : undefined);
  const counts = await countCalls(join(stateDir, 'logs'), clientOf, from, to);
  const minutes = (to - from) / 60_000;
  result.calls = perNodeMinute(counts, { kubemark: peerCount, edgemark: nodes }, minutes);
  for (const side of ['kubemark', 'edgemark'] as const) {
    const total = [...(counts.get(side)?.values() ?? [])].reduce((a, b) => a + b, 0);
    result[side].callsPerNodeMinute = Math.round((total / result[side].nodes / minutes) * 100) / 100;
  }
  const k = result.kubemark.steady!;
  const e = result.edgemark.steady!;
  const r2 = (v: number) => Math.round(v * 100) / 100;
  result.ratios = {
    rssPerNode: r2(k.rssPerNodeKiB / e.rssPerNodeKiB),
    pssPerNode: r2(k.pssPerNodeKiB / e.pssPerNodeKiB),
    cpuPerNode: r2(k.millicoresPerNode / Math.max(e.millicoresPerNode, 1e-6)),
    callsPerNode: r2(result.edgemark.callsPerNodeMinute! / result.kubemark.callsPerNodeMinute!),
  };
  log('calls per node per minute (kubemark | edgemark):');
  for (const row of result.calls) log(`  ${row.call.padEnd(40)} ${String(row.perNodeMinute.kubemark).padStart(8)} | ${row.perNodeMinute.edgemark}`);
} catch (err) {
  partial = true;
  log(`stopped early: ${(err as Error).message}`);
} finally {
  await fleet?.stop().catch(() => undefined);
  await peer?.stop().catch((e: unknown) => log(String(e)));
  const facts = machineFacts({ kubemark: peerCount, nodes, windowSeconds: windowMs / 1000, joinRate, shape: 'kubemark', proxy: 'off' });
  const file = writeResult(values.out, 'kubelet-density', facts.date, { facts, partial, ...result });
  process.stdout.write(
    `${JSON.stringify({ ratios: result.ratios, kubemark: result.kubemark, edgemark: result.edgemark }, null, 2)}\n\nresults: ${file}${partial ? ' (partial)' : ''}\n`,
  );
  await clusterDown({ stateDir, purge: true }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(peerDir, { recursive: true, force: true });
}
