/**
 * The local-workers runtime: the nodes spread over K worker processes (node's
 * cluster module), so a run uses every core and each process stays inside
 * its open-file limit. This process holds no node: it hands each worker its
 * shard over IPC (the token never goes through argv or the environment),
 * merges their summaries, and serves one /metrics that aggregates theirs.
 * Workers run src/runtime/worker-main.ts, whatever script started this one.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import { mergeSummaries, type FleetSummary } from '../fleet/summary.js';
import { checkLocal, localActions, startMetrics, stopTrigger } from './local.js';
import { parsePlan, shardPlan, type FleetPlan, type Shard } from './plan.js';
import {
  EventHub,
  finish,
  STATUS_EVERY_MS,
  runningFleet,
  type Credentials,
  type DryRun,
  type ErrorJson,
  type FleetResult,
  type Runtime,
  type RunningFleet,
  type RuntimeEvent,
  type StartOptions,
} from './runtime.js';
import type { Milestone } from '../fleet/fleet.js';
import { addLinkResults, type LinkFaultCommand, type LinkFaultResult } from '../link/model.js';

export type ToWorker = { type: 'shard'; shard: Shard; credentials: Credentials } | { type: 'stop' } | { type: 'link'; cmd: LinkFaultCommand };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'link-done'; id: string; result: LinkFaultResult }
  | { type: 'summary'; summary: FleetSummary; final: boolean }
  | { type: 'milestones'; milestones: Milestone[] }
  | { type: 'failed'; error: ErrorJson };

/** How long workers get to send their final summary after stop, before SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;

export class WorkersRuntime implements Runtime {
  readonly name = 'workers';
  constructor(private readonly workers: number) {}

  dryRun(input: FleetPlan): DryRun {
    const plan = parsePlan(input);
    const { perSourceAddress } = checkLocal(plan, this.workers);
    const shards = shardPlan(plan, this.workers, perSourceAddress);
    const actions = localActions(plan, `${shards.length} worker process(es)`, perSourceAddress);
    for (const s of shards)
      actions.push(
        `worker ${s.index}: ${s.groups.map((g) => `${g.count} of ${g.group.name}`).join(', ')}, store edge-w${s.index}.db, ${s.joinRate.toFixed(1)} joins/s`,
      );
    return { runtime: this.name, plan, actions };
  }

  async start(input: FleetPlan, credentials: Credentials, o: StartOptions): Promise<RunningFleet> {
    const plan = parsePlan(input);
    const { perSourceAddress } = checkLocal(plan, this.workers);
    const shards = shardPlan(plan, this.workers, perSourceAddress);
    const hub = new EventHub<RuntimeEvent>();
    const trigger = stopTrigger(plan, o.signal);
    const registry = new AggregatorRegistry();
    const latest = new Map<number, FleetSummary>();
    const finals = new Map<number, FleetSummary>();
    const workers: Worker[] = [];
    /** Link faults waiting for the workers' answers: one callback per fault id. */
    const linkReplies = new Map<string, (worker: number, r: LinkFaultResult) => void>();
    const exited = new Set<number>();
    const problems: string[] = [];
    let fatal: ErrorJson | undefined;
    let allExited: () => void = () => undefined;
    const allGone = new Promise<void>((r) => (allExited = r));
    const onFatal = (e: ErrorJson) => {
      if (fatal) return;
      fatal = e;
      hub.emit({ type: 'fatal', error: e });
      trigger.pull();
    };

    // Workers run the worker entry, not the caller's script (a bench, a test file).
    cluster.setupPrimary({
      exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)),
      execArgv: process.execArgv.filter((a) => !a.startsWith('--test')),
      ...(o.outputFd !== undefined ? { stdio: ['ignore', o.outputFd, o.outputFd, 'ipc'] } : { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    });
    for (const [i, shard] of shards.entries()) {
      const w = cluster.fork({ EDGEMARK_WORKER: String(shard.index) });
      workers.push(w);
      w.on('message', (m: FromWorker) => {
        // The worker asks once its modules are loaded and it listens: a message sent earlier would be lost.
        if (m?.type === 'ready') w.send({ type: 'shard', shard, credentials } satisfies ToWorker);
        else if (m?.type === 'summary') {
          latest.set(i, m.summary);
          if (m.final) finals.set(i, m.summary);
          if (m.summary.fatal) onFatal(m.summary.fatal);
        } else if (m?.type === 'milestones') hub.emit({ type: 'milestones', milestones: m.milestones });
        else if (m?.type === 'failed') onFatal(m.error);
        else if (m?.type === 'link-done') linkReplies.get(m.id)?.(i, m.result);
      });
      w.on('exit', (code, signal) => {
        exited.add(i);
        if (!finals.has(i) && !trigger.abort.signal.aborted) {
          onFatal({
            code: 'EM_WORKER_FAILED',
            message: `[nodes] worker ${shard.index} exited (${signal ?? `code ${code}`}) before the run ended`,
            fix: 'see its lines above; rerun with --verbose',
          });
        } else if (!finals.has(i) && code !== 0) o.log.warn(`worker ${shard.index} exited (${signal ?? `code ${code}`}) before its final summary`);
        if (exited.size === shards.length) allExited();
      });
    }
    const merged = () => (latest.size ? mergeSummaries([...latest.values()]) : undefined);
    const ticker = setInterval(() => {
      const s = merged();
      if (s) hub.emit({ type: 'status', summary: s });
    }, STATUS_EVERY_MS);
    let metrics: Awaited<ReturnType<typeof startMetrics>>;
    try {
      metrics = await startMetrics(plan, () => registry.clusterMetrics(), registry.contentType);
    } catch (err) {
      trigger.pull();
      for (const w of workers) w.kill('SIGKILL');
      clearInterval(ticker);
      throw err;
    }

    const done: Promise<FleetResult> = trigger.stopped.then(async () => {
      for (const w of workers) if (w.isConnected()) w.send({ type: 'stop' } satisfies ToWorker);
      const timer = new Promise<void>((r) => setTimeout(r, STOP_TIMEOUT_MS).unref());
      await Promise.race([allGone, timer]);
      for (const [i, w] of workers.entries()) {
        if (w.isDead()) continue;
        problems.push(`worker ${shards[i]!.index} (pid ${w.process.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s: killed`);
        w.kill('SIGKILL');
      }
      clearInterval(ticker);
      await metrics?.close().catch((e: unknown) => problems.push(`metrics server: ${String(e)}`));
      // A worker that never reported at the end still counts its latest figures.
      const list = shards.map((_, i) => finals.get(i) ?? latest.get(i)).filter((s): s is FleetSummary => s !== undefined);
      const summary = list.length ? mergeSummaries(list) : undefined;
      const f = fatal ?? summary?.fatal;
      return finish(hub, { summary: summary && f && !summary.fatal ? { ...summary, fatal: f } : summary, ...(f ? { fatal: f } : {}), problems });
    });
    const processes = () => workers.filter((w) => !w.isDead() && w.process.pid !== undefined).map((w) => w.process.pid!);
    const linkFault = (cmd: LinkFaultCommand): Promise<LinkFaultResult> =>
      new Promise((resolve) => {
        const live = workers.filter((w) => w.isConnected());
        const got = new Map<number, LinkFaultResult>();
        const sum = () => {
          linkReplies.delete(cmd.id);
          clearTimeout(timer);
          resolve(addLinkResults([...got.values()]));
        };
        // A worker that does not answer (stopping, stalled) is left out of the count, not waited for.
        const timer = setTimeout(sum, 10_000);
        linkReplies.set(cmd.id, (i, r) => {
          got.set(i, r);
          if (got.size === live.length) sum();
        });
        for (const w of live) w.send({ type: 'link', cmd } satisfies ToWorker);
        if (live.length === 0) sum();
      });
    return runningFleet({ runtime: this.name, hub, latest: merged, metricsUrl: metrics?.url, processes, done, pull: trigger.pull, linkFault });
  }
}
