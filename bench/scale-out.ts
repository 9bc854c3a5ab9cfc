/**
 * bench/scale-out: what a hollow edge node costs in a runner pod (the
 * kubernetes runtime, on a real kubelet and containerd) against the same
 * nodes in-process, in one session on one private control plane with a real
 * worker node (`cluster up --workers 1`). For each: N nodes join, then a
 * steady window is sampled from /proc (the pods' processes are local: the
 * worker runs on this machine). In-process, the nodes share this script's
 * process; its RSS before the nodes started is recorded, so the table shows
 * both the gross and the net figure. Also the image: its size, and how long
 * the build and the import took.
 *
 *   node dist/bench/scale-out.js [--nodes 1000] [--nodes-per-pod 500] [--steady 60] [--join-rate 100]
 *
 * Loopback and the worker's own addresses only; bounded waits; Ctrl-C stops,
 * writes what was measured (partial) and removes everything it made.
 */
import { readFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineFacts, startBench, writeResult } from './lib/harness.js';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { importImage } from '../src/cluster/worker/worker.js';
import { createLogger } from '../src/core/log.js';
import { defaultCacheDir, packageRoot } from '../src/core/paths.js';
import { pollUntil } from '../src/core/poll.js';
import { buildEdgemarkImage } from '../src/image/edgemark.js';
import { deleteNodes, k8s, loadKubeConfig } from '../src/kube/client.js';
import { groupRssBytes, processTree, sampleGroups, type GroupUsage } from '../src/measure/procsample.js';
import { createRuntime, oneGroupPlan, type RunningFleet } from '../src/runtime/index.js';
import { resolveTarget } from '../src/target/target.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    'nodes-per-pod': { type: 'string', default: '500' },
    steady: { type: 'string', default: '60' },
    'join-rate': { type: 'string', default: '100' },
    out: { type: 'string', default: join(packageRoot(), 'bench', 'results') },
  },
});
const nodes = Number(values.nodes);
const perPod = Number(values['nodes-per-pod']);
const steadyMs = Number(values.steady) * 1000;
const joinRate = Number(values['join-rate']);
if ([nodes, perPod, steadyMs, joinRate].some((n) => !Number.isFinite(n) || n <= 0) || nodes % perPod !== 0) {
  process.stderr.write('usage: scale-out.js [--nodes N] [--nodes-per-pod K, dividing N] [--steady s] [--join-rate r]\n');
  process.exit(2);
}

const { signal, log } = startBench();

interface Row {
  where: 'in-process' | 'runner pods';
  nodes: number;
  processes: number;
  joinSeconds: number;
  usage: GroupUsage;
  rssPerNodeKiB: number;
  /** In-process only: RSS over what this process held before the nodes started. */
  netRssPerNodeKiB?: number;
  millicoresPerNode: number;
}

const rows: Row[] = [];
const stateDir = mkdtempSync(join(tmpdir(), 'em-scale-out-'));
const cacheDir = defaultCacheDir();
let fleet: RunningFleet | undefined;
let partial = false;
let image: { bytes: number; uncompressedBytes: number; buildSeconds: number; importSeconds: number } | undefined;

/** The runner pods' processes: local, since the worker runs here; found by their command line. */
function podProcesses(): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('fleet') && cmd.includes('runner') && cmd.includes('/etc/edgemark/plan.json')) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

async function readyCount(kc: k8s.KubeConfig, prefix: string): Promise<number> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNode();
  return list.items.filter((n) => n.metadata!.name!.startsWith(prefix) && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

async function removeNodes(kc: k8s.KubeConfig, prefix: string): Promise<void> {
  const names = (await kc.makeApiClient(k8s.CoreV1Api).listNode()).items.map((x) => x.metadata!.name!).filter((x) => x.startsWith(prefix));
  for (const p of await deleteNodes(kc, names)) log(`warning: not removed: ${p}`);
}

async function step(where: Row['where'], kc: k8s.KubeConfig, start: () => Promise<RunningFleet>, pids: () => number[], prefix: string, baseline?: number) {
  const began = Date.now();
  fleet = await start();
  await pollUntil(`${nodes} ${where} nodes Ready`, async () => ((await readyCount(kc, prefix)) >= nodes ? true : undefined), {
    timeoutMs: 120_000 + (nodes / joinRate) * 3000,
    intervalMs: 2000,
    signal,
    retryErrors: true,
    prefix: '[bench]',
  });
  const joinSeconds = (Date.now() - began) / 1000;
  log(`  ${nodes} Ready in ${joinSeconds.toFixed(1)} s; steady window ${steadyMs / 1000} s`);
  const usage = (await sampleGroups({ runner: pids }, steadyMs)).runner!;
  rows.push({
    where,
    nodes,
    processes: pids().length,
    joinSeconds,
    usage,
    rssPerNodeKiB: Math.round(usage.rssBytes / nodes / 1024),
    ...(baseline !== undefined ? { netRssPerNodeKiB: Math.round((usage.rssBytes - baseline) / nodes / 1024) } : {}),
    millicoresPerNode: Math.round((usage.cores / nodes) * 1000 * 1000) / 1000,
  });
  log(`  ${where}: ${(usage.rssBytes / 2 ** 20).toFixed(0)} MiB RSS, ${usage.cores.toFixed(3)} cores over ${pids().length} process(es)`);
  const r = await fleet.stop();
  for (const p of r.problems) log(`warning: not cleaned up: ${p}`);
  fleet = undefined;
  await removeNodes(kc, prefix);
}

try {
  log(`private control plane with a real worker in ${stateDir}`);
  const state = await clusterUp({ stateDir, cacheDir, ports: 'auto', nodeLimit: nodes + 100, workers: 1, signal });
  const kc = loadKubeConfig(state.kubeconfig);
  const target = resolveTarget({}, stateDir);
  const token = await target.token();
  let at = Date.now();
  const built = await buildEdgemarkImage({ cacheDir, out: join(stateDir, 'edgemark.tar') });
  const buildSeconds = (Date.now() - at) / 1000;
  at = Date.now();
  await importImage(stateDir, built.file);
  image = { bytes: built.bytes, uncompressedBytes: built.uncompressedBytes, buildSeconds, importSeconds: (Date.now() - at) / 1000 };
  log(`image ${built.name}: ${(built.bytes / 2 ** 20).toFixed(1)} MiB archive, ${(built.uncompressedBytes / 2 ** 20).toFixed(1)} MiB unpacked`);

  const plan = (prefix: string) =>
    oneGroupPlan({ target, count: nodes, prefix, joinRate, dataDir: join(stateDir, `runner-${prefix}`), metrics: false, durationSeconds: 3600 });
  const baseline = groupRssBytes([process.pid]);
  log(`in-process: ${nodes} nodes in this process (RSS before them ${(baseline / 2 ** 20).toFixed(0)} MiB)`);
  await step(
    'in-process',
    kc,
    () => createRuntime('inprocess').start(plan('ip-'), { token }, { log: createLogger({ level: 'warn' }), signal }),
    () => [process.pid],
    'ip-',
    baseline,
  );
  log(`runner pods: ${nodes} nodes as ${nodes / perPod} pod(s) of ${perPod} on the worker`);
  await step(
    'runner pods',
    kc,
    () =>
      createRuntime('kubernetes', {
        kubernetes: { externalKubeconfig: state.kubeconfig, name: 'bench', image: built.name, imagePullPolicy: 'Never', nodesPerPod: perPod },
      }).start(plan('pod-'), { token }, { log: createLogger({ level: 'warn' }), signal }),
    () => podProcesses().flatMap((p) => processTree(p)),
    'pod-',
  );
} catch (err) {
  partial = true;
  log(`stopped early: ${(err as Error).message}`);
} finally {
  await fleet?.stop().catch(() => undefined);
  const [ip, pod] = [rows.find((r) => r.where === 'in-process'), rows.find((r) => r.where === 'runner pods')];
  const ratios =
    ip && pod
      ? {
          rssPerNode: Math.round((pod.rssPerNodeKiB / ip.rssPerNodeKiB) * 100) / 100,
          cpuPerNode: Math.round((pod.millicoresPerNode / ip.millicoresPerNode) * 100) / 100,
        }
      : undefined;
  const facts = machineFacts({ nodes, nodesPerPod: perPod, steadySeconds: steadyMs / 1000, joinRate });
  const file = writeResult(values.out, 'scale-out', facts.date, { facts, partial, image, rows, ratios });
  const lines = ['| where | nodes | processes | RSS per node (net) | CPU per node (millicores) | Ready after |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows)
    lines.push(
      `| ${r.where} | ${r.nodes} | ${r.processes} | ${r.rssPerNodeKiB} KiB${r.netRssPerNodeKiB !== undefined ? ` (${r.netRssPerNodeKiB})` : ''} | ${r.millicoresPerNode} | ${r.joinSeconds.toFixed(1)} s |`,
    );
  if (ratios) lines.push('', `runner pods / in-process, per node: RSS x${ratios.rssPerNode}, CPU x${ratios.cpuPerNode}`);
  if (image)
    lines.push(
      `image: ${(image.bytes / 2 ** 20).toFixed(1)} MiB archive (${(image.uncompressedBytes / 2 ** 20).toFixed(1)} MiB unpacked), built in ${image.buildSeconds.toFixed(1)} s, imported in ${image.importSeconds.toFixed(1)} s`,
    );
  process.stdout.write(`${lines.join('\n')}\n\nresults: ${file}${partial ? ' (partial)' : ''}\n`);
  await clusterDown({ stateDir, purge: true });
  rmSync(stateDir, { recursive: true, force: true });
}
