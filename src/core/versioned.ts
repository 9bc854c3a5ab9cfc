/**
 * What every versioned Edgemark document shares (LoadTest, PodLifecycle, the
 * local cluster's state): the apiVersion, YAML parsing with an error that names
 * the file, and the fix offered for a field that breaks its schema.
 */
import { parse } from 'yaml';
import { EdgemarkError } from './errors.js';

export const API_VERSION = 'edgemark.io/v1alpha1';

/** Parses YAML text; `source` names it in the error, `code` and `prefix` are the caller's. */
export function parseYamlDocument(text: string, source: string, o: { code: 'EM_STAGE_YAML' | 'EM_CONFIG_YAML'; prefix: string }): unknown {
  try {
    return parse(text);
  } catch (err) {
    throw new EdgemarkError(o.code, `${o.prefix} ${source}: not valid YAML: ${(err as Error).message.split('\n')[0]}`, 'fix the YAML syntax', { cause: err });
  }
}

export interface FieldFixOptions {
  /** The document's kind ("LoadTest"). */
  kind: string;
  /** The simplest built-in document, named in the fix ("profiles/density.yaml"). */
  example: string;
  /** Where the built-in documents live, in words ("profiles in profiles/"). */
  builtins: string;
  /** A fix for a field of this kind of document, if it has one. */
  field?: (path: string) => string | undefined;
}

/** What to do about a schema error at `path` (dotted), given the validator's message. */
export function fixForField(path: string, message: string, o: FieldFixOptions): string {
  if (path === 'apiVersion') return `set apiVersion: ${API_VERSION}`;
  if (path === 'kind') return `set kind: ${o.kind}`;
  const special = o.field?.(path);
  if (special) return special;
  const unknown = /Unrecognized keys?:? ?(.*)/i.exec(message);
  if (unknown) return `remove ${unknown[1] || 'the field'}, or check its spelling against ${o.example}`;
  return `compare with the built-in ${o.builtins} (${o.example} is the simplest)`;
}
