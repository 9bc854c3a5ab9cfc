/**
 * Pod lifecycles as data: versioned YAML (apiVersion edgemark.io/v1alpha1,
 * kind PodLifecycle), validated here with errors that name the file, the field
 * path and the fix. The engine (engine.ts) reads only the compiled form.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { EdgemarkError } from '../core/errors.js';
import { API_VERSION, fixForField, parseYamlDocument } from '../core/versioned.js';

/** What a pod looks like after a transition (the fake runtime's states). */
export const targets = ['running', 'not-ready', 'succeeded', 'failed', 'restart'] as const;
export type Target = (typeof targets)[number];

const delaySchema = z
  .object({
    ms: z
      .number()
      .int()
      .min(0)
      .max(24 * 3600 * 1000),
    jitterMs: z.number().int().min(0).default(0),
  })
  .strict();

const transitionSchema = z
  .object({
    name: z.string().min(1),
    after: delaySchema,
    to: z.enum(targets),
    /** Container exit code for failed/restart (and succeeded, 0). */
    exitCode: z.number().int().min(0).max(255).optional(),
    /** For 'restart': repeat from this transition's index, this many times (0 = forever). */
    repeat: z.number().int().min(0).optional(),
  })
  .strict();

const lifecycleSchema = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('PodLifecycle'),
    metadata: z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/), description: z.string().optional() }).strict(),
    spec: z
      .object({
        /** Higher wins when several lifecycles select a pod. */
        priority: z.number().int().default(0),
        selector: z
          .object({
            /** Pods owned by a controller of this kind (Job, DaemonSet, ...). */
            ownerKind: z.string().optional(),
            matchLabels: z.record(z.string(), z.string()).optional(),
            matchAnnotations: z.record(z.string(), z.string()).optional(),
          })
          .strict()
          .default({}),
        transitions: z.array(transitionSchema).min(1),
      })
      .strict(),
  })
  .strict();

export type PodLifecycle = z.infer<typeof lifecycleSchema>;

/** The annotation that picks a lifecycle by name, whatever the selectors say. */
export const LIFECYCLE_ANNOTATION = 'edgemark.io/lifecycle';

function fixFor(path: string, message: string): string {
  return fixForField(path, message, {
    kind: 'PodLifecycle',
    example: 'stages/default.yaml',
    builtins: 'files in stages/',
    field: (p) => (p.endsWith('.to') ? `use one of: ${targets.join(', ')}` : undefined),
  });
}

/** Parses and validates one lifecycle document; `file` names it in errors. */
export function parseLifecycle(text: string, file: string): PodLifecycle {
  const doc = parseYamlDocument(text, file, { code: 'EM_STAGE_YAML', prefix: '[stages]' });
  const r = lifecycleSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.join('.') || '(document)';
    throw new EdgemarkError('EM_STAGE_INVALID', `[stages] ${file}: ${path}: ${issue.message}`, fixFor(path, issue.message));
  }
  for (const [i, t] of r.data.spec.transitions.entries()) {
    if (t.repeat !== undefined && t.to !== 'restart') {
      throw new EdgemarkError(
        'EM_STAGE_INVALID',
        `[stages] ${file}: spec.transitions.${i}.repeat: only a "restart" transition repeats`,
        'remove repeat, or set to: restart',
      );
    }
  }
  return r.data;
}

/** Loads every *.yaml under the given files or directories; later names replace earlier ones. */
export function loadLifecycles(paths: string[]): Map<string, PodLifecycle> {
  const out = new Map<string, PodLifecycle>();
  for (const p of paths) {
    const files = statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p];
    for (const f of files) {
      const l = parseLifecycle(readFileSync(f, 'utf8'), f);
      out.set(l.metadata.name, l);
    }
  }
  if (!out.has('default')) {
    throw new EdgemarkError(
      'EM_STAGE_INVALID',
      `[stages] no lifecycle named "default" in ${paths.join(', ')}`,
      'keep stages/default.yaml, or add your own lifecycle named default',
    );
  }
  return out;
}
