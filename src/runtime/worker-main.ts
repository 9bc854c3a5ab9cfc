/**
 * The entry of a local worker process (the workers runtime forks this file):
 * waits for its shard, runs it, reports its summary every 2 s and its pod
 * milestones every 0.5 s, and stops when the primary says so or goes away.
 */
import { AggregatorRegistry } from 'prom-client';
import { createLogger } from '../core/log.js';
import type { Fleet } from '../fleet/fleet.js';
import { fleetRegistry } from '../fleet/metrics.js';
import { fatalOf } from './local.js';
import type { Shard } from './plan.js';
import { MILESTONES_EVERY_MS, STATUS_EVERY_MS, type Credentials } from './runtime.js';
import { runShard } from './shard.js';
import type { FromWorker, ToWorker } from './workers.js';

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
let fleetNow: Fleet | undefined;
const { shard, credentials } = await new Promise<{ shard: Shard; credentials: Credentials }>((resolve) => {
  process.on('message', (m: ToWorker) => {
    if (m?.type === 'shard') resolve({ shard: m.shard, credentials: m.credentials });
    else if (m?.type === 'link') send({ type: 'link-done', id: m.cmd.id, result: fleetNow?.linkFault(m.cmd) ?? { affected: 0, unsupported: 0 } });
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
const timers: NodeJS.Timeout[] = [];
try {
  const summary = await runShard(shard, credentials, log, ac.signal, stopped, {
    onFleet(fleet) {
      fleetNow = fleet;
      AggregatorRegistry.setRegistries([fleetRegistry(fleet)]);
      timers.push(setInterval(() => send({ type: 'summary', summary: fleet.summary(), final: false }), STATUS_EVERY_MS));
      if (shard.plan.observe.tracePods) {
        timers.push(
          setInterval(() => {
            const m = fleet.takeMilestones();
            if (m.length) send({ type: 'milestones', milestones: m });
          }, MILESTONES_EVERY_MS),
        );
      }
      fleet.whenFatal((e) => send({ type: 'failed', error: fatalOf(e) }));
      // The last milestones go out with the final summary.
      ac.signal.addEventListener('abort', () => {
        const m = fleet.takeMilestones();
        if (m.length) send({ type: 'milestones', milestones: m });
      });
    },
  });
  for (const t of timers) clearInterval(t);
  send({ type: 'summary', summary, final: true });
} catch (err) {
  for (const t of timers) clearInterval(t);
  send({ type: 'failed', error: fatalOf(err) });
  process.exitCode = 1;
}
// Let the last IPC message flush before exiting.
await new Promise((r) => setTimeout(r, 100));
process.disconnect?.();
