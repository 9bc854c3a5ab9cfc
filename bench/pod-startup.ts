/**
 * bench/pod-startup: pod startup latency on hollow edge nodes, measured on a
 * private local control plane (free ports, temporary state). Brings the
 * cluster up, runs N hollow nodes, creates a Deployment of P pods for them,
 * and prints created-to-Running latency (p50, p90, p99) seen through a watch.
 * Everything it starts it stops. Loopback only; bounded in time.
 *
 *   node dist/bench/pod-startup.js [--nodes 20] [--pods 100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { createLogger } from '../src/core/log.js';
import { defaultCacheDir } from '../src/core/paths.js';
import { createRuntime, oneGroupPlan } from '../src/runtime/index.js';
import { resolveTarget } from '../src/target/target.js';
import { k8s, loadKubeConfig, waitFor } from '../src/kube/client.js';
import { pct, PodTimeline } from '../src/run/measure.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '20' }, pods: { type: 'string', default: '100' } } });
const nodes = Number(values.nodes);
const pods = Number(values.pods);
const stateDir = mkdtempSync(join(tmpdir(), 'em-bench-'));

const state = await clusterUp({ stateDir, cacheDir: defaultCacheDir(), ports: 'auto' });
const target = resolveTarget({}, stateDir);
const plan = oneGroupPlan({ target, count: nodes, prefix: 'bench-', dataDir: join(stateDir, 'runner'), durationSeconds: 600 });
// One worker process: the nodes' event loop is not this script's.
const runner = await createRuntime('workers', { workers: 1 }).start(plan, { token: await target.token() }, { log: createLogger({ level: 'warn' }) });
try {
  const kc = loadKubeConfig(state.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await waitFor(
    `${nodes} Ready nodes`,
    async () => {
      const n = (await core.listNode({ labelSelector: 'node-role.kubernetes.io/edge' })).items;
      return n.length === nodes && n.every((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  await core.createNamespace({ body: { metadata: { name: 'bench' } } });
  await waitFor('the default service account', async () => core.readNamespacedServiceAccount({ name: 'default', namespace: 'bench' }), { timeoutMs: 30_000 });
  // Pods labelled edgemark.io/run=bench are the ones the watch times.
  const watch = new PodTimeline(kc, 'bench');
  await watch.start();
  await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
    namespace: 'bench',
    body: {
      metadata: { name: 'bench' },
      spec: {
        replicas: pods,
        selector: { matchLabels: { app: 'bench' } },
        template: {
          metadata: { labels: { app: 'bench', 'edgemark.io/run': 'bench' } },
          spec: { nodeSelector: { 'node-role.kubernetes.io/edge': '' }, containers: [{ name: 'c', image: 'registry.invalid/bench:1' }] },
        },
      },
    },
  });
  await waitFor(`${pods} pods Running`, async () => (watch.startupLatencies().length >= pods ? true : undefined), { timeoutMs: 300_000, intervalMs: 500 });
  watch.stop();
  const l = watch.startupLatencies();
  const result = { nodes, pods, p50Ms: pct(l, 50), p90Ms: pct(l, 90), p99Ms: pct(l, 99), maxMs: pct(l, 100) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stdout.write(
    `pod startup (created -> Running and Ready, seen by a watch), ${pods} pods on ${nodes} hollow edge nodes: p50 ${result.p50Ms} ms, p90 ${result.p90Ms} ms, p99 ${result.p99Ms} ms\n`,
  );
} finally {
  await runner.stop();
  await clusterDown({ stateDir, purge: true });
  rmSync(stateDir, { recursive: true, force: true });
}
