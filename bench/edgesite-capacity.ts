/**
 * bench/edgesite-capacity: the question a user of seed 004 asks. With a site
 * master of 2 CPUs and 1 GiB (the EdgeSite envelope, enforced by cgroups),
 * how many worker nodes and pods does it hold with every SLO passing? On a
 * private `cluster up --profile edgesite`, the `edgesite` LoadTest profile
 * (kubelet-kind workers with the hostPort rule, one hostPort pod each) runs at
 * growing node counts until a step fails an SLO, its run stops, or the
 * envelope records an OOM kill; each step's verdicts, the envelope's peak
 * memory and CPU and the control plane's figures are kept.
 *
 *   node dist/bench/edgesite-capacity.js [--steps 100,200,400,800] [--cpus 2] [--memory 1Gi]
 *
 * Loopback only; bounded (each run has the profile's timeout); Ctrl-C stops,
 * writes what was measured (partial) and removes everything it made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineFacts, startBench, writeResult } from './lib/harness.js';
import { clusterDown, clusterStatus, clusterUp } from '../src/cluster/cluster.js';
import { envelopeUsage, parseMemory } from '../src/cluster/envelope.js';
import { createLogger } from '../src/core/log.js';
import { defaultCacheDir, packageRoot } from '../src/core/paths.js';
import { resolveTest } from '../src/run/config.js';
import { runTest } from '../src/run/run.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '100,200,400,800' },
    cpus: { type: 'string', default: '2' },
    memory: { type: 'string', default: '1Gi' },
    out: { type: 'string', default: join(packageRoot(), 'bench', 'results') },
  },
});
const steps = values.steps.split(',').map(Number);
const envelope = { cpus: Number(values.cpus), memoryBytes: parseMemory(values.memory) ?? Number.NaN };
if (steps.some((n) => !Number.isInteger(n) || n < 1) || !(envelope.cpus > 0) || !(envelope.memoryBytes > 0)) {
  process.stderr.write('usage: edgesite-capacity.js [--steps 100,200,...] [--cpus 2] [--memory 1Gi]\n');
  process.exit(2);
}

const { signal, log } = startBench();

interface Step {
  nodes: number;
  pods: number;
  passed: boolean;
  partial: boolean;
  failure?: string;
  failedSlos: string[];
  slos: { name: string; value: number; threshold: number; ok: boolean }[];
  podStartupP99Ms: number;
  nodesReadyP99Ms: number;
  envelopePeakMiB?: number;
  envelopeCpuCoresAvg?: number;
  oomKills: number;
  apiserver?: { cpuCoresAvg: number; rssMiBMax: number };
  /** The slowest mutating call (p99): what the mutating-API SLO reads. */
  worstMutating?: { verb: string; resource: string; p99Ms: number; count: number };
}

const stateDir = mkdtempSync(join(tmpdir(), 'em-edgesite-'));
const outDir = mkdtempSync(join(tmpdir(), 'em-edgesite-runs-'));
const results: Step[] = [];
let partial = false;
try {
  log(`EdgeSite control plane in ${stateDir}: ${envelope.cpus} CPU, ${values.memory}`);
  await clusterUp({ stateDir, cacheDir: defaultCacheDir(), ports: 'auto', profile: 'edgesite', envelope, signal });
  for (const n of steps) {
    if (signal.aborted) break;
    const before = envelopeUsage((await clusterStatus(stateDir)).envelope!);
    const test = resolveTest({ profile: 'edgesite', nodes: { count: n } });
    log(`step ${n} nodes`);
    const began = Date.now();
    const o = await runTest({
      test,
      configSource: 'profiles/edgesite.yaml',
      stateDir,
      cacheDir: defaultCacheDir(),
      outDir,
      log: createLogger({ level: 'warn' }),
      signal,
    });
    const st = (await clusterStatus(stateDir)).envelope!;
    const after = envelopeUsage(st);
    const r = o.record;
    const api = r.sli.resources['kube-apiserver'];
    const step: Step = {
      nodes: n,
      pods: r.sli.podStartup.createdToRunningSeen.count,
      passed: !r.partial && o.failedSlos.length === 0 && after.oomKills === before.oomKills,
      partial: r.partial,
      ...(r.failure ? { failure: r.failure } : {}),
      failedSlos: o.failedSlos,
      slos: r.slos.map((v) => ({ name: v.name, value: v.value, threshold: v.threshold, ok: v.ok })),
      podStartupP99Ms: r.sli.podStartup.createdToRunningSeen.p99,
      nodesReadyP99Ms: r.sli.nodeJoin.p99,
      ...(after.peakBytes ? { envelopePeakMiB: Math.round(after.peakBytes / 2 ** 20) } : {}),
      ...(after.cpuSeconds !== undefined && before.cpuSeconds !== undefined
        ? { envelopeCpuCoresAvg: Math.round(((after.cpuSeconds - before.cpuSeconds) / ((Date.now() - began) / 1000)) * 1000) / 1000 }
        : {}),
      oomKills: after.oomKills - before.oomKills,
      ...(api ? { apiserver: { cpuCoresAvg: api.cpuCoresAvg, rssMiBMax: Math.round(api.rssBytesMax / 2 ** 20) } } : {}),
      ...(() => {
        const w = r.sli.api.filter((a) => a.mutating && a.count > 0).sort((a, b) => b.p99 - a.p99)[0];
        return w ? { worstMutating: { verb: w.verb, resource: w.resource, p99Ms: w.p99, count: w.count } } : {};
      })(),
    };
    results.push(step);
    log(
      `  ${n} nodes, ${step.pods} pods: ${step.passed ? 'every SLO passed' : `FAILED (${[...step.failedSlos, ...(step.failure ? [step.failure] : []), ...(step.oomKills ? [`${step.oomKills} OOM kill(s)`] : [])].join('; ')})`}; pod startup p99 ${step.podStartupP99Ms} ms; envelope peak ${step.envelopePeakMiB ?? '?'} MiB, ${step.envelopeCpuCoresAvg ?? '?'} cores`,
    );
    if (!step.passed) break;
  }
} catch (err) {
  partial = true;
  log(`stopped early: ${(err as Error).message}`);
} finally {
  const held = results.filter((s) => s.passed).at(-1);
  const facts = machineFacts({ steps, envelopeCpus: envelope.cpus, envelopeMemory: values.memory, profile: 'edgesite' });
  const answer = held
    ? { nodes: held.nodes, pods: held.pods, firstFailing: results.find((s) => !s.passed)?.nodes ?? null }
    : { nodes: 0, pods: 0, firstFailing: results[0]?.nodes ?? null };
  const file = writeResult(values.out, 'edgesite-capacity', facts.date, { facts, partial: partial || signal.aborted, answer, steps: results });
  process.stdout.write(`${JSON.stringify({ answer }, null, 2)}\n\nresults: ${file}${partial ? ' (partial)' : ''}\n`);
  await clusterDown({ stateDir, purge: true }).catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
}
