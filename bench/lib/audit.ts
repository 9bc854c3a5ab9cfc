/**
 * API calls by client from kube-apiserver's audit log (`cluster up
 * --audit-log`, level Metadata, JSON lines): per user prefix, the calls made
 * in a time window by verb and resource. A request counts once: at
 * ResponseComplete, or for a watch (long-running) when its response starts,
 * so that a watch still open at the end of the window is counted too.
 */
import { createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface AuditEvent {
  stage?: string;
  verb?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string };
  requestReceivedTimestamp?: string;
  responseStatus?: { code?: number };
}

/** `verb resource[/subresource]` -> count, per client. */
export type CallCounts = Map<string, Map<string, number>>;

/** The key of a counted event, or undefined when it is not counted (another stage, outside the window, another client). */
export function callKey(e: AuditEvent, from: number, to: number): string | undefined {
  const verb = e.verb ?? '';
  const counted = verb === 'watch' ? e.stage === 'ResponseStarted' : e.stage === 'ResponseComplete';
  if (!counted) return undefined;
  const at = Date.parse(e.requestReceivedTimestamp ?? '');
  if (!(at >= from && at < to)) return undefined;
  const r = e.objectRef;
  const resource = r?.resource ? `${r.resource}${r.subresource ? `/${r.subresource}` : ''}` : '(non-resource)';
  return `${verb} ${resource}`;
}

/** Adds one line of the log to `counts` when it is a call of a client named by `clientOf`. */
export function countLine(line: string, counts: CallCounts, clientOf: (username: string) => string | undefined, from: number, to: number): void {
  if (!line) return;
  let e: AuditEvent;
  try {
    e = JSON.parse(line) as AuditEvent;
  } catch {
    return; // a line cut by rotation
  }
  const client = clientOf(e.user?.username ?? '');
  if (client === undefined) return;
  const key = callKey(e, from, to);
  if (key === undefined) return;
  const m = counts.get(client) ?? new Map<string, number>();
  counts.set(client, m);
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** Every audit file in `dir` (audit.log and its rotations), read line by line. */
export async function countCalls(dir: string, clientOf: (username: string) => string | undefined, from: number, to: number): Promise<CallCounts> {
  const counts: CallCounts = new Map();
  for (const f of readdirSync(dir).filter((x) => /^audit(-.*)?\.log$/.test(x))) {
    const rl = createInterface({ input: createReadStream(join(dir, f)), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of rl) countLine(line, counts, clientOf, from, to);
  }
  return counts;
}

export interface CallRow {
  call: string;
  /** Calls per node per minute, per client. */
  perNodeMinute: Record<string, number>;
}

/** Rows of calls per node per minute, every key of any client, busiest first. */
export function perNodeMinute(counts: CallCounts, nodes: Record<string, number>, minutes: number): CallRow[] {
  const keys = new Set([...counts.values()].flatMap((m) => [...m.keys()]));
  const rows = [...keys].map((call) => ({
    call,
    perNodeMinute: Object.fromEntries(Object.keys(nodes).map((c) => [c, Math.round(((counts.get(c)?.get(call) ?? 0) / nodes[c]! / minutes) * 1000) / 1000])),
  }));
  const total = (r: CallRow) => Object.values(r.perNodeMinute).reduce((a, b) => a + b, 0);
  return rows.sort((a, b) => total(b) - total(a) || a.call.localeCompare(b.call));
}
