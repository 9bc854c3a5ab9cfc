/**
 * One runner process's share of a run: a plan (plain data, so it can cross to
 * a worker process), the checks that refuse a plan this machine cannot hold,
 * and the loop that runs a fleet until it is told to stop. Used by `nodes run`
 * in-process and by each worker of `nodes run --workers K`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgemarkError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import type { NodeProfile } from '../edge/edged/objects.js';
import type { EdgeTimings } from '../edge/timings.js';
import { StageEngine } from '../lifecycle/engine.js';
import { loadLifecycles } from '../lifecycle/schema.js';
import { parseToken } from '../transport/token.js';
import { Fleet, nodeStates, rate, type FleetSummary } from './fleet.js';

export interface RunPlan {
  /** Nodes of this slice, and the global index of its first. */
  count: number;
  firstIndex: number;
  /** Global index step between this slice's nodes (K with K workers). */
  stride?: number;
  prefix: string;
  websocket: string;
  https: string;
  token: string;
  /** Nodes started per second by this slice. */
  joinRate: number;
  /** Nodes of this slice joining at once (started, not yet Ready); 0 = no limit. */
  maxJoining?: number;
  certDir: string;
  storePath: string;
  stagePaths: string[];
  profile: NodeProfile;
  timings: EdgeTimings;
  recordFrames?: string;
  /** Pod milestones to this JSONL file (workers add .w<k>). */
  tracePods?: string;
  /** Nodes per loopback source address; 0 lets the kernel choose (one address). */
  perSourceAddress: number;
}

/** File descriptors a runner keeps for itself (store, logs, metrics, stdio, DNS...). */
export const FD_RESERVE = 256;
/** Connections per source address before the next one is used (the 25,000, within the port range). */
export const CONNECTIONS_PER_ADDRESS = 25_000;

/** The soft limit on open files of this process, from /proc (Infinity when unknown). */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

/** Size of the kernel's ephemeral port range (source ports per source address and target). */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi && hi >= lo) return hi - lo + 1;
  } catch {
    /* not Linux */
  }
  return 28_232;
}

export interface Capacity {
  fdLimit: number;
  ports: number;
}

/**
 * How many nodes go to each source address, or an error naming the limit and
 * the fix when the plan cannot fit this machine. Checked before anything starts.
 */
export function planCapacity(count: number, workers: number, targetHost: string, cap: Capacity): { perSourceAddress: number } {
  const perProcess = Math.ceil(count / workers);
  const usable = cap.fdLimit - FD_RESERVE;
  if (perProcess > usable) {
    const need = Math.ceil(count / usable);
    throw new EdgemarkError(
      'EM_FD_LIMIT',
      `[nodes] ${count} nodes over ${workers} process${workers > 1 ? 'es' : ''} puts ${perProcess} connections in one process, but a process here may hold ${cap.fdLimit} open files (${usable} for nodes)`,
      `spread them: --workers ${need} (or more); each worker is a process with its own limit`,
    );
  }
  const perAddress = Math.min(CONNECTIONS_PER_ADDRESS, cap.ports - 1000);
  if (count <= perAddress) return { perSourceAddress: 0 };
  const loopback = /^127\./.test(targetHost) || targetHost === 'localhost';
  if (!loopback) {
    throw new EdgemarkError(
      'EM_SOURCE_PORTS',
      `[nodes] ${count} connections to ${targetHost} need more source ports than one address has (${cap.ports} in net.ipv4.ip_local_port_range; ${perAddress} used per address)`,
      `run at most ${perAddress} nodes per runner machine against a remote CloudCore, or widen net.ipv4.ip_local_port_range`,
    );
  }
  const addresses = Math.ceil(count / perAddress);
  if (addresses > 254) {
    throw new EdgemarkError('EM_SOURCE_PORTS', `[nodes] ${count} nodes need ${addresses} loopback source addresses; 127.0.0.1-254 gives 254`, `run at most ${254 * perAddress} nodes per runner`);
  }
  return { perSourceAddress: perAddress };
}

/** The source address of node `g` (127.0.0.1, then .2, ... every `per` nodes). */
export function sourceAddressOf(g: number, per: number): string | undefined {
  return per > 0 ? `127.0.0.${1 + Math.floor(g / per)}` : undefined;
}

export interface RunHooks {
  /** The fleet exists (before it connects): wire metrics here. */
  onFleet?(fleet: Fleet): void;
}

/** Runs the plan's nodes until `stop` resolves or a fatal error; returns the summary. */
export async function runFleet(plan: RunPlan, log: Logger, signal: AbortSignal, stop: Promise<void>, hooks: RunHooks = {}): Promise<{ fleet: Fleet; summary: FleetSummary }> {
  const stages = new StageEngine(loadLifecycles([join(packageRoot(), 'stages'), ...plan.stagePaths]));
  const fleet = new Fleet({
    count: plan.count,
    firstIndex: plan.firstIndex,
    stride: plan.stride ?? 1,
    prefix: plan.prefix,
    websocket: plan.websocket,
    https: plan.https,
    token: parseToken(plan.token),
    joinRate: plan.joinRate,
    ...(plan.maxJoining !== undefined ? { maxJoining: plan.maxJoining } : {}),
    certDir: plan.certDir,
    storePath: plan.storePath,
    ...(plan.recordFrames ? { recordFrames: plan.recordFrames } : {}),
    ...(plan.tracePods ? { tracePods: plan.tracePods } : {}),
    timings: plan.timings,
    stages,
    profile: plan.profile,
    log,
    sourceAddress: (g) => sourceAddressOf(g, plan.perSourceAddress),
  });
  hooks.onFleet?.(fleet);
  const stopped = new Promise<void>((resolve) => {
    void stop.then(resolve);
    fleet.whenFatal(() => resolve());
  });
  try {
    await fleet.prepare(signal);
    await Promise.race([fleet.start(signal), stopped]);
    await stopped;
  } catch (err) {
    fleet.stop();
    throw err;
  }
  const summary = fleet.summary();
  fleet.stop();
  return { fleet, summary };
}

/** One summary of several runner processes (each a slice of the nodes). */
export function mergeSummaries(list: FleetSummary[]): FleetSummary {
  const sum = (f: (s: FleetSummary) => number) => list.reduce((a, s) => a + f(s), 0);
  const max = (f: (s: FleetSummary) => number) => list.reduce((a, s) => Math.max(a, f(s)), 0);
  const addMaps = (f: (s: FleetSummary) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const s of list) for (const [k, v] of Object.entries(f(s))) out[k] = (out[k] ?? 0) + v;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  };
  const joined = sum((s) => s.joined);
  const joinDurationMs = max((s) => s.joinDurationMs);
  const connected = sum((s) => s.connected);
  const connectDurationMs = max((s) => s.connectDurationMs);
  const fatal = list.find((s) => s.fatal)?.fatal;
  return {
    nodes: sum((s) => s.nodes),
    states: Object.fromEntries(nodeStates.map((k) => [k, sum((s) => s.states[k])])) as FleetSummary['states'],
    started: sum((s) => s.started),
    connected,
    connectDurationMs,
    connectRatePerSec: rate(connected, connectDurationMs),
    connectCpuMs: sum((s) => s.connectCpuMs),
    joined,
    joinDurationMs,
    joinRatePerSec: rate(joined, joinDurationMs),
    joinWindow: { size: sum((s) => s.joinWindow.size), waitedMs: max((s) => s.joinWindow.waitedMs) },
    reconnects: sum((s) => s.reconnects),
    errors: addMaps((s) => s.errors),
    messagesIn: sum((s) => s.messagesIn),
    messagesOut: sum((s) => s.messagesOut),
    messagesByRoute: addMaps((s) => s.messagesByRoute),
    unserved: sum((s) => s.unserved),
    pods: { running: sum((s) => s.pods.running), admitted: sum((s) => s.pods.admitted), rejected: sum((s) => s.pods.rejected) },
    unservedNodes: list.flatMap((s) => s.unservedNodes).sort().slice(0, 50),
    durationMs: max((s) => s.durationMs),
    // The worst worker is the runner's lag: a slow worker slows its nodes.
    eventLoopLagMs: { p50: max((s) => s.eventLoopLagMs.p50), p99: max((s) => s.eventLoopLagMs.p99), max: max((s) => s.eventLoopLagMs.max) },
    ackLatencyMs: { p50: max((s) => s.ackLatencyMs.p50), p99: max((s) => s.ackLatencyMs.p99) },
    rssBytes: sum((s) => s.rssBytes),
    heapUsedBytes: sum((s) => s.heapUsedBytes),
    workers: sum((s) => s.workers),
    ...(fatal ? { fatal } : {}),
  };
}
