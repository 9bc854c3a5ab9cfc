/**
 * `edgemark cluster up | down | status | logs | kubeconfig | import-image`.
 */
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { mib, parseMemory, type EnvelopeRecord, type EnvelopeUsage } from '../cluster/envelope.js';
import { AlreadyUpError, clusterDown, clusterStatus, clusterUp, DEFAULT_NODE_LIMIT, logPath, tail, type ComponentStatus } from '../cluster/cluster.js';
import { MAX_CLOUDCORES } from '../cluster/ports.js';
import { allComponentNames, requireState, type ComponentName } from '../cluster/state.js';
import { importImage, type WorkerStatus } from '../cluster/worker/worker.js';
import { MAX_WORKERS } from '../cluster/worker/layout.js';
import { EdgemarkError } from '../core/errors.js';
import { formatBytes, formatDuration } from '../core/log.js';
import { cliContext, interruptible, parsePositiveInt, versionOptions, type GlobalOptions } from './context.js';
import { progressPrinter } from './progress.js';

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description('run a real local control plane: etcd, kube-apiserver, controller manager, scheduler, CloudCore');

  versionOptions(
    cluster
      .command('up')
      .description('build (once, cached) and start the local control plane on loopback; waits until every component is healthy')
      .addOption(new Option('--ports <mode>', 'default well-known ports, or free ones chosen now').choices(['default', 'auto']))
      .option(
        '--node-limit <n>',
        `CloudCore's cloudHub.nodeLimit: maximum connected edge nodes (default ${DEFAULT_NODE_LIMIT})`,
        parsePositiveInt('--node-limit'),
      )
      .option(
        '--cloudcores <n>',
        `CloudCore instances against the one apiserver, each on its own ports; the local target spreads nodes over them (default 1, at most ${MAX_CLOUDCORES})`,
        parseCloudcoreCount,
      )
      .option(
        '--workers <n>',
        `real worker nodes (a kubelet and a private containerd each) to add once the control plane is healthy; 0 (default) to ${MAX_WORKERS}`,
        parseWorkerCount,
      )
      .addOption(
        new Option('--profile <profile>', 'edgesite: a small master with no CloudCore, every component in one cgroup envelope (seed 004)').choices([
          'default',
          'edgesite',
        ]),
      )
      .option('--envelope-cpus <n>', 'with --profile edgesite: CPUs for the whole control plane (default 2)', parseCpus)
      .option('--envelope-memory <size>', 'with --profile edgesite: memory for the whole control plane, such as 1Gi or 768Mi (default 1Gi)', parseMemoryFlag)
      .option(
        '--audit-log',
        "kube-apiserver writes each request's metadata (user, user agent, verb, resource; never a body) to logs/audit.log in the state directory: which client makes which calls",
      ),
  ).action(
    async (
      opts: GlobalOptions & {
        ports?: 'default' | 'auto';
        nodeLimit?: number;
        cloudcores?: number;
        workers?: number;
        auditLog?: boolean;
        profile?: 'default' | 'edgesite';
        envelopeCpus?: number;
        envelopeMemory?: number;
        kubernetesVersion?: string;
        etcdVersion?: string;
        kubeedgeVersion?: string;
      },
      cmd: Command,
    ) => {
      const { log, stateDir, cacheDir } = cliContext(cmd);
      const started = Date.now();
      try {
        await interruptible(log, (signal) =>
          clusterUp({
            stateDir,
            cacheDir,
            ports: opts.ports,
            nodeLimit: opts.nodeLimit,
            cloudcores: opts.cloudcores,
            workers: opts.workers,
            ...(opts.auditLog ? { audit: true } : {}),
            ...(opts.profile ? { profile: opts.profile } : {}),
            ...(opts.envelopeCpus !== undefined || opts.envelopeMemory !== undefined
              ? {
                  envelope: {
                    ...(opts.envelopeCpus !== undefined ? { cpus: opts.envelopeCpus } : {}),
                    ...(opts.envelopeMemory !== undefined ? { memoryBytes: opts.envelopeMemory } : {}),
                  },
                }
              : {}),
            versions: { kubernetes: opts.kubernetesVersion, etcd: opts.etcdVersion, kubeedge: opts.kubeedgeVersion },
            signal,
            onEvent: progressPrinter(log),
          }),
        );
      } catch (err) {
        if (err instanceof AlreadyUpError) {
          log.info(`the local cluster in ${stateDir} is already up:`);
          const s = await clusterStatus(stateDir);
          printStatus(s.components, s.workers, s.envelope);
          return;
        }
        throw err;
      }
      log.info(`control plane up in ${formatDuration(Date.now() - started)}`);
      const { state, components, workers, envelope } = await clusterStatus(stateDir);
      printStatus(components, workers, envelope);
      log.info(`kubeconfig: ${state.kubeconfig}`);
    },
  );

  cluster
    .command('down')
    .description('stop every component (SIGTERM, then SIGKILL after 10s) and remove the worker nodes; logs are kept')
    .option('--purge', 'also remove the state directory: PKI, etcd data, logs')
    .action(async (opts: { purge?: boolean }, cmd: Command) => {
      const { log, stateDir } = cliContext(cmd);
      const r = await clusterDown({ stateDir, purge: opts.purge });
      for (const w of r.workers) {
        for (const s of w.stopped) log.info(`${w.name} ${s.what}: ${s.how}`);
        for (const line of w.removed) log.info(`${w.name}: removed ${line}`);
        for (const line of w.problems) log.warn(`${w.name}: ${line}`);
        if (w.problems.length > 0) process.exitCode = 1;
      }
      for (const s of r.stopped) log.info(`${s.name}: ${s.how}`);
      for (const p of r.problems) log.warn(p);
      if (r.problems.length > 0) process.exitCode = 1;
      if (r.stopped.length === 0 && r.workers.length === 0) log.info('nothing was running');
      if (r.purged) log.info(`removed ${stateDir}`);
      else if (existsSync(stateDir)) log.info(`logs kept in ${stateDir}/logs`);
    });

  cluster
    .command('status')
    .description('each component with pid, ports, health, RSS and uptime')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { stateDir } = cliContext(cmd);
      const { state, components, workers, envelope } = await clusterStatus(stateDir);
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ versions: state.versions, ports: state.ports, kubeconfig: state.kubeconfig, profile: state.profile ?? 'default', components, workers, ...(envelope ? { envelope } : {}) }, null, 2)}\n`,
        );
      } else {
        printStatus(components, workers, envelope);
      }
      if (!components.every((c) => c.health.healthy) || !workers.every((w) => w.ready) || (envelope?.oomKills ?? 0) > 0) process.exitCode = 3;
    });

  cluster
    .command('logs')
    .description('print the log of one component')
    .argument('<component>', `one of: ${allComponentNames.join(', ')}`)
    .option('-n, --tail <lines>', 'only the last lines', parsePositiveInt('--tail'))
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .action(async (component: string, opts: { tail?: number; follow?: boolean }, cmd: Command) => {
      const { stateDir } = cliContext(cmd);
      if (!allComponentNames.includes(component as ComponentName)) {
        throw new EdgemarkError('EM_UNKNOWN_COMPONENT', `[cluster] unknown component "${component}"`, `use one of: ${allComponentNames.join(', ')}`);
      }
      requireState(stateDir);
      const file = logPath(stateDir, component as ComponentName);
      if (!existsSync(file)) {
        throw new EdgemarkError('EM_NO_LOG', `[cluster] ${component} has no log yet (${file})`, 'run `edgemark cluster up` first');
      }
      await printLog(file, opts.tail, opts.follow === true);
    });

  cluster
    .command('import-image')
    .description("import an image archive (docker-archive or OCI tar) into the worker node's containerd, for pods with imagePullPolicy Never")
    .argument('<archive>', 'path of the tar file')
    .action(async (archive: string, _opts: unknown, cmd: Command) => {
      const { log, stateDir } = cliContext(cmd);
      await importImage(stateDir, archive);
      log.info(`imported ${archive}`);
    });

  cluster
    .command('kubeconfig')
    .description('print the path of the admin kubeconfig (use: export KUBECONFIG=$(edgemark cluster kubeconfig))')
    .action((_opts: unknown, cmd: Command) => {
      const { stateDir } = cliContext(cmd);
      process.stdout.write(`${requireState(stateDir).kubeconfig}\n`);
    });
}

function parseCloudcoreCount(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (n >= 1 && n <= MAX_CLOUDCORES) return n;
  throw new EdgemarkError(
    'EM_BAD_FLAG',
    `[cluster] --cloudcores takes 1 to ${MAX_CLOUDCORES} CloudCore instances (got "${v}")`,
    'use --cloudcores 2 for two CloudCores behind one apiserver',
  );
}

function parseWorkerCount(v: string): number {
  if (!/^\d+$/.test(v)) throw new EdgemarkError('EM_BAD_FLAG', `[cluster] --workers must be a whole number 0 or more (got "${v}")`, 'use --workers 1');
  return Number(v);
}

function printStatus(components: ComponentStatus[], workers: WorkerStatus[] = [], envelope?: EnvelopeRecord & EnvelopeUsage): void {
  const rows = [
    ['COMPONENT', 'PID', 'PORTS', 'HEALTH', 'RSS', 'UPTIME'],
    ...components.map((c) => [
      c.name,
      c.pid === undefined ? '-' : String(c.pid),
      c.ports.join(','),
      `${c.health.healthy ? 'healthy' : 'UNHEALTHY'} (${c.health.detail})`,
      c.running ? formatBytes(c.rssBytes) : '-',
      c.running ? formatDuration(c.uptimeMs) : '-',
    ]),
  ];
  printTable(rows);
  if (envelope) process.stdout.write(`${envelopeLine(envelope)}\n`);
  if (workers.length === 0) return;
  printTable([
    ['WORKER', 'KUBELET', 'CONTAINERD', 'ADDRESS', 'PODS', 'STATUS'],
    ...workers.map((w) => [
      w.name,
      w.kubeletPid === undefined ? '-' : String(w.kubeletPid),
      w.containerdPid === undefined ? '-' : String(w.containerdPid),
      `${w.address}:${w.ports[0]}`,
      w.podSubnet,
      w.ready ? w.detail : `NOT READY (${w.detail})`,
    ]),
  ]);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}

async function printLog(file: string, lines: number | undefined, follow: boolean): Promise<void> {
  if (lines !== undefined) process.stdout.write(`${tail(file, lines).join('\n')}\n`);
  else await new Promise<void>((resolve, reject) => createReadStream(file).on('end', resolve).on('error', reject).pipe(process.stdout, { end: false }));
  if (!follow) return;
  let offset = statSync(file).size;
  await new Promise<void>((resolve) => {
    const watcher = watch(file, () => {
      const size = statSync(file).size;
      if (size > offset) {
        createReadStream(file, { start: offset, end: size - 1 }).pipe(process.stdout, { end: false });
        offset = size;
      }
    });
    process.once('SIGINT', () => {
      watcher.close();
      resolve();
    });
  });
}

/** The EdgeSite envelope in one line: its limits, what it holds now, its peak and its OOM kills. */
export function envelopeLine(e: EnvelopeRecord & EnvelopeUsage): string {
  const pct = (b: number) => `${Math.round((b / e.memoryBytes) * 100)} %`;
  return (
    `envelope (cgroup v${e.cgroup}): ${e.cpus} CPU and ${mib(e.memoryBytes)} for ${e.pids.length} process(es); ` +
    `memory ${mib(e.usedBytes)} (${pct(e.usedBytes)})${e.peakBytes ? `, peak ${mib(e.peakBytes)} (${pct(e.peakBytes)})` : ''}` +
    `${e.cpuSeconds !== undefined ? `; ${e.cpuSeconds.toFixed(1)} CPU-seconds used` : ''}; ` +
    (e.oomKills > 0 ? `EXCEEDED: ${e.oomKills} OOM kill(s)` : 'no OOM kill')
  );
}

function parseCpus(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--envelope-cpus takes a positive number of CPUs such as 2 or 1.5, not "${v}"`);
  return n;
}

function parseMemoryFlag(v: string): number {
  const n = parseMemory(v);
  if (n === undefined || n <= 0) throw new InvalidArgumentError(`--envelope-memory takes a size such as 1Gi, 768Mi or a number of bytes, not "${v}"`);
  return n;
}
