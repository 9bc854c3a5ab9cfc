/**
 * bench/traffic: what an edge node's link carries, per node and second, by
 * direction and message type: idle (leases, node status, keepalives), and
 * with 10 pods per node (the same, plus their status and the cloud's pushes).
 * On a private control plane (CloudCore 1.23, kube-apiserver 1.32): N hollow
 * edge nodes in this process; an idle window; a Deployment of 10 pods per
 * node, available; a second window with the pods running. Bytes are frame
 * bytes (each message's JSON on the websocket: no websocket, TLS or TCP
 * overhead), read from the runner's summary at each window's ends. The
 * figures sit beside kubeedge#6179's measurement of one real node with 5
 * pods: 1.42 KB/s in and 0.28 KB/s out.
 *
 *   node dist/bench/traffic.js [--nodes 50] [--window 180] [--pods-per-node 10]
 *
 * Loopback only; bounded waits; Ctrl-C stops, writes what was measured
 * (partial) and removes everything it made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { machineFacts, startBench, writeResult } from './lib/harness.js';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { createLogger } from '../src/core/log.js';
import { defaultCacheDir, packageRoot } from '../src/core/paths.js';
import { pollUntil } from '../src/core/poll.js';
import type { FleetSummary } from '../src/fleet/summary.js';
import { trafficBetween, type Traffic } from '../src/fleet/traffic.js';
import { k8s, loadKubeConfig } from '../src/kube/client.js';
import { createRuntime, oneGroupPlan, type RunningFleet } from '../src/runtime/index.js';
import { resolveTarget } from '../src/target/target.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50' },
    window: { type: 'string', default: '180' },
    'pods-per-node': { type: 'string', default: '10' },
    out: { type: 'string', default: join(packageRoot(), 'bench', 'results') },
  },
});
const nodes = Number(values.nodes);
const windowMs = Number(values.window) * 1000;
const podsPerNode = Number(values['pods-per-node']);
if ([nodes, windowMs, podsPerNode].some((n) => !Number.isFinite(n) || n <= 0)) {
  process.stderr.write('usage: traffic.js [--nodes N] [--window s] [--pods-per-node P]\n');
  process.exit(2);
}
const { signal, log } = startBench();
const stateDir = mkdtempSync(join(tmpdir(), 'em-traffic-'));
const LABEL = { 'edgemark.io/bench': 'traffic' };
const NS = 'traffic';
let fleet: RunningFleet | undefined;
let partial = false;
const result: { idle?: Traffic; withPods?: Traffic; reference: { source: string; inKBps: number; outKBps: number; pods: number } } = {
  reference: { source: 'kubeedge#6179 (one real edge node, 5 pods)', inKBps: 1.42, outKBps: 0.28, pods: 5 },
};

const wait = (what: string, check: () => Promise<true | undefined>, timeoutMs: number) =>
  pollUntil(what, check, { timeoutMs, intervalMs: 2000, signal, retryErrors: true, prefix: '[bench]' });

/** A window: the summaries at its ends, as fresh as the runner's 2-second status makes them. */
async function window(what: string): Promise<Traffic | undefined> {
  await sleep(2500, undefined, { signal });
  const from: FleetSummary = fleet!.latest()!;
  log(`  ${what}: ${windowMs / 1000} s window`);
  await sleep(windowMs, undefined, { signal });
  await sleep(2500, undefined, { signal });
  const to = fleet!.latest()!;
  const t = trafficBetween(to, from, nodes, (to.durationMs - from.durationMs) / 1000);
  if (t) log(`  ${what}: ${(t.inBytesPerNodePerSec / 1000).toFixed(3)} KB/s in, ${(t.outBytesPerNodePerSec / 1000).toFixed(3)} KB/s out per node`);
  return t;
}

try {
  log(`private control plane in ${stateDir}`);
  const state = await clusterUp({ stateDir, cacheDir: defaultCacheDir(), ports: 'auto', signal });
  const kc = loadKubeConfig(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const target = resolveTarget({}, stateDir);
  const token = await target.token();
  const plan = oneGroupPlan({
    target: { name: target.name, cloudcore: target.cloudcore },
    count: nodes,
    prefix: 'tr-',
    joinRate: 50,
    profile: { labels: LABEL },
    dataDir: join(stateDir, 'runner'),
    metrics: false,
    durationSeconds: 7200,
  });
  fleet = await createRuntime('inprocess').start(plan, { token }, { log: createLogger({ level: 'warn' }), signal });
  await wait(`${nodes} edge nodes Ready`, async () => ((fleet!.latest()?.states.ready ?? 0) >= nodes ? true : undefined), 300_000);
  log(`${nodes} edge nodes Ready; idle`);
  result.idle = await window('idle');

  await core.createNamespace({ body: { metadata: { name: NS } } });
  const pods = nodes * podsPerNode;
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'pods' },
      spec: {
        replicas: pods,
        selector: { matchLabels: { app: 'pods' } },
        template: {
          metadata: { labels: { app: 'pods' } },
          spec: {
            nodeSelector: LABEL,
            tolerations: [{ operator: 'Exists' }],
            topologySpreadConstraints: [
              { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'pods' } } },
            ],
            containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    },
  });
  await wait(
    `${pods} pods available`,
    async () => ((await apps.readNamespacedDeployment({ name: 'pods', namespace: NS })).status?.availableReplicas === pods ? true : undefined),
    600_000,
  );
  log(`${pods} pods available (${podsPerNode} per node); steady`);
  result.withPods = await window(`${podsPerNode} pods per node`);
  await apps.deleteNamespacedDeployment({ name: 'pods', namespace: NS });
} catch (err) {
  partial = true;
  log(`stopped early: ${(err as Error).message}`);
} finally {
  await fleet?.stop().catch(() => undefined);
  const facts = machineFacts({ nodes, windowSeconds: windowMs / 1000, podsPerNode });
  const file = writeResult(values.out, 'traffic', facts.date, { facts, partial, ...result });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n\nresults: ${file}${partial ? ' (partial)' : ''}\n`);
  await clusterDown({ stateDir, purge: true }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
}
