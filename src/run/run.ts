/**
 * `edgemark run`: a load test on the local control plane. It checks the
 * target before anything starts, builds the run's context (the cluster
 * operations, the hollow-node fleet, the measurements), runs the test's
 * phases (src/workload/phases/), and on the way out (done, failed or Ctrl-C)
 * removes what it created, then turns what it observed into the run record
 * and every artifact.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import { loadKubeConfig } from '../kube/client.js';
import { cleanUp } from '../workload/cleanup.js';
import { RunContext } from '../workload/context.js';
import { createKubeOps } from '../workload/kube.js';
import { runPhases } from '../workload/phases/index.js';
import { writeArtifacts } from './artifacts.js';
import { ChildFleet } from './child-fleet.js';
import type { LoadTest } from './config.js';
import { apiserverGet, NodeTimeline, parseRequestDurations, PodTimeline, ResourceSeries, runnerGroup, type ApiHistograms } from './measure.js';
import { analyse, type RunRecord } from './results.js';
import { ensureTarget } from './target.js';

export interface RunOptions {
  test: LoadTest;
  /** Where the YAML the user gave came from (recorded with the run). */
  configSource: string;
  stateDir: string;
  cacheDir: string;
  outDir: string;
  log: Logger;
  signal: AbortSignal;
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
  const runId = `${test.metadata.name}-${new Date(started).toISOString().slice(0, 19).replace(/[-:T]/g, '').replace(/^(\d{8})/, '$1-')}`;
  const dir = join(o.outDir, runId);

  const state = await ensureTarget(o, test.spec.nodes.count);
  const kc = loadKubeConfig(state.kubeconfig);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'test.yaml'), stringify(test));
  log.info(`run ${runId}: ${test.spec.phases.length} phases, ${test.spec.nodes.count} nodes; artifacts in ${dir}`);

  const pods = new PodTimeline(kc, runId);
  const nodes = new NodeTimeline(kc, test.spec.nodes.prefix);
  const fleet = new ChildFleet({ stateDir: o.stateDir, dir });
  const groups: Record<string, () => number[]> = {};
  for (const [name, rec] of Object.entries(state.components)) if (rec) groups[name] = () => [rec.pid];
  groups.runner = runnerGroup(() => fleet.pid());
  const resources = new ResourceSeries(groups, started);
  const ctx = new RunContext({
    runId,
    test,
    log,
    signal,
    startedAt: started,
    kube: createKubeOps(kc, { runId, podLifecycle: test.spec.podLifecycle }),
    fleet,
    resources: {
      sample: () => void resources.sample(),
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
    resources.stop();
    log.info('cleaning up: runner, namespaces, nodes');
    warnings = await cleanUp(ctx);
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
      api: { before: apiBefore, after: apiAfter },
      runnerSummary: fleet.summary(),
      trace: fleet.podTrace(),
      footprint: ctx.footprint,
      versions: { edgemark: packageVersion(), ...state.versions },
    }),
    // Teardown problems, kept with the run (RunRecord has no field for them yet).
    warnings,
  };
  const { failedSlos, invalid } = writeArtifacts(dir, record);
  return { dir, record, failedSlos, invalid };
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
