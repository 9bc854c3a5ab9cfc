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

export const testSchema = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('LoadTest'),
    metadata: z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/), description: z.string().optional() }).strict(),
    spec: z
      .object({
        nodes: z
          .object({
            count: positive.max(100_000).default(100),
            joinRate: rate.default(50),
            workers: positive.max(64).default(1),
            prefix: z
              .string()
              .regex(/^[a-z0-9][a-z0-9.-]{0,30}$/)
              .default('run-edge-'),
            cpu: z.string().default('2'),
            memory: z.string().default('4Gi'),
            pods: z.string().default('110'),
          })
          .strict()
          .default({ count: 100, joinRate: 50, workers: 1, prefix: 'run-edge-', cpu: '2', memory: '4Gi', pods: '110' }),
        /** Pods of the test follow this lifecycle of stages/ (annotation edgemark.io/lifecycle); default: the default lifecycle. */
        podLifecycle: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]*$/)
          .optional(),
        /** The local control plane; its CloudCore node limit is raised to fit. */
        cluster: z.object({ nodeLimit: positive.optional() }).strict().default({}),
        phases: z.array(phaseSchema).min(1),
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

function validate(doc: unknown, source: string): LoadTest {
  const r = testSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
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
  return r.data;
}

/** The field names a config allows at a path (for "unknown field" errors). */
function allowedKeys(path: PropertyKey[]): string[] {
  let s: z.ZodType = testSchema;
  for (const p of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(p)] ?? s;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function unwrap(s: z.ZodType): z.ZodType {
  let cur: z.ZodType = s;
  while (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
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
export function resolveTest(o: { profile?: string; configFile?: string; overrides?: Record<string, unknown> }): LoadTest {
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
  if (o.overrides) doc = merge(doc, o.overrides);
  return validate(doc, source);
}
