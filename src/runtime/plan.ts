/**
 * The fleet plan: what hollow nodes to run and against what, as one typed,
 * versioned, serialisable document (validated with zod). Every runtime takes
 * the same plan; a runtime decides only where the nodes run. The plan holds no
 * secret: credentials (the join token) travel beside it, so that a runtime can
 * put the plan in a ConfigMap and the token in a Secret.
 */
import { z } from 'zod';
import { splitHostPort } from '../core/address.js';
import { EdgemarkError } from '../core/errors.js';

export const PLAN_API_VERSION = 'edgemark.io/v1alpha1';

const hostPort = z.string().refine((v) => splitHostPort(v) !== undefined, 'host:port');
/** Node names are <prefix><index>: the prefix is the start of a DNS-1123 name. */
const prefix = z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9.-])?$/, 'lowercase letters, digits, "-" or "."');

const groupSchema = z
  .object({
    /** A name for the group (reports and faults address groups by it). */
    name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS label'),
    /** The node kind (edge: a KubeEdge edgecore). */
    kind: z.string().min(1).default('edge'),
    count: z.number().int().positive(),
    prefix,
    /** Node profile (capacity, labels, taints, ...), checked by the kind. */
    profile: z.record(z.string(), z.unknown()).default({}),
    /** Overrides of the kind's default timings (ms and fractions), checked by the kind. */
    timings: z.record(z.string(), z.number()).default({}),
    /** The link between these nodes and the cloud: faults and impairments (none yet). */
    link: z.object({}).strict().default({}),
  })
  .strict();

export const fleetPlanSchema = z
  .object({
    apiVersion: z.literal(PLAN_API_VERSION),
    kind: z.literal('FleetPlan'),
    target: z
      .object({
        /** What the target is, for messages and reports (local, or the kubeconfig's context). */
        name: z.string().min(1),
        /** CloudHub addresses for edge nodes: node g dials address g mod n. */
        cloudcore: z.array(z.object({ websocket: hostPort, https: z.string().url() }).strict()).default([]),
        /** kube-apiserver URL (for kinds that talk to it directly). */
        apiserver: z.string().url().optional(),
        /** kube-apiserver's CA certificate, PEM (not a secret). */
        apiserverCa: z.string().startsWith('-----BEGIN CERTIFICATE-----', 'a PEM certificate').optional(),
      })
      .strict(),
    groups: z.array(groupSchema).min(1),
    pacing: z
      .object({
        /** Nodes started per second over the whole fleet. */
        joinRate: z.number().positive(),
        /** Nodes joining at once (started, not yet Ready); 0 = no limit. */
        maxJoining: z.number().int().min(0).default(200),
        /** Dials in flight at once per runner process. */
        maxDialing: z.number().int().positive().default(64),
      })
      .strict(),
    /** Extra PodLifecycle files or directories, on top of the built-in stages/. */
    stagePaths: z.array(z.string()).default([]),
    /** Where a local runner keeps node certificates and its store. */
    dataDir: z.string().min(1),
    observe: z
      .object({
        /** Report pod milestones at the node (delivery latency). */
        tracePods: z.boolean().default(false),
        /** Append a sample of the frames the control plane sends to this JSONL file. */
        recordFrames: z.string().optional(),
        /** Serve the runner's /metrics here (loopback; port 0 picks one), or not at all. */
        metrics: z.union([z.literal(false), hostPort]).default('127.0.0.1:0'),
        /** Log one line per node event (`node <name>: ready`), for `fleet logs NODE`. */
        nodeLog: z.boolean().default(false),
      })
      .strict()
      .default({ tracePods: false, metrics: '127.0.0.1:0', nodeLog: false }),
    /** Stop by itself after this many seconds. */
    durationSeconds: z.number().int().positive().optional(),
    /**
     * This runner holds only the nodes of global index from..from+count-1 (a
     * pod of the Kubernetes runtime: pod o of K nodes each holds o*K..); the
     * plan still names them all, so that names and addresses stay the fleet's.
     * Its pacing is the slice's share of the fleet's.
     */
    slice: z
      .object({ from: z.number().int().min(0), count: z.number().int().positive() })
      .strict()
      .optional(),
  })
  .strict();

export type FleetPlan = z.infer<typeof fleetPlanSchema>;
export type PlanGroup = FleetPlan['groups'][number];
/** A plan as written: defaults may be left out. */
export type FleetPlanInput = z.input<typeof fleetPlanSchema>;

/** Validates a plan (from a file, IPC or a ConfigMap); EM_PLAN_INVALID names the field. */
export function parsePlan(input: unknown): FleetPlan {
  const r = fleetPlanSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      `a FleetPlan has apiVersion ${PLAN_API_VERSION}; see docs/architecture.md`,
    );
  }
  const plan = r.data;
  const names = new Set<string>();
  for (const g of plan.groups) {
    if (names.has(g.name)) throw new EdgemarkError('EM_PLAN_INVALID', `[plan] two groups are named ${g.name}`, 'give every group its own name');
    names.add(g.name);
  }
  for (const a of plan.groups) {
    for (const b of plan.groups) {
      // prefix "a-" and "a-1" would both name a node "a-10".
      if (a !== b && b.prefix.startsWith(a.prefix) && /^[0-9]*$/.test(b.prefix.slice(a.prefix.length))) {
        throw new EdgemarkError(
          'EM_PLAN_INVALID',
          `[plan] groups ${a.name} and ${b.name} have prefixes ${a.prefix} and ${b.prefix}, which can name the same node`,
          'give every group a prefix that no other prefix starts with',
        );
      }
    }
  }
  return plan;
}

export function planNodeCount(plan: FleetPlan): number {
  return plan.groups.reduce((a, g) => a + g.count, 0);
}

/** The nodes a runner of this plan holds: every node, or its slice (which must lie inside the plan). */
function sliced(plan: FleetPlan): { group: PlanGroup; first: number; count: number; indexBase: number }[] {
  const total = planNodeCount(plan);
  const from = plan.slice?.from ?? 0;
  const to = plan.slice ? from + plan.slice.count : total;
  if (to > total) {
    throw new EdgemarkError('EM_PLAN_INVALID', `[plan] slice ${from}..${to - 1} lies outside the plan's ${total} nodes`, 'a slice names nodes of the plan');
  }
  const out: { group: PlanGroup; first: number; count: number; indexBase: number }[] = [];
  let base = 0;
  for (const group of plan.groups) {
    const lo = Math.max(from, base);
    const hi = Math.min(to, base + group.count);
    if (hi > lo) out.push({ group, first: lo - base, count: hi - lo, indexBase: base });
    base += group.count;
  }
  return out;
}

/** The nodes of one group that one runner process holds: local indices first, first + stride, ... */
export interface ShardGroup {
  group: PlanGroup;
  count: number;
  firstIndex: number;
  stride: number;
  /** Global index of the group's node 0 (fake addresses derive from the global index). */
  indexBase: number;
}

/** What one runner process runs. */
export interface Shard {
  plan: FleetPlan;
  /** Worker index; undefined for a runner that is the only process. */
  index: number | undefined;
  groups: ShardGroup[];
  joinRate: number;
  maxJoining: number;
  /** Nodes per loopback source address; 0 lets the kernel choose. */
  perSourceAddress: number;
}

/**
 * Splits a plan into K shards. Node j of a group goes to shard j mod K, so
 * with the same K a node always lands in the same shard (and its store)
 * whatever the count: a restarted run with more nodes keeps the pods of the
 * nodes it had.
 */
export function shardPlan(plan: FleetPlan, shards: number | undefined, perSourceAddress: number): Shard[] {
  const parts = sliced(plan);
  // A slice paces at its share of the fleet's rate.
  const share = plan.slice ? plan.slice.count / planNodeCount(plan) : 1;
  const joinRate = plan.pacing.joinRate * share;
  const maxJoining = plan.pacing.maxJoining ? Math.max(1, Math.ceil(plan.pacing.maxJoining * share)) : 0;
  if (shards === undefined) {
    const groups = parts.map((p) => ({ group: p.group, count: p.count, firstIndex: p.first, stride: 1, indexBase: p.indexBase }));
    return [{ plan, index: undefined, groups, joinRate, maxJoining, perSourceAddress }];
  }
  const out: Shard[] = [];
  for (let k = 0; k < shards; k++) {
    const groups: ShardGroup[] = [];
    for (const p of parts) {
      const count = Math.floor(p.count / shards) + (k < p.count % shards ? 1 : 0);
      if (count > 0) groups.push({ group: p.group, count, firstIndex: p.first + k, stride: shards, indexBase: p.indexBase });
    }
    if (groups.length === 0) continue;
    out.push({
      plan,
      index: k,
      groups,
      joinRate: joinRate / shards,
      maxJoining: maxJoining ? Math.max(1, Math.ceil(maxJoining / shards)) : 0,
      perSourceAddress,
    });
  }
  return out;
}

/** Node names of a plan, in start order (dry runs and tests). */
export function nodeNames(plan: FleetPlan, limit = Infinity): string[] {
  const out: string[] = [];
  for (const g of plan.groups) for (let i = 0; i < g.count && out.length < limit; i++) out.push(`${g.prefix}${i}`);
  return out;
}

/** The global index of a node of the plan (its place in `nodeNames`), or undefined for a name not in it. */
export function nodeIndex(plan: FleetPlan, name: string): number | undefined {
  let base = 0;
  for (const g of plan.groups) {
    const rest = name.startsWith(g.prefix) ? name.slice(g.prefix.length) : '';
    if (/^(0|[1-9][0-9]*)$/.test(rest) && Number(rest) < g.count) return base + Number(rest);
    base += g.count;
  }
  return undefined;
}

/** The common plan: one group of one kind against a target's addresses. */
export interface OneGroupPlan {
  target: { name: string; cloudcore: { websocket: string; https: string }[]; apiserver?: string | undefined; apiserverCa?: string | undefined };
  count: number;
  prefix: string;
  kind?: string;
  groupName?: string;
  profile?: Record<string, unknown>;
  timings?: Record<string, number>;
  joinRate?: number;
  maxJoining?: number;
  maxDialing?: number;
  stagePaths?: string[];
  dataDir: string;
  tracePods?: boolean;
  recordFrames?: string;
  metrics?: string | false;
  durationSeconds?: number;
}

export function oneGroupPlan(o: OneGroupPlan): FleetPlan {
  return parsePlan({
    apiVersion: PLAN_API_VERSION,
    kind: 'FleetPlan',
    target: {
      name: o.target.name,
      cloudcore: o.target.cloudcore,
      ...(o.target.apiserver ? { apiserver: o.target.apiserver } : {}),
      ...(o.target.apiserverCa ? { apiserverCa: o.target.apiserverCa } : {}),
    },
    groups: [{ name: o.groupName ?? 'nodes', kind: o.kind ?? 'edge', count: o.count, prefix: o.prefix, profile: o.profile ?? {}, timings: o.timings ?? {} }],
    pacing: {
      joinRate: o.joinRate ?? 50,
      ...(o.maxJoining !== undefined ? { maxJoining: o.maxJoining } : {}),
      ...(o.maxDialing !== undefined ? { maxDialing: o.maxDialing } : {}),
    },
    stagePaths: o.stagePaths ?? [],
    dataDir: o.dataDir,
    observe: { tracePods: o.tracePods ?? false, metrics: o.metrics ?? '127.0.0.1:0', ...(o.recordFrames ? { recordFrames: o.recordFrames } : {}) },
    ...(o.durationSeconds ? { durationSeconds: o.durationSeconds } : {}),
  });
}
