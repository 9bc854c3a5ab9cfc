/**
 * Per-node traffic from a runner's summaries: messages and frame bytes per
 * node and second, in each direction and by message type, over a window
 * (the difference of two summaries) or the whole run (one summary).
 */
import type { FleetSummary } from './summary.js';

export interface TrafficRow {
  /** `<direction> <operation> <resource type>`. */
  key: string;
  messagesPerNodePerMin: number;
  bytesPerNodePerSec: number;
}

export interface Traffic {
  nodes: number;
  seconds: number;
  /** Frame bytes per node and second (the JSON of each message on the websocket). */
  inBytesPerNodePerSec: number;
  outBytesPerNodePerSec: number;
  rows: TrafficRow[];
}

const r3 = (v: number) => Math.round(v * 1000) / 1000;

/** Traffic between two summaries of the same runner (`from` absent: since the start). */
export function trafficBetween(to: FleetSummary, from: FleetSummary | undefined, nodes: number, seconds: number): Traffic | undefined {
  if (!to.bytesByRoute || nodes <= 0 || seconds <= 0) return undefined;
  const d = (a: Record<string, number> | undefined, b: Record<string, number> | undefined, k: string) => (a?.[k] ?? 0) - (b?.[k] ?? 0);
  const keys = [...new Set([...Object.keys(to.messagesByRoute), ...Object.keys(to.bytesByRoute)])].sort();
  const rows = keys
    .map((key) => ({
      key,
      messagesPerNodePerMin: r3((d(to.messagesByRoute, from?.messagesByRoute, key) / nodes / seconds) * 60),
      bytesPerNodePerSec: r3(d(to.bytesByRoute, from?.bytesByRoute, key) / nodes / seconds),
    }))
    .filter((x) => x.messagesPerNodePerMin > 0 || x.bytesPerNodePerSec > 0)
    .sort((a, b) => b.bytesPerNodePerSec - a.bytesPerNodePerSec);
  return {
    nodes,
    seconds: r3(seconds),
    inBytesPerNodePerSec: r3(((to.bytesIn ?? 0) - (from?.bytesIn ?? 0)) / nodes / seconds),
    outBytesPerNodePerSec: r3(((to.bytesOut ?? 0) - (from?.bytesOut ?? 0)) / nodes / seconds),
    rows,
  };
}
