/**
 * A load test as data: versioned YAML (apiVersion edgemark.io/v1alpha1, kind
 * LoadTest) with defaults, validated with errors that name the field and the
 * allowed values. Built-in profiles live in profiles/*.yaml; a user's file
 * may name a profile to start from and override any field.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { EdgemarkError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { API_VERSION, fixForField, parseYamlDocument } from '../core/versioned.js';
import { faultsSchema, planFaults } from '../faults/spec.js';

const positive = z.number().int().min(1);
const rate = z.number().positive().max(10_000);

const phaseSchemas = [
  z.object({ kind: z.literal('nodesUp') }).strict(),
  z.object({ kind: z.literal('namespaces'), count: positive.max(1000) }).strict(),
  z
    .object({
      kind: z.literal('deployments'),
      perNamespace: positive.max(1000),
      /** Replicas of each Deployment; or podsPerNode, spread over every Deployment of the phase. */
      replicas: z.number().int().min(0).max(100_000).optional(),
      podsPerNode: z.number().min(0).max(1000).optional(),
      qps: rate.default(20),
    })
    .strict(),
  z.object({ kind: z.literal('pods'), perNamespace: positive.max(100_000), qps: rate.default(20) }).strict(),
  z
    .object({
      kind: z.literal('wait'),
      seconds: z
        .number()
        .min(0)
        .max(24 * 3600),
    })
    .strict(),
  z
    .object({
      kind: z.literal('scale'),
      replicas: z.number().int().min(0).max(100_000),
      qps: rate.default(20),
      /**
       * Feed instead of jump: each Deployment grows to at most `ahead` replicas
       * beyond those available, and not at all while any of the run's nodes is
       * not Ready (a control plane whose lease answers are late is saturated,
       * and more pods would starve them further).
       */
      ahead: positive.max(100_000).optional(),
    })
    .strict(),
  z.object({ kind: z.literal('delete'), what: z.enum(['deployments', 'pods']), qps: rate.default(20) }).strict(),
  z
    .object({
      kind: z.literal('churn'),
      podsPerSecond: rate,
      seconds: z
        .number()
        .positive()
        .max(24 * 3600),
      lifetimeSeconds: z.number().positive().default(30),
    })
    .strict(),
  z
    .object({
      kind: z.literal('footprint'),
      from: z.number().int().min(0).default(0),
      to: positive.max(1000).default(100),
      step: positive.default(5),
      holdSeconds: z.number().positive().default(20),
    })
    .strict(),
  z.object({ kind: z.literal('nodesDown') }).strict(),
] as const;

export const phaseKinds = phaseSchemas.map((s) => s.shape.kind.value);
const phaseSchema = z.discriminatedUnion('kind', phaseSchemas);
export type Phase = z.infer<typeof phaseSchema>;

export const NODE_KINDS = ['edge', 'kubelet'] as const;
export type NodeKindName = (typeof NODE_KINDS)[number];

/** What each kind's nodes are by default: names and capacity (a kubelet node's shape gives its own). */
const KIND_DEFAULTS: Record<NodeKindName, { prefix: string; capacity: { cpu?: string; memory?: string; pods?: string } }> = {
  edge: { prefix: 'run-edge-', capacity: { cpu: '2', memory: '4Gi', pods: '110' } },
  kubelet: { prefix: 'run-kubelet-', capacity: {} },
};

const nodeGroupSchema = z
  .object({
    /** The group's name (reports and per-kind SLIs name it); default the kind, then kind-2, ... */
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/)
      .optional(),
    /** edge: a KubeEdge edgecore 1.23 through CloudCore; kubelet: a kubelet 1.32 straight to kube-apiserver. */
    kind: z.enum(NODE_KINDS).default('edge'),
    count: positive.max(100_000).default(100),
    joinRate: rate.default(50),
    workers: positive.max(64).default(1),
    /** Node names are <prefix><index>; default run-<kind>- (run-<kind>2-, ... for further groups of a kind). */
    prefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{0,30}$/)
      .optional(),
    /** Capacity; edge default 2 CPUs, 4Gi, 110 pods; a kubelet node's shape gives its own unless set. */
    cpu: z.string().optional(),
    memory: z.string().optional(),
    pods: z.string().optional(),
    /** kubelet nodes: kubemark (as cmd/kubemark, the default) or kubelet (a real-looking node). */
    shape: z.enum(['kubemark', 'kubelet']).optional(),
    /** kubelet nodes: a hollow kube-proxy per node, or none (default). */
    proxy: z.enum(['per-node', 'off']).optional(),
    /** kubelet nodes: a hollow node-problem-detector's status heartbeat. */
    npd: z.boolean().optional(),
    /** kubelet nodes: refuse pods whose containers' ports lack a hostPort equal to their containerPort (EdgeSite). */
    requireHostPort: z.boolean().optional(),
  })
  .strict();

export type NodeGroupInput = z.infer<typeof nodeGroupSchema>;
/** A group with its name and prefix settled (and the edge kind's capacity defaults filled in). */
export type NodeGroup = Omit<NodeGroupInput, 'name' | 'prefix'> & { name: string; prefix: string };

function normalizeGroups(groups: NodeGroupInput[], ctx: z.RefinementCtx): NodeGroup[] {
  const seen = new Map<string, number>();
  const out = groups.map((g, i) => {
    const nth = (seen.get(g.kind) ?? 0) + 1;
    seen.set(g.kind, nth);
    for (const f of ['shape', 'proxy', 'npd', 'requireHostPort'] as const) {
      if (g.kind !== 'kubelet' && g[f] !== undefined)
        ctx.addIssue({ code: 'custom', path: [i, f], message: `${f} is for kubelet nodes (set kind: kubelet, or leave ${f} out)` });
    }
    const d = KIND_DEFAULTS[g.kind];
    const prefix = g.prefix ?? (nth === 1 ? d.prefix : d.prefix.replace(/-$/, `${nth}-`));
    return { ...d.capacity, ...g, name: g.name ?? (nth === 1 ? g.kind : `${g.kind}-${nth}`), prefix };
  });
  for (const [i, a] of out.entries()) {
    for (const [j, b] of out.entries()) {
      if (i !== j && a.name === b.name) ctx.addIssue({ code: 'custom', path: [j, 'name'], message: `two node groups are named ${a.name}` });
      // prefix "a-" and "a-1" would both name a node "a-10".
      else if (i < j && (b.prefix.startsWith(a.prefix) || a.prefix.startsWith(b.prefix)))
        ctx.addIssue({
          code: 'custom',
          path: [j, 'prefix'],
          message: `prefixes ${a.prefix} and ${b.prefix} could name the same node: give each group its own`,
        });
    }
  }
  return out;
}

/** Every node of the test. */
export function nodeCount(t: LoadTest): number {
  return t.spec.nodes.reduce((a, g) => a + g.count, 0);
}

/** The nodes of one kind. */
export function nodeCountOf(t: LoadTest, kind: NodeKindName): number {
  return t.spec.nodes.reduce((a, g) => a + (g.kind === kind ? g.count : 0), 0);
}

/** The fleet's pace: its groups' join rates added up. */
export function fleetJoinRate(t: LoadTest): number {
  return t.spec.nodes.reduce((a, g) => a + g.joinRate, 0);
}

/** The fleet's worker processes: its groups' added up. */
export function fleetWorkers(t: LoadTest): number {
  return t.spec.nodes.reduce((a, g) => a + g.workers, 0);
}

export const testSchema = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('LoadTest'),
    metadata: z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/), description: z.string().optional() }).strict(),
    spec: z
      .object({
        /**
         * The run's hollow nodes: one group (an object, the edge kind by default) or a
         * list of groups of either kind. The fleet joins at the sum of the groups'
         * join rates, group by group in order, in the sum of their worker processes.
         */
        nodes: z.array(nodeGroupSchema).min(1).max(16).transform(normalizeGroups).prefault([{}]),
        /** Pods of the test follow this lifecycle of stages/ (annotation edgemark.io/lifecycle); default: the default lifecycle. */
        /** The test's pods serve this port through the host (containerPort = hostPort), as EdgeSite's pods must; one such pod per node. */
        podHostPort: z.number().int().min(1).max(65535).optional(),
        podLifecycle: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]*$/)
          .optional(),
        /** The local control plane; its CloudCore node limit is raised to fit. */
        cluster: z.object({ nodeLimit: positive.optional() }).strict().default({}),
        phases: z.array(phaseSchema).min(1),
        /** Faults laid on the run's nodes' links, each `at` seconds after every node is up (src/faults). */
        faults: faultsSchema.default([]),
        slo: z
          .object({
            podStartupP99Ms: z.number().positive().default(5000),
            mutatingApiP99Ms: z.number().positive().default(1000),
            readApiP99Ms: z
              .object({
                resource: z.number().positive().default(1000),
                namespace: z.number().positive().default(5000),
                cluster: z.number().positive().default(30000),
              })
              .strict()
              .default({ resource: 1000, namespace: 5000, cluster: 30000 }),
            /** Past this, the runner itself was too slow: the run is invalid, not the cluster. */
            runnerEventLoopLagP99Ms: z.number().positive().default(100),
          })
          .strict()
          .default({
            podStartupP99Ms: 5000,
            mutatingApiP99Ms: 1000,
            readApiP99Ms: { resource: 1000, namespace: 5000, cluster: 30000 },
            runnerEventLoopLagP99Ms: 100,
          }),
        sampleEverySeconds: z.number().positive().max(60).default(5),
        /** Hard bound on the whole run; it stops by itself. */
        timeoutSeconds: positive.max(24 * 3600).default(1800),
      })
      .strict(),
  })
  .strict();

export type LoadTest = z.infer<typeof testSchema>;

export function profilesDir(): string {
  return join(packageRoot(), 'profiles');
}

export function builtinProfiles(): string[] {
  return readdirSync(profilesDir())
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

function fixFor(path: string, message: string): string {
  return fixForField(path, message, {
    kind: 'LoadTest',
    example: 'profiles/density.yaml',
    builtins: 'profiles in profiles/',
    field: (p) => (/\.kind$/.test(p) && /phases/.test(p) ? `a phase kind is one of: ${phaseKinds.join(', ')}` : undefined),
  });
}

/** spec.nodes as one object is one group: the list of one. */
function nodesAsList(doc: unknown): { doc: unknown; wrapped: boolean } {
  const spec = (doc as { spec?: { nodes?: unknown } } | null)?.spec;
  if (!spec || typeof spec !== 'object' || !spec.nodes || typeof spec.nodes !== 'object' || Array.isArray(spec.nodes)) return { doc, wrapped: false };
  return { doc: { ...(doc as object), spec: { ...spec, nodes: [spec.nodes] } }, wrapped: true };
}

function validate(input: unknown, source: string): LoadTest {
  const { doc, wrapped } = nodesAsList(input);
  const r = testSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // Errors name the field as the user wrote it: spec.nodes.cpu for the object form.
    if (wrapped && issue.path[0] === 'spec' && issue.path[1] === 'nodes' && issue.path[2] === 0) issue.path.splice(2, 1);
    const path = issue.path.join('.') || '(document)';
    let message = issue.message;
    if (issue.code === 'invalid_union' && /phases\.\d+$/.test(path)) message = `unknown phase kind; allowed: ${phaseKinds.join(', ')}`;
    if (issue.code === 'unrecognized_keys')
      message = `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')} (allowed here: ${allowedKeys(issue.path).join(', ')})`;
    throw new EdgemarkError('EM_CONFIG_INVALID', `[run] ${source}: ${path}: ${message}`, fixFor(path, issue.message));
  }
  for (const [i, ph] of r.data.spec.phases.entries()) {
    if (ph.kind === 'deployments' && (ph.replicas === undefined) === (ph.podsPerNode === undefined)) {
      throw new EdgemarkError(
        'EM_CONFIG_INVALID',
        `[run] ${source}: spec.phases.${i}: a deployments phase takes replicas or podsPerNode (one of them)`,
        "set replicas: <n> (per Deployment) or podsPerNode: <n> (spread over the phase's Deployments)",
      );
    }
  }
  if (r.data.spec.faults.length) {
    // A fault's groups are checked now, before anything starts.
    try {
      planFaults(r.data.spec.faults, r.data.spec.nodes);
    } catch (err) {
      const e = err as EdgemarkError;
      throw new EdgemarkError('EM_CONFIG_INVALID', `[run] ${source}: spec.faults: ${e.message.replace(/^\[faults\] /, '')}`, e.fix);
    }
    if (!r.data.spec.phases.some((p) => p.kind === 'nodesUp')) {
      throw new EdgemarkError(
        'EM_CONFIG_INVALID',
        `[run] ${source}: spec.faults: faults start after the nodesUp phase, and this test has none`,
        'add a nodesUp phase before the phases the faults should fall in',
      );
    }
  }
  return r.data;
}

/** The field names a config allows at a path (for "unknown field" errors). */
function allowedKeys(path: PropertyKey[]): string[] {
  let s: z.ZodType = testSchema;
  for (const p of path) {
    s = unwrap(s);
    // The object form of spec.nodes has no index in its path.
    if (s instanceof z.ZodArray && typeof p === 'string') s = unwrap(s.element as z.ZodType);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(p)] ?? s;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
  }
  s = unwrap(s);
  if (s instanceof z.ZodArray) s = unwrap(s.element as z.ZodType);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.ZodType): z.ZodType {
  let cur: z.ZodType = s;
  for (;;) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodPrefault) cur = cur.unwrap() as z.ZodType;
    else if (cur instanceof z.ZodPipe) cur = cur.in as z.ZodType;
    else break;
  }
  return cur;
}

function parseYaml(text: string, source: string): unknown {
  return parseYamlDocument(text, source, { code: 'EM_CONFIG_YAML', prefix: '[run]' });
}

export function loadProfile(name: string): LoadTest {
  const file = join(profilesDir(), `${name}.yaml`);
  if (!/^[a-z0-9-]+$/.test(name) || !existsSync(file)) {
    throw new EdgemarkError('EM_UNKNOWN_PROFILE', `[run] no profile "${name}"`, `use one of: ${builtinProfiles().join(', ')}; or --config <file>`);
  }
  return validate(parseYaml(readFileSync(file, 'utf8'), `profiles/${name}.yaml`), `profiles/${name}.yaml`);
}

/** Overrides merge into a base: objects field by field, arrays and scalars replaced. */
function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out;
  }
  return over;
}

/**
 * The test to run: a profile (default density), a config file on top of it
 * (which may name its own `profile:` to start from), and flag overrides last.
 */
export function resolveTest(o: { profile?: string; configFile?: string; overrides?: Record<string, unknown>; nodes?: NodeOverrides }): LoadTest {
  let doc: unknown;
  let source = `profiles/${o.profile ?? 'density'}.yaml`;
  if (o.configFile) {
    if (!existsSync(o.configFile))
      throw new EdgemarkError('EM_CONFIG_MISSING', `[run] ${o.configFile} does not exist`, 'pass the path of a LoadTest YAML file, or use --profile');
    const user = parseYaml(readFileSync(o.configFile, 'utf8'), o.configFile) as Record<string, unknown> | null;
    if (!user || typeof user !== 'object')
      throw new EdgemarkError('EM_CONFIG_INVALID', `[run] ${o.configFile}: expected a LoadTest document`, 'see profiles/density.yaml');
    const { profile, ...rest } = user as { profile?: unknown };
    const baseName = typeof profile === 'string' ? profile : o.profile;
    const base = baseName ? (loadProfile(baseName) as unknown) : {};
    doc = merge(base, rest);
    source = o.configFile;
  } else {
    doc = loadProfile(o.profile ?? 'density');
  }
  if (o.overrides) doc = merge(nodesAsList(doc).doc, nodesAsList(o.overrides).wrapped ? mergeNodes(doc, o.overrides) : o.overrides);
  const test = validate(doc, source);
  return o.nodes ? overrideNodes(test, o.nodes) : test;
}

/** An override's spec.nodes object merges into the one group of the base (a list of one). */
function mergeNodes(base: unknown, over: Record<string, unknown>): Record<string, unknown> {
  const groups = (nodesAsList(base).doc as { spec?: { nodes?: unknown[] } }).spec?.nodes;
  const mine = (over.spec as { nodes: Record<string, unknown> }).nodes;
  if (groups && groups.length > 1)
    throw new EdgemarkError(
      'EM_CONFIG_INVALID',
      '[run] spec.nodes has several groups: an override of spec.nodes must name one (give the list)',
      'write spec.nodes as a list in the config',
    );
  return { ...over, spec: { ...(over.spec as object), nodes: merge(groups?.[0] ?? {}, mine) } };
}

/** --nodes and --workers: they set the count and processes of a test with one node group. */
export interface NodeOverrides {
  count?: number;
  workers?: number;
}

function overrideNodes(t: LoadTest, o: NodeOverrides): LoadTest {
  if (o.count === undefined && o.workers === undefined) return t;
  if (t.spec.nodes.length > 1) {
    const flags = [o.count !== undefined ? '--nodes' : '', o.workers !== undefined ? '--workers' : ''].filter(Boolean).join(' and ');
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      `[run] ${flags} set the nodes of a test with one node group, and this one has ${t.spec.nodes.length} (${t.spec.nodes.map((g) => `${g.name}: ${g.count}`).join(', ')})`,
      'set count and workers of each group under spec.nodes in a config file (--config), or leave the flags out',
    );
  }
  const g = t.spec.nodes[0]!;
  return {
    ...t,
    spec: { ...t.spec, nodes: [{ ...g, ...(o.count !== undefined ? { count: o.count } : {}), ...(o.workers !== undefined ? { workers: o.workers } : {}) }] },
  };
}
