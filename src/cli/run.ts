/**
 * `edgemark run` (a load test with SLIs, SLO verdicts and a report) and
 * `edgemark report compare` (two runs side by side, regressions flagged).
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { builtinProfiles, resolveTest } from '../run/config.js';
import { compareRuns, formatComparison, loadRun } from '../run/compare.js';
import { renderCompare } from '../run/report.js';
import { dryRunTest, runTest } from '../run/run.js';
import type { MetricsSpec } from '../measure/sources.js';
import { runtimeNames } from '../runtime/index.js';
import type { TargetFlags } from '../target/target.js';
import { cliContext, interruptible, parsePositiveInt } from './context.js';
import { parseRuntimeName, targetOptions } from './nodes.js';
import { kubernetesOptions, podOptions, RUN_PORT, type PodFlags } from './pod-flags.js';

interface RunFlags extends TargetFlags {
  config?: string;
  profile?: string;
  out: string;
  nodes?: number;
  workers?: number;
  runtime?: string;
  componentMetrics?: Omit<MetricsSpec, 'apiserver'>;
  dryRun?: boolean;
}

type RunCliFlags = RunFlags & PodFlags;

const metricsKeys = { etcd: 'etcd', 'controller-manager': 'controllerManager', scheduler: 'scheduler', cloudcore: 'cloudcore' } as const;

/** name=url[,name=url]: /metrics of an existing control plane's components. */
export function parseComponentMetrics(v: string): Omit<MetricsSpec, 'apiserver'> {
  const out: Record<string, string> = {};
  for (const pair of v.split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    const key = metricsKeys[pair.slice(0, i) as keyof typeof metricsKeys];
    const url = pair.slice(i + 1);
    if (i < 0 || !key || !/^https?:\/\/[^\s/]+/.test(url)) {
      throw new InvalidArgumentError(
        `--component-metrics takes name=url[,name=url] with name one of ${Object.keys(metricsKeys).join(', ')} (kube-apiserver is read through the kubeconfig), and "${pair}" is not one`,
      );
    }
    out[key] = url;
  }
  return out;
}

export function registerRun(program: Command): void {
  const run = program
    .command('run')
    .description('run a load test on the local control plane (or an existing one): phases, SLIs, SLO verdicts, artifacts and an HTML report')
    .option('--config <file>', 'a LoadTest YAML file (may start from a profile with `profile: <name>`)')
    .option('--profile <name>', `a built-in profile: ${builtinProfiles().join(', ')} (default density)`, parseProfile)
    .option('--out <dir>', 'where run directories go', 'edgemark-runs')
    .option('--nodes <n>', 'override the node count (a test with one node group)', parsePositiveInt('--nodes'))
    .option('--workers <k>', 'override the worker processes (a test with one node group)', parsePositiveInt('--workers'));
  podOptions(targetOptions(run))
    .option(
      '--component-metrics <name=url,...>',
      'with --kubeconfig: the /metrics of the other components to sample (etcd, controller-manager, scheduler, cloudcore)',
      parseComponentMetrics,
    )
    .option('--runtime <name>', `where the hollow nodes run: ${runtimeNames().join(', ')} (default workers, spec.nodes.workers processes)`, parseRuntimeName)
    .option('--dry-run', 'print the test, the fleet plan and what would start; start and create nothing, read no token')
    .action(async (flags: RunCliFlags, cmd: Command) => {
      const { log, stateDir, cacheDir } = cliContext(cmd);
      const test = resolveTest({
        ...(flags.profile ? { profile: flags.profile } : {}),
        ...(flags.config ? { configFile: flags.config } : {}),
        nodes: { ...(flags.nodes ? { count: flags.nodes } : {}), ...(flags.workers ? { workers: flags.workers } : {}) },
      });
      const target: TargetFlags = {
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        ...(flags.cloudcore ? { cloudcore: flags.cloudcore } : {}),
        ...(flags.cloudcoreHttps ? { cloudcoreHttps: flags.cloudcoreHttps } : {}),
        ...(flags.token !== undefined ? { token: flags.token } : {}),
        ...(flags.tokenFile !== undefined ? { tokenFile: flags.tokenFile } : {}),
        ...(flags.bootstrapToken !== undefined ? { bootstrapToken: flags.bootstrapToken } : {}),
        ...(flags.bootstrapTokenFile !== undefined ? { bootstrapTokenFile: flags.bootstrapTokenFile } : {}),
        ...(flags.nodeKubeconfig !== undefined ? { nodeKubeconfig: flags.nodeKubeconfig } : {}),
      };
      const common = {
        test,
        configSource: flags.config ?? `profiles/${flags.profile ?? 'density'}.yaml`,
        stateDir,
        outDir: resolve(flags.out),
        target,
        ...(flags.componentMetrics ? { componentMetrics: flags.componentMetrics } : {}),
        ...(flags.runtime ? { runtime: flags.runtime } : {}),
        // The run's runner pods are the fleet edgemark-run in namespace edgemark of the external cluster.
        ...(flags.runtime === 'kubernetes' ? { runtimeOptions: { kubernetes: kubernetesOptions(flags, 'edgemark-run', RUN_PORT) } } : {}),
      };
      if (flags.dryRun) {
        const d = dryRunTest(common);
        process.stdout.write(`# dry run: nothing started or created, no token read\n${d.lines.map((l) => `# ${l}`).join('\n')}\n${d.planYaml}`);
        return;
      }
      const outcome = await interruptible(log, (signal) => runTest({ ...common, cacheDir, log, signal }));
      const r = outcome.record;
      const st = r.sli.podStartup.createdToRunningSeen;
      log.info(`pod startup (created to Running, watch): p50 ${st.p50} ms, p99 ${st.p99} ms over ${st.count} pods; nodes Ready p99 ${r.sli.nodeJoin.p99} ms`);
      for (const g of r.sli.byGroup ?? [])
        log.info(
          `  ${g.group} (${g.nodes} ${g.kind} nodes): Ready p99 ${g.nodeJoin.p99} ms, flaps ${g.readyFlaps}; pod startup p50 ${g.podStartup.p50} ms, p99 ${g.podStartup.p99} ms over ${g.podStartup.count} pods`,
        );
      const s = (v: number | undefined) => (v === undefined ? 'not within the run' : `${(v / 1000).toFixed(1)} s`);
      for (const f of r.faults ?? [])
        log.info(
          `  fault ${f.name} (${f.description}, ${f.nodes.length} nodes${f.error ? `; ${f.error}` : ''}): ${f.wentNotReady} went NotReady; Ready again p99 ${s(f.readyAgainP99Ms)}, all ${s(f.readyAgainAllMs)} after its end; ${f.notRecovered} not recovered; other nodes' flaps ${f.othersFlaps}${f.reconnect ? `; reconnected ${f.reconnect.back}/${f.reconnect.nodes}, 99 % within ${s(f.reconnect.p99Ms)}, all within ${s(f.reconnect.allMs)}` : ''}`,
        );
      for (const v of r.slos)
        log.info(
          `  SLO ${v.ok ? (v.noData ? 'n/a ' : 'pass') : 'FAIL'}  ${v.name}: ${v.noData ? 'no data' : `${v.value} ${v.unit}`} (bound ${v.threshold} ${v.unit})`,
        );
      log.info(`report: ${join(outcome.dir, 'report.html')}`);
      if (r.partial) {
        log.warn(`partial run${r.failure ? `: ${r.failure}` : ''}; what was measured is in ${outcome.dir}`);
        process.exitCode = 130;
      } else if (outcome.invalid) {
        log.warn(
          `invalid run: the runner's event-loop lag p99 ${r.sli.runner?.eventLoopLagP99Ms} ms passed its bound; rerun with more --workers or fewer nodes`,
        );
        process.exitCode = 4;
      } else if (outcome.failedSlos.length) {
        log.warn(`${outcome.failedSlos.length} SLO(s) failed`);
        process.exitCode = 3;
      }
    });

  const report = program.command('report').description('read and compare run results');
  report
    .command('compare <runA> <runB>')
    .description('the figures of two runs side by side; changes worse than the threshold are flagged as regressions')
    .option('--threshold <fraction>', 'relative change that counts as a regression', parseFraction, 0.1)
    .option('--html <file>', 'also render the comparison as a self-contained HTML page')
    .option('--fail-on-regression', 'exit with code 3 when a regression is found')
    .action((a: string, b: string, flags: { threshold: number; html?: string; failOnRegression?: boolean }, cmd: Command) => {
      const { log } = cliContext(cmd);
      const c = compareRuns(loadRun(a), loadRun(b), flags.threshold);
      process.stdout.write(`${formatComparison(c)}\n`);
      if (flags.html) {
        writeFileSync(flags.html, renderCompare(c));
        log.info(`comparison: ${resolve(flags.html)}`);
      }
      if (flags.failOnRegression && c.regressions > 0) process.exitCode = 3;
    });
}

function parseProfile(v: string): string {
  const all = builtinProfiles();
  if (!all.includes(v)) throw new InvalidArgumentError(`unknown profile "${v}"; allowed: ${all.join(', ')}`);
  return v;
}

function parseFraction(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n >= 10) throw new InvalidArgumentError(`--threshold takes a fraction such as 0.1 (10 %), not "${v}"`);
  return n;
}
