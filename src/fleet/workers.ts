/**
 * `nodes run --workers K`: the nodes spread over K worker processes (node's
 * cluster module), so a run uses every core and each process stays inside its
 * open-file limit. The primary holds no node: it hands each worker a slice of
 * the plan over IPC (the token never goes through argv or the environment),
 * merges their summaries into one live line and one summary, and serves one
 * /metrics that aggregates theirs. Ctrl-C reaches the primary, which tells
 * every worker to stop and waits for their final summaries.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { EdgemarkError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import type { FleetSummary } from './fleet.js';
import { fleetRegistry } from './metrics.js';
import { mergeSummaries, runFleet, type RunPlan } from './runner.js';

type ToWorker = { type: 'plan'; plan: RunPlan; index: number } | { type: 'stop' };
type FromWorker = { type: 'ready' } | { type: 'summary'; summary: FleetSummary; final: boolean } | { type: 'failed'; code: string; message: string };

/**
 * Splits a plan into K slices with their own stores. Node g goes to worker
 * g mod K, so with the same K a node always lands in the same worker (and its
 * store) whatever the count: a restarted run with more nodes keeps the pods of
 * the nodes it had.
 */
export function slicePlan(plan: RunPlan, workers: number, storePath: (k: number) => string): RunPlan[] {
  const out: RunPlan[] = [];
  for (let k = 0; k < workers; k++) {
    const count = Math.floor(plan.count / workers) + (k < plan.count % workers ? 1 : 0);
    out.push({
      ...plan, count, firstIndex: plan.firstIndex + k, stride: workers, joinRate: plan.joinRate / workers, storePath: storePath(k),
      ...(plan.maxJoining ? { maxJoining: Math.max(1, Math.ceil(plan.maxJoining / workers)) } : {}),
      ...(plan.tracePods ? { tracePods: `${plan.tracePods}.w${k}` } : {}),
    });
  }
  return out.filter((p) => p.count > 0);
}

export interface WorkerPool {
  /** The latest merged summary (the workers report every 2 s). */
  summary(): FleetSummary | undefined;
  /** Aggregated Prometheus text of all workers. */
  metrics(): Promise<string>;
  readonly contentType: string;
  /** Resolves when any worker hit a fatal error (bad token, CA mismatch). */
  readonly failed: Promise<EdgemarkError>;
  /** Tells every worker to stop; resolves with the merged final summary. */
  stop(timeoutMs?: number): Promise<FleetSummary>;
}

/** Primary side: forks one worker per slice. */
export function startWorkers(slices: RunPlan[], log: Logger): WorkerPool {
  const registry = new AggregatorRegistry();
  const latest = new Map<number, FleetSummary>();
  const finals = new Map<number, FleetSummary>();
  const workers: Worker[] = [];
  let onFailed: (e: EdgemarkError) => void = () => undefined;
  const failed = new Promise<EdgemarkError>((r) => (onFailed = r));
  const exited = new Set<number>();
  let allExited: () => void = () => undefined;
  const allGone = new Promise<void>((r) => (allExited = r));

  cluster.setupPrimary({ execArgv: process.execArgv });
  for (const [index, plan] of slices.entries()) {
    const w = cluster.fork({ EDGEMARK_WORKER: String(index) });
    workers.push(w);
    w.on('message', (m: FromWorker) => {
      // The worker asks once its modules are loaded and it listens: a message sent earlier would be lost.
      if (m?.type === 'ready') w.send({ type: 'plan', plan, index } satisfies ToWorker);
      else if (m?.type === 'summary') {
        latest.set(index, m.summary);
        if (m.final) finals.set(index, m.summary);
        if (m.summary.fatal) onFailed(new EdgemarkError(m.summary.fatal.code as `EM_${string}`, m.summary.fatal.message));
      } else if (m?.type === 'failed') {
        onFailed(new EdgemarkError(m.code as `EM_${string}`, m.message));
      }
    });
    w.on('exit', (code, signal) => {
      exited.add(index);
      if (!finals.has(index) && code !== 0) log.warn(`worker ${index} exited (${signal ?? `code ${code}`}) before its final summary`);
      if (exited.size === slices.length) allExited();
    });
  }
  return {
    summary: () => (latest.size ? mergeSummaries([...latest.values()]) : undefined),
    metrics: () => registry.clusterMetrics(),
    contentType: registry.contentType,
    failed,
    async stop(timeoutMs = 20_000) {
      for (const w of workers) if (w.isConnected()) w.send({ type: 'stop' } satisfies ToWorker);
      const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
      await Promise.race([allGone, timer]);
      for (const w of workers) if (!w.isDead()) w.kill('SIGKILL');
      // A worker that never reported still counts its latest figures.
      return mergeSummaries(slices.map((_, i) => finals.get(i) ?? latest.get(i)).filter((s): s is FleetSummary => s !== undefined));
    },
  };
}

/** Worker side: waits for its slice, runs it, reports, and exits when told to stop. */
export async function workerMain(): Promise<void> {
  const index = Number(process.env.EDGEMARK_WORKER ?? 0);
  // Ctrl-C goes to the whole process group: the primary decides when workers stop.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  const log = createLogger({ level: 'warn', prefix: `[worker ${index}] ` });
  // Constructing it installs prom-client's handler that answers the primary's metric requests.
  new AggregatorRegistry();
  const send = (m: FromWorker) => process.send?.(m);
  const ac = new AbortController();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stop = r));
  const plan = await new Promise<RunPlan>((resolve) => {
    process.on('message', (m: ToWorker) => {
      if (m?.type === 'plan') resolve(m.plan);
      else if (m?.type === 'stop') {
        ac.abort();
        stop();
      }
    });
    send({ type: 'ready' });
  });
  // The primary is gone: stop too rather than run unwatched.
  process.on('disconnect', () => {
    ac.abort();
    stop();
  });
  let ticker: NodeJS.Timeout | undefined;
  try {
    const { summary } = await runFleet(plan, log, ac.signal, stopped, {
      onFleet(fleet) {
        AggregatorRegistry.setRegistries([fleetRegistry(fleet)]);
        ticker = setInterval(() => send({ type: 'summary', summary: fleet.summary(), final: false }), 2000);
      },
    });
    if (ticker) clearInterval(ticker);
    send({ type: 'summary', summary, final: true });
  } catch (err) {
    if (ticker) clearInterval(ticker);
    const e = err instanceof EdgemarkError ? err : new EdgemarkError('EM_WORKER_FAILED', `[worker ${index}] ${(err as Error).message}`);
    send({ type: 'failed', code: e.code, message: e.message });
    process.exitCode = 1;
  }
  // Let the last IPC message flush before exiting.
  await new Promise((r) => setTimeout(r, 100));
  process.disconnect?.();
}
