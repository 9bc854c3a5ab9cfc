/**
 * What a fault did to the nodes, from their Ready history as the apiserver
 * showed it: how many of its nodes went NotReady, how long after the fault
 * ended 99 % and all of them were Ready again, how many never came back
 * within the run, and whether the nodes it did not target flapped meanwhile.
 * Pure: records and timelines in, figures out (times in ms since the run began).
 */
import { backWithin, type StormFigures } from '../link/model.js';
import type { FaultRecord } from './driver.js';

/** A node's Ready history: first Ready, then each change as [ms since the run began, 1 Ready | 0 not]. */
export interface ReadyHistory {
  name: string;
  /** ms since the run began; undefined: never Ready. */
  readyMs: number | undefined;
  changes: [number, 0 | 1][];
}

export interface FaultSli extends FaultRecord {
  /** Nodes of the fault that went NotReady from its start on. */
  wentNotReady: number;
  /** From the fault's end until 99 % and all of its nodes were Ready again (ms); absent when they were not within the run. */
  readyAgainP99Ms?: number;
  readyAgainAllMs?: number;
  /** Its nodes not Ready when the run ended. */
  notRecovered: number;
  /** Ready flaps of the run's other nodes from the fault's start to `quietMs` after its end. */
  othersFlaps: number;
  /** A disconnect: its nodes reconnected, as the runner saw them (ms after the drop). */
  reconnect?: StormFigures;
}

/** How long after a fault's end the other nodes' flaps are still counted against it. */
export const QUIET_AFTER_MS = 120_000;

/** Ready at time t (the state set by the last change at or before t). */
function readyAt(h: ReadyHistory, t: number): boolean {
  if (h.readyMs === undefined || h.readyMs > t) return false;
  let ready = true;
  for (const [ct, r] of h.changes) {
    if (ct > t) break;
    ready = r === 1;
  }
  return ready;
}

/** When the node was Ready again at or after `t` (t itself if it was); undefined if not within the history. */
function readyAgain(h: ReadyHistory, t: number): number | undefined {
  if (readyAt(h, t)) return t;
  for (const [ct, r] of h.changes) if (ct > t && r === 1) return ct;
  if (h.readyMs !== undefined && h.readyMs > t) return h.readyMs;
  return undefined;
}

export function faultSlis(records: FaultRecord[], nodes: ReadyHistory[], storms: Record<string, StormFigures> = {}, quietMs = QUIET_AFTER_MS): FaultSli[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  return records.map((r): FaultSli => {
    const mine = new Set(r.nodes);
    const hist = r.nodes.map((n) => byName.get(n)).filter((h): h is ReadyHistory => h !== undefined);
    if (r.startMs === undefined) return { ...r, wentNotReady: 0, notRecovered: 0, othersFlaps: 0 };
    const start = r.startMs;
    const end = r.endMs ?? start;
    const wentNotReady = hist.filter((h) => !readyAt(h, start) || h.changes.some(([t, x]) => t >= start && x === 0)).length;
    const again = hist.map((h) => readyAgain(h, end));
    const back = again
      .filter((t): t is number => t !== undefined)
      .map((t) => t - end)
      .sort((a, b) => a - b);
    const notRecovered = hist.filter((h) => !readyAt(h, Number.POSITIVE_INFINITY)).length + (r.nodes.length - hist.length);
    let othersFlaps = 0;
    for (const h of nodes) {
      if (mine.has(h.name)) continue;
      for (const [t, x] of h.changes) if (x === 0 && t >= start && t <= end + quietMs) othersFlaps++;
    }
    const within = backWithin(back, r.nodes.length);
    const storm = storms[r.name];
    return {
      ...r,
      ...(storm ? { reconnect: storm } : {}),
      wentNotReady,
      ...(within.p99Ms !== undefined ? { readyAgainP99Ms: within.p99Ms } : {}),
      ...(within.allMs !== undefined ? { readyAgainAllMs: within.allMs } : {}),
      notRecovered,
      othersFlaps,
    };
  });
}
