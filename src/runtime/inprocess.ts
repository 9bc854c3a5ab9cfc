/**
 * The in-process runtime: every node in this process, on its event loop. The
 * cheapest way to run up to one process's open-file limit, and the one whose
 * event-loop lag is the caller's own.
 */
import type { Fleet } from '../fleet/fleet.js';
import { fleetRegistry } from '../fleet/metrics.js';
import type { FleetSummary } from '../fleet/summary.js';
import { checkLocal, fatalOf, localActions, startMetrics, stopTrigger } from './local.js';
import { parsePlan, shardPlan, type FleetPlan } from './plan.js';
import {
  EventHub,
  finish,
  MILESTONES_EVERY_MS,
  STATUS_EVERY_MS,
  runningFleet,
  type Credentials,
  type DryRun,
  type FleetResult,
  type Runtime,
  type RunningFleet,
  type RuntimeEvent,
  type StartOptions,
} from './runtime.js';
import { runShard } from './shard.js';

export class InProcessRuntime implements Runtime {
  readonly name = 'inprocess';

  dryRun(input: FleetPlan): DryRun {
    const plan = parsePlan(input);
    const { perSourceAddress } = checkLocal(plan, 1);
    return { runtime: this.name, plan, actions: localActions(plan, 'this process', perSourceAddress) };
  }

  async start(input: FleetPlan, credentials: Credentials, o: StartOptions): Promise<RunningFleet> {
    const plan = parsePlan(input);
    const { perSourceAddress } = checkLocal(plan, 1);
    const [shard] = shardPlan(plan, undefined, perSourceAddress);
    const hub = new EventHub<RuntimeEvent>();
    const trigger = stopTrigger(plan, o.signal);
    let fleet: Fleet | undefined;
    let latest: FleetSummary | undefined;
    const timers: NodeJS.Timeout[] = [];
    const drain = () => {
      const m = fleet?.takeMilestones() ?? [];
      if (m.length) hub.emit({ type: 'milestones', milestones: m });
    };
    let registry: ReturnType<typeof fleetRegistry> | undefined;
    // onFleet runs before runShard's first await: the fleet exists once the call returns.
    const running = runShard(shard!, credentials, o.log, trigger.abort.signal, trigger.stopped, {
      onFleet(f) {
        fleet = f;
        registry = fleetRegistry(f);
        timers.push(
          setInterval(() => {
            latest = f.summary();
            hub.emit({ type: 'status', summary: latest });
          }, STATUS_EVERY_MS),
        );
        if (plan.observe.tracePods) timers.push(setInterval(drain, MILESTONES_EVERY_MS));
        f.whenFatal((e) => hub.emit({ type: 'fatal', error: fatalOf(e) }));
      },
    });
    // Served before the nodes connect, so a scrape can watch the join.
    let metrics: Awaited<ReturnType<typeof startMetrics>>;
    if (registry) {
      const r = registry;
      try {
        metrics = await startMetrics(plan, () => r.metrics(), r.contentType);
      } catch (err) {
        trigger.pull();
        await running.catch(() => undefined);
        for (const t of timers) clearInterval(t);
        throw err;
      }
    }
    const done: Promise<FleetResult> = running
      .then(
        (summary): FleetResult => ({ summary, ...(summary.fatal ? { fatal: summary.fatal } : {}), problems: [] }),
        (err: unknown): FleetResult => ({ summary: fleet?.summary(), fatal: fatalOf(err), problems: [] }),
      )
      .then(async (r) => {
        for (const t of timers) clearInterval(t);
        drain();
        const problems = [...r.problems];
        await metrics?.close().catch((e: unknown) => problems.push(`metrics server: ${String(e)}`));
        latest = r.summary ?? latest;
        return finish(hub, { ...r, problems });
      });
    return runningFleet({
      runtime: this.name,
      hub,
      latest: () => latest,
      metricsUrl: metrics?.url,
      processes: () => [process.pid],
      done,
      pull: trigger.pull,
      linkFault: async (cmd) => fleet?.linkFault(cmd) ?? { affected: 0, unsupported: 0 },
    });
  }
}
