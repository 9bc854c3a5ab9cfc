/**
 * The runner's summary: kind-neutral figures of every node of a runner process
 * (or, merged, of every process of a runner), with per-kind extras. Plain JSON:
 * it crosses process boundaries as it is.
 */
import { formatBytes, formatDuration } from '../core/log.js';
import type { StormFigures } from '../link/model.js';
export interface FleetSummary {
  /** Version of this shape: readers refuse a summary of another. */
  summaryVersion: 1;
  nodes: number;
  /** Nodes by state (the states of every kind in the run). */
  states: Record<string, number>;
  started: number;
  /**
   * Nodes whose connection opened at least once (credentials, TLS and the
   * upgrade done: the runner's side of a join), how fast, and the runner's CPU
   * from its start until the last of them (ms, every process of the runner).
   */
  connected: number;
  connectDurationMs: number;
  connectRatePerSec: number;
  connectCpuMs: number;
  /** Nodes that reached Ready at least once, and how fast they did. */
  joined: number;
  joinDurationMs: number;
  joinRatePerSec: number;
  /**
   * The join window (--max-joining; 0 = none): its size, and how long the
   * runner waited for it, i.e. for the control plane to answer registrations.
   */
  joinWindow: { size: number; waitedMs: number };
  reconnects: number;
  errors: Record<string, number>;
  messagesIn: number;
  messagesOut: number;
  /** Messages by `<direction> <operation> <resource type>`. */
  messagesByRoute: Record<string, number>;
  /** Frame bytes (the beehive JSON each message is on the websocket) in each direction and by the same keys; absent in older summaries. */
  bytesIn?: number;
  bytesOut?: number;
  bytesByRoute?: Record<string, number>;
  /** Nodes connected whose registration the control plane never answered (node limit?). */
  unserved: number;
  /** Their names (the first 50). */
  unservedNodes: string[];
  pods: { running: number; admitted: number; rejected: number };
  /** Per node group: its kind, its nodes and how many are Ready now. */
  groups: Record<string, { kind: string; nodes: number; ready: number }>;
  /** Per-kind extras (certificate requests, store transactions, ...). */
  kinds: Record<string, Record<string, number>>;
  durationMs: number;
  /** The runner's own health: event-loop delay over the run, memory now. */
  eventLoopLagMs: { p50: number; p99: number; max: number };
  ackLatencyMs: { p50: number; p99: number };
  rssBytes: number;
  heapUsedBytes: number;
  /** Runner processes behind this summary. */
  workers: number;
  /** The error that stopped the run, with its fix (it survives the process boundary). */
  fatal?: { code: string; message: string; fix?: string };
  /**
   * Disconnect faults (reconnect storms) by fault id: the nodes dropped, how many
   * reconnected, and when (ms after the drop) 99 % and all of them had; merged over
   * runner processes, p99 is the largest of theirs (an upper bound).
   */
  storms?: Record<string, StormFigures>;
}

/** Nodes by state, the states that have any: "ready 48, joining 2". */
export function stateList(s: FleetSummary): string[] {
  return Object.entries(s.states)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
}

/** The live line of a running fleet (nodes run prints it every 2 s; runs write it to runner.log). */
export function liveLine(s: FleetSummary): string {
  const errors = Object.values(s.errors).reduce((a, b) => a + b, 0);
  return `[${formatDuration(s.durationMs)}] ${s.started}/${s.nodes} started: ${stateList(s).join(', ') || 'none yet'} | pods running ${s.pods.running} | reconnects ${s.reconnects} | errors ${errors} | msgs in ${s.messagesIn} out ${s.messagesOut} | lag p99 ${s.eventLoopLagMs.p99}ms | rss ${formatBytes(s.rssBytes)}`;
}

/** Events per second over a duration in ms, one decimal; 0 for no time. */
export function rate(count: number, ms: number): number {
  return ms > 0 ? Math.round((count / ms) * 10_000) / 10 : 0;
}

/** State names in display order over several summaries (first seen first). */
function stateOrder(list: FleetSummary[]): string[] {
  const out: string[] = [];
  for (const s of list) for (const k of Object.keys(s.states)) if (!out.includes(k)) out.push(k);
  return out;
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
  const groups: FleetSummary['groups'] = {};
  for (const s of list) {
    for (const [name, g] of Object.entries(s.groups)) {
      const m = groups[name] ?? { kind: g.kind, nodes: 0, ready: 0 };
      groups[name] = m;
      m.nodes += g.nodes;
      m.ready += g.ready;
    }
  }
  const kinds: FleetSummary['kinds'] = {};
  for (const name of new Set(list.flatMap((s) => Object.keys(s.kinds)))) kinds[name] = addMaps((s) => s.kinds[name] ?? {});
  const joined = sum((s) => s.joined);
  const joinDurationMs = max((s) => s.joinDurationMs);
  const connected = sum((s) => s.connected);
  const connectDurationMs = max((s) => s.connectDurationMs);
  const fatal = list.find((s) => s.fatal)?.fatal;
  const storms: Record<string, StormFigures> = {};
  for (const s of list) {
    for (const [id, f] of Object.entries(s.storms ?? {})) {
      const m = storms[id];
      if (!m) {
        storms[id] = { ...f };
        continue;
      }
      m.nodes += f.nodes;
      m.back += f.back;
      const p99 = m.p99Ms === undefined || f.p99Ms === undefined ? undefined : Math.max(m.p99Ms, f.p99Ms);
      const all = m.allMs === undefined || f.allMs === undefined ? undefined : Math.max(m.allMs, f.allMs);
      delete m.p99Ms;
      delete m.allMs;
      if (p99 !== undefined) m.p99Ms = p99;
      if (all !== undefined) m.allMs = all;
    }
  }
  return {
    ...(Object.keys(storms).length ? { storms } : {}),
    summaryVersion: 1,
    nodes: sum((s) => s.nodes),
    states: Object.fromEntries(stateOrder(list).map((k) => [k, sum((s) => s.states[k] ?? 0)])),
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
    bytesIn: sum((s) => s.bytesIn ?? 0),
    bytesOut: sum((s) => s.bytesOut ?? 0),
    bytesByRoute: addMaps((s) => s.bytesByRoute ?? {}),
    unserved: sum((s) => s.unserved),
    unservedNodes: list
      .flatMap((s) => s.unservedNodes)
      .sort()
      .slice(0, 50),
    pods: { running: sum((s) => s.pods.running), admitted: sum((s) => s.pods.admitted), rejected: sum((s) => s.pods.rejected) },
    groups,
    kinds,
    durationMs: max((s) => s.durationMs),
    // The worst process is the runner's lag: a slow process slows its nodes.
    eventLoopLagMs: { p50: max((s) => s.eventLoopLagMs.p50), p99: max((s) => s.eventLoopLagMs.p99), max: max((s) => s.eventLoopLagMs.max) },
    ackLatencyMs: { p50: max((s) => s.ackLatencyMs.p50), p99: max((s) => s.ackLatencyMs.p99) },
    rssBytes: sum((s) => s.rssBytes),
    heapUsedBytes: sum((s) => s.heapUsedBytes),
    workers: sum((s) => s.workers),
    ...(fatal ? { fatal } : {}),
  };
}
