/**
 * Faults as data: what a LoadTest's `spec.faults` (and `nodes run --fault`)
 * says, checked, and turned into what the runner carries out. Each fault has
 * a start (seconds after every node of the run is up), a duration and a
 * target (node groups, the first N or a percentage of each), and one effect:
 * a partition (edge to cloud lost, cloud to edge lost, or both), an impaired
 * link (latency with jitter, loss, a rate cap, flapping), a disconnect (a
 * reconnect storm, with the nodes' backoff or with none), or a kill of a
 * control-plane component, started again after the duration.
 */
import { z } from 'zod';
import { EdgemarkError } from '../core/errors.js';
import type { LinkFaultCommand } from '../link/model.js';

/** A rate: bits per second as a number, or "3Mbit", "64kbit", "1.5Mbit/s", "500kbps" (bits). */
export function parseRate(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m|g)?(?:bit|bps|b)?(?:\/s)?\s*$/i.exec(v);
  if (!m) throw new Error(`"${v}" is not a rate such as 3Mbit, 64kbit or 1000000`);
  const unit = { k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * unit;
}

/** Components of the local control plane a fault may kill and restart. */
export const KILLABLE = ['cloudcore', 'kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Killable = (typeof KILLABLE)[number];

const seconds = z
  .number()
  .min(0)
  .max(24 * 3600);
const rate = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  try {
    const r = parseRate(v);
    if (r <= 0) throw new Error(`a rate must be above 0, not ${v}`);
    return r;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const nodesSchema = z
  .object({
    /** Node groups by name (spec.nodes[].name); all groups when absent. */
    group: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    /** The first N nodes of each group... */
    count: z.number().int().min(1).optional(),
    /** ...or this percentage of each group (rounded up); all when neither is given. */
    percent: z.number().gt(0).max(100).optional(),
  })
  .strict()
  .refine((n) => n.count === undefined || n.percent === undefined, { message: 'give count or percent, not both' });

export const linkSchema = z
  .object({
    /** One-way delay and uniform jitter (ms). */
    latencyMs: z.number().min(0).max(60_000).optional(),
    jitterMs: z.number().min(0).max(60_000).optional(),
    /** Packet loss, 0 to 1 (0.01 = 1 %): lost packets are resent after TCP's retransmission timeout. */
    loss: z.number().min(0).max(0.9).optional(),
    /** A rate cap per node and direction: "3Mbit", "64kbit", or bits per second. */
    rate: rate.optional(),
    /** Down (both ways cut) `down` seconds of every `every` seconds. */
    flap: z
      .object({ down: z.number().positive(), every: z.number().positive() })
      .strict()
      .refine((f) => f.down < f.every, { message: 'down must be shorter than every' })
      .optional(),
  })
  .strict()
  .refine((l) => Object.keys(l).length > 0, { message: 'say how the link is impaired: latencyMs, jitterMs, loss, rate or flap' });

export const faultSchema = z
  .object({
    /** Names the fault in the report; default fault-<n>. */
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/)
      .optional(),
    /** Seconds after every node of the run is up (the nodesUp phase ended). */
    at: seconds,
    /** How long it lasts (s); a disconnect is at once, its duration the time its nodes get to come back. */
    duration: seconds.default(60),
    nodes: nodesSchema.default({}),
    /** Frames lost: out (edge to cloud), in (cloud to edge), both. */
    partition: z.enum(['out', 'in', 'both']).optional(),
    link: linkSchema.optional(),
    /** Drop the nodes' connections at once; they reconnect with their backoff (true) or with none (a thundering herd). */
    disconnect: z
      .object({ backoff: z.boolean().default(true) })
      .strict()
      .optional(),
    /** Kill a component of the local control plane (SIGKILL, or SIGTERM: a clean stop) and start it again after `duration`. */
    kill: z
      .object({ component: z.enum(KILLABLE), signal: z.enum(['SIGKILL', 'SIGTERM']).default('SIGKILL') })
      .strict()
      .optional(),
  })
  .strict()
  .refine((f) => [f.partition, f.link, f.disconnect, f.kill].filter((x) => x !== undefined).length === 1, {
    message: 'a fault has exactly one effect: partition, link, disconnect or kill',
  });

export type FaultSpec = z.infer<typeof faultSchema>;
export const faultsSchema = z.array(faultSchema).max(50);

/** The groups of the run as faults need them: names, node name prefixes, counts. */
export interface FaultGroup {
  name: string;
  prefix: string;
  count: number;
}

/** A fault resolved against the run's groups: when, what, and which nodes. */
export interface PlannedFault {
  name: string;
  effect: 'partition' | 'link' | 'disconnect' | 'kill';
  /** For the report: "partition out", "link 200±20 ms, 3 Mbit/s", "disconnect, no backoff". */
  description: string;
  atMs: number;
  durationMs: number;
  /** The nodes it acts on (for a kill: the nodes it is meant to hurt), by name. */
  nodes: string[];
  /** A link fault for the runners, or a component to kill and restart. */
  command?: LinkFaultCommand;
  kill?: { component: Killable; signal: 'SIGKILL' | 'SIGTERM' };
}

export function describeLink(l: NonNullable<FaultSpec['link']>): string {
  const parts: string[] = [];
  if (l.latencyMs !== undefined || l.jitterMs !== undefined) parts.push(`${l.latencyMs ?? 0}${l.jitterMs ? `±${l.jitterMs}` : ''} ms`);
  if (l.loss) parts.push(`${+(l.loss * 100).toFixed(3)} % loss`);
  if (l.rate) parts.push(l.rate >= 1e6 ? `${+(l.rate / 1e6).toFixed(3)} Mbit/s` : `${+(l.rate / 1e3).toFixed(3)} kbit/s`);
  if (l.flap) parts.push(`down ${l.flap.down} s every ${l.flap.every} s`);
  return `link ${parts.join(', ')}`;
}

/** Resolves faults against the run's groups; an unknown group is a clear error. */
export function planFaults(faults: FaultSpec[], groups: FaultGroup[]): PlannedFault[] {
  return faults.map((f, i) => {
    const name = f.name ?? `fault-${i + 1}`;
    const wanted = f.nodes.group === undefined ? undefined : Array.isArray(f.nodes.group) ? f.nodes.group : [f.nodes.group];
    for (const g of wanted ?? []) {
      if (!groups.some((x) => x.name === g)) {
        throw new EdgemarkError(
          'EM_FAULT_INVALID',
          `[faults] ${name}: no node group "${g}"`,
          `name one of the run's groups: ${groups.map((x) => x.name).join(', ')}`,
        );
      }
    }
    const targets = groups.filter((g) => !wanted || wanted.includes(g.name));
    const firstOf = (g: FaultGroup) =>
      Math.min(g.count, f.nodes.count ?? (f.nodes.percent !== undefined ? Math.ceil((g.count * f.nodes.percent) / 100) : g.count));
    const nodes = targets.flatMap((g) => Array.from({ length: firstOf(g) }, (_, k) => `${g.prefix}${k}`));
    // One count for every targeted group: the runner takes the first n of each (groups of other sizes get their own rounding).
    const sizes = new Set(targets.map(firstOf));
    const effect = f.partition ? 'partition' : f.link ? 'link' : f.disconnect ? 'disconnect' : 'kill';
    if (f.kill) {
      return {
        name,
        effect,
        description: `${f.kill.signal} ${f.kill.component}, started again after ${f.duration} s`,
        atMs: f.at * 1000,
        durationMs: f.duration * 1000,
        nodes,
        kill: f.kill,
      };
    }
    const command: LinkFaultCommand = {
      id: name,
      ...(wanted ? { groups: wanted } : {}),
      durationMs: f.duration * 1000,
      ...(f.nodes.count !== undefined || f.nodes.percent !== undefined ? { first: Math.max(...sizes) } : {}),
      ...(f.partition ? { condition: { block: f.partition } } : {}),
      ...(f.link
        ? {
            condition: {
              ...(f.link.latencyMs !== undefined ? { latencyMs: f.link.latencyMs } : {}),
              ...(f.link.jitterMs !== undefined ? { jitterMs: f.link.jitterMs } : {}),
              ...(f.link.loss !== undefined ? { loss: f.link.loss } : {}),
              ...(f.link.rate !== undefined ? { rateBps: f.link.rate } : {}),
              ...(f.link.flap ? { flap: { downMs: f.link.flap.down * 1000, everyMs: f.link.flap.every * 1000 } } : {}),
            },
          }
        : {}),
      ...(f.disconnect ? { drop: { backoff: f.disconnect.backoff } } : {}),
    };
    if (sizes.size > 1) {
      throw new EdgemarkError(
        'EM_FAULT_INVALID',
        `[faults] ${name}: ${f.nodes.percent} % of groups of different sizes is a different number of nodes in each`,
        'target one group per fault, or give nodes.count',
      );
    }
    const description =
      effect === 'partition'
        ? `partition ${f.partition === 'out' ? 'edge to cloud lost' : f.partition === 'in' ? 'cloud to edge lost' : 'both ways'}`
        : effect === 'link'
          ? describeLink(f.link!)
          : `disconnect, ${f.disconnect!.backoff ? "the nodes' backoff" : 'no backoff'}`;
    return { name, effect, description, atMs: f.at * 1000, durationMs: f.duration * 1000, nodes, command };
  });
}

/**
 * `--fault partition=out,at=30,duration=60,percent=20` (nodes run): the same
 * fields as a LoadTest fault, as key=value pairs. Link fields: latency, jitter
 * (ms), loss, rate, flap=<down>/<every>; disconnect=backoff|none.
 */
export function parseFaultFlag(v: string): FaultSpec {
  const doc: Record<string, unknown> = {};
  const nodes: Record<string, unknown> = {};
  const link: Record<string, unknown> = {};
  const num = (k: string, x: string) => {
    const n = Number(x);
    if (!Number.isFinite(n)) throw new Error(`${k}=${x}: not a number`);
    return n;
  };
  for (const part of v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const x = eq < 0 ? '' : part.slice(eq + 1);
    if (k === 'name') doc.name = x;
    else if (k === 'at' || k === 'duration') doc[k] = num(k, x);
    else if (k === 'group') nodes.group = x;
    else if (k === 'count' || k === 'percent') nodes[k] = num(k, x);
    else if (k === 'partition') doc.partition = x;
    else if (k === 'disconnect') doc.disconnect = { backoff: x !== 'none' };
    else if (k === 'kill') {
      const [component, signal] = x.split('/');
      doc.kill = { component, ...(signal ? { signal } : {}) };
    } else if (k === 'latency') link.latencyMs = num(k, x);
    else if (k === 'jitter') link.jitterMs = num(k, x);
    else if (k === 'loss') link.loss = num(k, x);
    else if (k === 'rate') link.rate = x;
    else if (k === 'flap') {
      const [down, every] = x.split('/').map((s) => num(k, s));
      link.flap = { down, every };
    } else
      throw new Error(`unknown key "${k}" (keys: name, at, duration, group, count, percent, partition, disconnect, kill, latency, jitter, loss, rate, flap)`);
  }
  if (Object.keys(link).length) doc.link = link;
  if (Object.keys(nodes).length) doc.nodes = nodes;
  const r = faultSchema.safeParse(doc);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; '));
  return r.data;
}
