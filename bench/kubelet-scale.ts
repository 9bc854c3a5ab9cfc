/**
 * bench/kubelet-scale: how many hollow kubelets one runner process holds on
 * this machine, and what limits it. On a private control plane: N kubelet
 * nodes (each its own TLS bootstrap, its own HTTP/2 connection and watches)
 * start in this process; the time until all are Ready; a steady window
 * sampled from /proc for the runner, kube-apiserver, etcd and the controller
 * manager; then a Deployment of P pods per node and the time until all are
 * available; then its deletion until no pod is left. kwok's CI figure (5,000
 * nodes Ready and 10,000 pods Running within 60 s each, one controller, no
 * per-node connection or identity) is the mark it is read against.
 *
 *   node dist/bench/kubelet-scale.js [--nodes 5000] [--pods-per-node 2] [--steady 60] [--join-rate 200]
 *
 * Loopback only; bounded waits; Ctrl-C stops, writes what was measured
 * (partial) and removes everything it made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineFacts, startBench, writeResult } from './lib/harness.js';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import type { ClusterState } from '../src/cluster/state.js';
import { createLogger } from '../src/core/log.js';
import { defaultCacheDir, packageRoot } from '../src/core/paths.js';
import { pollUntil } from '../src/core/poll.js';
import { k8s, loadKubeConfig } from '../src/kube/client.js';
import { sampleGroups, type GroupUsage } from '../src/measure/procsample.js';
import { createRuntime, oneGroupPlan, type RunningFleet } from '../src/runtime/index.js';
import { resolveTarget } from '../src/target/target.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    'pods-per-node': { type: 'string', default: '2' },
    steady: { type: 'string', default: '60' },
    'join-rate': { type: 'string', default: '200' },
    out: { type: 'string', default: join(packageRoot(), 'bench', 'results') },
  },
});
const nodes = Number(values.nodes);
const podsPerNode = Number(values['pods-per-node']);
const steadyMs = Number(values.steady) * 1000;
const joinRate = Number(values['join-rate']);
if ([nodes, podsPerNode, steadyMs, joinRate].some((n) => !Number.isFinite(n) || n <= 0)) {
  process.stderr.write('usage: kubelet-scale.js [--nodes N] [--pods-per-node P] [--steady s] [--join-rate r]\n');
  process.exit(2);
}
const pods = nodes * podsPerNode;

const { signal, log } = startBench();

const stateDir = mkdtempSync(join(tmpdir(), 'em-kubelet-scale-'));
const cacheDir = defaultCacheDir();
const PREFIX = 'ks-';
const NS = 'kubelet-scale';
let fleet: RunningFleet | undefined;
let partial = false;
const result: {
  readySeconds?: number;
  podsAvailableSeconds?: number;
  podsDeletedSeconds?: number;
  steady?: Record<string, GroupUsage & { perNodeKiB?: number; perNodeMillicores?: number }>;
  runner?: { openWatches?: number; apiRequests?: number; eventLoopLagP99Ms?: number; errors?: Record<string, number> };
} = {};

const wait = (what: string, check: () => Promise<true | undefined>, timeoutMs: number) =>
  pollUntil(what, check, { timeoutMs, intervalMs: 2000, signal, retryErrors: true, prefix: '[bench]' });

try {
  log(`private control plane in ${stateDir}`);
  const state: ClusterState = await clusterUp({ stateDir, cacheDir, ports: 'auto', signal });
  const kc = loadKubeConfig(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const target = resolveTarget({}, stateDir);
  const bootstrapToken = await target.bootstrapToken();
  const pid = (n: 'kube-apiserver' | 'etcd' | 'kube-controller-manager' | 'kube-scheduler') => () => [state.components[n]!.pid];
  const plan = oneGroupPlan({
    target: { name: target.name, cloudcore: [], apiserver: target.apiserver, apiserverCa: target.apiserverCa },
    kind: 'kubelet',
    count: nodes,
    prefix: PREFIX,
    joinRate,
    maxJoining: 500,
    dataDir: join(stateDir, 'runner'),
    metrics: false,
    durationSeconds: 7200,
  });
  log(`${nodes} hollow kubelets in this process at ${joinRate}/s`);
  const began = Date.now();
  fleet = await createRuntime('inprocess').start(plan, { token: '', bootstrapToken }, { log: createLogger({ level: 'warn' }), signal });
  await wait(
    `${nodes} kubelet nodes Ready`,
    async () => ((fleet!.latest()?.groups.nodes?.ready ?? 0) >= nodes ? true : undefined),
    600_000 + (nodes / joinRate) * 2000,
  );
  result.readySeconds = (Date.now() - began) / 1000;
  log(`  ${nodes} Ready in ${result.readySeconds.toFixed(1)} s; steady window ${steadyMs / 1000} s`);
  const usage = await sampleGroups(
    { runner: () => [process.pid], 'kube-apiserver': pid('kube-apiserver'), etcd: pid('etcd'), 'kube-controller-manager': pid('kube-controller-manager') },
    steadyMs,
  );
  result.steady = Object.fromEntries(
    Object.entries(usage).map(([k, u]) => [
      k,
      { ...u, perNodeKiB: Math.round(u.rssBytes / nodes / 1024), perNodeMillicores: Math.round((u.cores / nodes) * 1e6) / 1000 },
    ]),
  );
  for (const [k, u] of Object.entries(usage)) log(`  ${k}: ${u.cores.toFixed(2)} cores, ${(u.rssBytes / 2 ** 20).toFixed(0)} MiB`);
  const s = fleet.latest()!;
  result.runner = { ...s.kinds.kubelet, eventLoopLagP99Ms: s.eventLoopLagMs.p99, errors: s.errors };

  await core.createNamespace({ body: { metadata: { name: NS } } });
  const p0 = Date.now();
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'pods' },
      spec: {
        replicas: pods,
        selector: { matchLabels: { app: 'pods' } },
        template: { metadata: { labels: { app: 'pods' } }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } },
      },
    },
  });
  await wait(
    `${pods} pods available`,
    async () => ((await apps.readNamespacedDeployment({ name: 'pods', namespace: NS })).status?.availableReplicas === pods ? true : undefined),
    900_000,
  );
  result.podsAvailableSeconds = (Date.now() - p0) / 1000;
  log(`  ${pods} pods available in ${result.podsAvailableSeconds.toFixed(1)} s`);
  const d0 = Date.now();
  await apps.deleteNamespacedDeployment({ name: 'pods', namespace: NS });
  await wait('every pod gone', async () => ((await core.listNamespacedPod({ namespace: NS, limit: 1 })).items.length === 0 ? true : undefined), 900_000);
  result.podsDeletedSeconds = (Date.now() - d0) / 1000;
  log(`  deleted in ${result.podsDeletedSeconds.toFixed(1)} s`);
} catch (err) {
  partial = true;
  log(`stopped early: ${(err as Error).message}`);
} finally {
  await fleet?.stop().catch(() => undefined);
  const facts = machineFacts({ nodes, podsPerNode, pods, steadySeconds: steadyMs / 1000, joinRate });
  const file = writeResult(values.out, 'kubelet-scale', facts.date, { facts, partial, ...result });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n\nresults: ${file}${partial ? ' (partial)' : ''}\n`);
  await clusterDown({ stateDir, purge: true }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
}
