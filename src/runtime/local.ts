/**
 * What the two local runtimes share: the capacity check of a plan against
 * this machine, the dry-run lines, the /metrics server, a stop signal that
 * the duration, stop() and the caller's AbortSignal all pull, and the
 * conversion of a thrown error into a fatal result.
 */
import { EdgemarkError, errorToJson, type ErrorJson } from '../core/errors.js';
import { serveMetrics, type MetricsServer } from '../fleet/metrics.js';
import { ephemeralPorts, openFileLimit, planCapacity, sourceAddressOf } from './capacity.js';
import { checkKinds } from './kinds.js';
import { nodeNames, planNodeCount, type FleetPlan } from './plan.js';

/** Kinds known and valid, and the plan fits this machine: the nodes per source address. */
export function checkLocal(plan: FleetPlan, processes: number): { perSourceAddress: number } {
  checkKinds(plan);
  const count = planNodeCount(plan);
  if (processes > count) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      `[nodes] --workers ${processes} is more than --count ${count}`,
      `use --workers ${Math.max(1, Math.min(count, 2))} or fewer`,
    );
  }
  const ws = plan.target.cloudcore[0]?.websocket ?? '127.0.0.1:0';
  const host = ws.slice(0, ws.lastIndexOf(':'));
  return planCapacity(count, processes, host, { fdLimit: openFileLimit(), ports: ephemeralPorts() });
}

export function localActions(plan: FleetPlan, processes: string, perSourceAddress: number): string[] {
  const count = planNodeCount(plan);
  const names = nodeNames(plan, 3);
  const lines = [
    `start ${count} hollow node(s) in ${processes}: ${plan.groups.map((g) => `${g.name} (${g.kind}, ${g.count} x ${g.prefix}<i>)`).join(', ')}; first ${names.join(', ')}`,
    `join ${plan.target.name}: ${plan.target.cloudcore.map((c) => `CloudHub ${c.websocket}, certificates ${c.https}`).join('; ') || plan.target.apiserver || 'no address'}`,
    `pace: ${plan.pacing.joinRate} nodes/s, at most ${plan.pacing.maxJoining || 'unlimited'} joining and ${plan.pacing.maxDialing} dialling at once`,
    `keep node certificates and the store in ${plan.dataDir}`,
  ];
  if (perSourceAddress) lines.push(`dial from source addresses 127.0.0.1..${sourceAddressOf(count - 1, perSourceAddress)}`);
  if (plan.observe.metrics !== false) lines.push(`serve /metrics on ${plan.observe.metrics}`);
  if (plan.observe.recordFrames) lines.push(`append sampled frames to ${plan.observe.recordFrames}`);
  if (plan.durationSeconds) lines.push(`stop by itself after ${plan.durationSeconds} s`);
  return lines;
}

export async function startMetrics(plan: FleetPlan, text: () => Promise<string>, contentType: string): Promise<MetricsServer | undefined> {
  const m = plan.observe.metrics;
  if (m === false) return undefined;
  const i = m.lastIndexOf(':');
  return serveMetrics({ host: m.slice(0, i), port: Number(m.slice(i + 1)) }, text, contentType);
}

/** One promise for "stop now": stop(), the duration, or the caller's signal. */
export function stopTrigger(plan: FleetPlan, signal: AbortSignal | undefined): { stopped: Promise<void>; pull(): void; abort: AbortController } {
  const abort = new AbortController();
  let pull: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (pull = r));
  const go = () => {
    abort.abort();
    pull();
  };
  signal?.addEventListener('abort', go, { once: true });
  if (signal?.aborted) go();
  if (plan.durationSeconds) setTimeout(go, plan.durationSeconds * 1000).unref();
  return { stopped, pull: go, abort };
}

/** A thrown error as the fatal error of a fleet, its fix kept (plain errors get a prefix). */
export function fatalOf(err: unknown): ErrorJson {
  return err instanceof EdgemarkError
    ? errorToJson(err)
    : errorToJson(new EdgemarkError('EM_INTERNAL', `[nodes] ${err instanceof Error ? err.message : String(err)}`));
}
