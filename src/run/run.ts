/**
 * `edgemark run`: a load test on the local control plane or an existing one.
 * It checks the target before anything starts, builds the run's context (the cluster
 * operations, the hollow-node fleet, the measurements), runs the test's
 * phases (src/workload/phases/), and on the way out (done, failed or Ctrl-C)
 * removes what it created, then turns what it observed into the run record
 * and every artifact.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readState } from '../cluster/state.js';
import type { Logger } from '../core/log.js';
import { packageVersion } from '../core/paths.js';
import { resolveTarget, type Target, type TargetFlags } from '../target/target.js';
import { cleanUp } from '../workload/cleanup.js';
import { RunContext } from '../workload/context.js';
import { createKubeOps } from '../workload/kube.js';
import { runPhases } from '../workload/phases/index.js';
import { EdgemarkError } from '../core/errors.js';
import { FaultDriver } from '../faults/driver.js';
import { localControlPlaneFaults } from './controlplane.js';
import { planFaults } from '../faults/spec.js';
import { writeArtifacts } from './artifacts.js';
import { nodeCount, nodeCountOf, type LoadTest } from './config.js';
import { apiserverGet, NodeTimeline, parseRequestDurations, PodTimeline, ResourceSeries, type ApiHistograms } from './measure.js';
import { analyse, type RunRecord } from './results.js';
import { fleetFor, RuntimeFleet } from './runtime-fleet.js';
import type { RuntimeOptions } from '../runtime/index.js';
import { ensureTarget, isExternal, type TargetOptions } from './target.js';
import { describe } from '../workload/phases/index.js';
import type { MetricsSpec } from '../measure/sources.js';

export interface RunOptions {
  test: LoadTest;
  /** Where the YAML the user gave came from (recorded with the run). */
  configSource: string;
  stateDir: string;
  cacheDir: string;
  outDir: string;
  log: Logger;
  signal: AbortSignal;
  /** An existing control plane instead of the local cluster. */
  target?: TargetFlags;
  /** /metrics URLs of its components other than kube-apiserver. */
  componentMetrics?: Omit<MetricsSpec, 'apiserver'>;
  /** Where the hollow nodes run (default: local worker processes). */
  runtime?: string;
  /** Settings of that runtime (the kubernetes runtime's external cluster and pods). */
  runtimeOptions?: RuntimeOptions;
}

export interface RunOutcome {
  dir: string;
  record: RunRecord;
  failedSlos: string[];
  invalid: boolean;
}

export async function runTest(o: RunOptions): Promise<RunOutcome> {
  const { test, log, signal } = o;
  const started = Date.now();
  const runId = `${test.metadata.name}-${new Date(started)
    .toISOString()
    .slice(0, 19)
    .replace(/[-:T]/g, '')
    .replace(/^(\d{8})/, '$1-')}`;
  const dir = join(o.outDir, runId);

  if (isExternal(o.target) && test.spec.faults.some((f) => f.kill)) {
    throw new EdgemarkError(
      'EM_FAULT_INVALID',
      `[run] a kill fault stops and starts a component of the local control plane; this run's target is an existing cluster`,
      'run the test on the local control plane, or drop the kill faults (partitions, links and disconnects work anywhere)',
    );
  }
  const where = await ensureTarget(targetOptions(o), nodeCountOf(test, 'edge'));
  const kc = where.kc;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'test.yaml'), stringify(test));
  log.info(
    `run ${runId}: ${test.spec.phases.length} phases, ${nodeCount(test)} nodes (${test.spec.nodes.map((g) => `${g.name}: ${g.count} ${g.kind}`).join(', ')}); artifacts in ${dir}`,
  );

  const pods = new PodTimeline(kc, runId);
  const nodes = new NodeTimeline(kc, test.spec.nodes);
  const fleet = new RuntimeFleet({
    target: where.target,
    dir,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    ...(o.runtimeOptions ? { runtimeOptions: o.runtimeOptions } : {}),
  });
  // Runner pods are read through their own metrics; local runners from /proc.
  const resources = new ResourceSeries(
    where.sources(() => fleet.processes()).map((s) => (s.name === 'runner' && o.runtime === 'kubernetes' ? fleet.remoteRunnerSource() : s)),
    started,
  );
  // Faults: resolved against the groups now (a wrong group is refused before anything starts), started once the nodes are up.
  const planned = planFaults(test.spec.faults, test.spec.nodes);
  const faults = new FaultDriver(planned, fleet, log, started, isExternal(o.target) ? undefined : localControlPlaneFaults(o.stateDir, o.cacheDir, log));
  const ctx = new RunContext({
    runId,
    test,
    log,
    signal,
    startedAt: started,
    onPhaseEnd: (kind) => {
      if (kind === 'nodesUp') faults.start();
    },
    kube: createKubeOps(kc, { runId, podLifecycle: test.spec.podLifecycle, hostPort: test.spec.podHostPort }),
    fleet,
    resources: {
      sample: async () => {
        await resources.sample();
      },
      get points() {
        return resources.points;
      },
    },
    nodesReady: () => nodes.readyCount(),
  });

  let apiBefore: ApiHistograms = new Map();
  let apiAfter: ApiHistograms = new Map();
  let partial = false;
  let stoppedBy: string | undefined;
  let warnings: string[] = [];
  await pods.start();
  await nodes.start();
  resources.start(test.spec.sampleEverySeconds * 1000);
  try {
    apiBefore = parseRequestDurations(await apiserverGet(kc, '/metrics'));
    partial = !(await runPhases(ctx));
  } catch (err) {
    partial = true;
    // A runner that exited is the cause of whatever error it led to.
    stoppedBy = fleet.failure() ?? (err instanceof Error ? err.message : String(err));
    log.warn(`run stopped early: ${stoppedBy}`);
  } finally {
    // Measure the window before cleaning up, then clean up whatever happened.
    apiAfter = await apiserverGet(kc, '/metrics').then(parseRequestDurations, () => new Map());
    await resources.stop();
    await faults.settle();
    faults.stop();
    log.info('cleaning up: runner, namespaces, nodes');
    warnings = await cleanUp(ctx);
    for (const p of fleet.problems) warnings.push(`runner: ${p}`);
    pods.stop();
    nodes.stop();
  }

  const failure = stoppedBy ?? fleet.failure();
  const record: RunRecord & { warnings: string[] } = {
    ...analyse({
      runId,
      test,
      configSource: o.configSource,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      partial,
      ...(failure ? { failure } : {}),
      phases: ctx.phaseLog,
      pods: [...pods.pods.values()],
      nodes: [...nodes.nodes.values()],
      resources: resources.points,
      resourceSources: resources.sources(),
      api: { before: apiBefore, after: apiAfter },
      runnerSummary: fleet.summary(),
      trace: fleet.podTrace(),
      footprint: ctx.footprint,
      faults: faults.records(),
      versions: { edgemark: packageVersion(), ...where.versions },
    }),
    // Teardown problems, kept with the run (RunRecord has no field for them yet).
    warnings,
  };
  const { failedSlos, invalid } = writeArtifacts(dir, record);
  return { dir, record, failedSlos, invalid };
}

function targetOptions(o: RunOptions): TargetOptions {
  return {
    test: o.test,
    stateDir: o.stateDir,
    cacheDir: o.cacheDir,
    log: o.log,
    signal: o.signal,
    // A test without edge nodes needs no CloudCore (and no join token).
    target: { ...(o.target ?? {}), needsCloudcore: nodeCountOf(o.test, 'edge') > 0 },
    ...(o.componentMetrics ? { componentMetrics: o.componentMetrics } : {}),
  };
}

/**
 * What `run` would do, touching nothing: no cluster is started, no token
 * read, nothing created. Lines to print, then the fleet plan as YAML.
 */
export function dryRunTest(o: Omit<RunOptions, 'signal' | 'log' | 'cacheDir'>): { lines: string[]; planYaml: string } {
  const { test } = o;
  const lines: string[] = [
    `test ${test.metadata.name}: ${nodeCount(test)} nodes (${test.spec.nodes.map((g) => `${g.name}: ${g.count} ${g.kind}`).join(', ')}), ${test.spec.phases.length} phases, timeout ${test.spec.timeoutSeconds} s`,
  ];
  let target: Target | undefined;
  if (isExternal(o.target)) {
    target = resolveTarget(o.target!, o.stateDir);
    lines.push(`target: ${target.name}; CloudHub ${target.cloudcore.map((c) => c.websocket).join(', ')}; token from ${target.tokenSource}`);
    lines.push(
      `sample kube-apiserver from its /metrics through the kubeconfig${o.componentMetrics ? `, and ${Object.keys(o.componentMetrics).join(', ')} from their /metrics` : ''}; the runner from /proc`,
    );
  } else if (readState(o.stateDir)) {
    target = resolveTarget(o.target ?? {}, o.stateDir);
    lines.push(`target: ${target.name}; token from ${target.tokenSource}`);
    lines.push('sample every component and the runner from /proc');
  } else {
    lines.push(
      `target: no local cluster in ${o.stateDir}: one would be brought up (node limit ${Math.max(test.spec.cluster.nodeLimit ?? 0, nodeCountOf(test, 'edge') + 10, 1000)})`,
    );
  }
  for (const [i, p] of test.spec.phases.entries()) lines.push(`phase ${i + 1}: ${describe(p)}`);
  for (const f of planFaults(test.spec.faults, test.spec.nodes))
    lines.push(`fault ${f.name}: ${f.description} on ${f.nodes.length} node(s), ${f.atMs / 1000} s after the nodes are up, for ${f.durationMs / 1000} s`);
  const { plan, runtime } = fleetFor(
    { test, runId: `${test.metadata.name}-<time>` },
    target ?? { name: `local cluster in ${o.stateDir} (not up)`, cloudcore: [] },
    join(o.outDir, '<run>'),
    o.runtime,
    o.runtimeOptions,
  );
  if (target) {
    const d = runtime.dryRun(plan);
    lines.push(`runtime ${d.runtime}:`, ...d.actions.map((a) => `  ${a}`));
  } else lines.push(`runtime ${runtime.name}: the nodes join the cluster brought up`);
  return { lines, planYaml: stringify(plan) };
}
