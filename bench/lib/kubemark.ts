/**
 * The real kubemark (cmd/kubemark of the pinned Kubernetes, built by
 * `edgemark setup --peers`), and what comparing its objects with ours needs:
 * the field paths of an object, values aside.
 */
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The newest kubemark binary in the build cache, or undefined when `setup --peers` has not built one. */
export function findKubemarkBinary(cacheDir: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(join(cacheDir, 'bin'));
  } catch {
    return undefined;
  }
  return entries
    .filter((e) => /^kubernetes-v[\d.]+-peers-[0-9a-f]+$/.test(e))
    .map((e) => join(cacheDir, 'bin', e, 'kubemark'))
    .filter((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    })
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/**
 * Every leaf path of an object (`.status.conditions[].reason`), values aside;
 * empty maps and lists are leaves too. Server-side bookkeeping
 * (metadata.managedFields, whose keys hold uids and times) is left out.
 */
export function fieldPaths(o: unknown, at = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(o)) {
    if (o.length === 0) out.add(`${at}[]`);
    for (const v of o) for (const p of fieldPaths(v, `${at}[]`)) out.add(p);
  } else if (o !== null && typeof o === 'object') {
    const entries = Object.entries(o).filter(([k]) => !(at === '.metadata' && k === 'managedFields'));
    if (entries.length === 0) out.add(`${at}{}`);
    for (const [k, v] of entries) for (const p of fieldPaths(v, `${at}.${k}`)) out.add(p);
  } else out.add(at);
  return out;
}

export interface PathDifference {
  object: string;
  path: string;
  /** Which side has it. */
  only: 'kubemark' | 'edgemark';
  why: string;
}

/** Paths one side has and the other lacks, by object. */
export function pathDifferences(object: string, kubemark: unknown, ours: unknown): Omit<PathDifference, 'why'>[] {
  const a = fieldPaths(kubemark);
  const b = fieldPaths(ours);
  return [
    ...[...a].filter((p) => !b.has(p)).map((path) => ({ object, path, only: 'kubemark' as const })),
    ...[...b].filter((p) => !a.has(p)).map((path) => ({ object, path, only: 'edgemark' as const })),
  ].sort((x, y) => x.path.localeCompare(y.path));
}
