/**
 * What a pod object must look like before a node takes it: the fields the
 * node reads, of the types it reads them as. The API server never sends
 * anything else, but a node fed a malformed object (a fuzzed frame, a store
 * written by an older runner) refuses it with the field named, rather than
 * throwing in the middle of admission, a timer or a restart.
 */
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optStr = (v: unknown) => v === undefined || v === null || typeof v === 'string';
const optList = (v: unknown) => v === undefined || v === null || Array.isArray(v);

function listOfObjects(v: unknown, path: string): string | undefined {
  if (!optList(v)) return `${path} is not a list`;
  for (const [i, x] of ((v as unknown[] | null) ?? []).entries()) if (!isObj(x)) return `${path}[${i}] is not an object`;
  return undefined;
}

function quantities(v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) return `${path} is not a map`;
  for (const [k, q] of Object.entries(v)) if (typeof q !== 'string' && typeof q !== 'number') return `${path}.${k} is not a quantity`;
  return undefined;
}

function container(c: Record<string, unknown>, path: string): string | undefined {
  if (!optStr(c.name)) return `${path}.name is not a string`;
  if (!optStr(c.image)) return `${path}.image is not a string`;
  for (const k of ['env', 'envFrom', 'ports', 'volumeMounts'] as const) {
    const bad = listOfObjects(c[k], `${path}.${k}`);
    if (bad) return bad;
  }
  const r = c.resources;
  if (r !== undefined && r !== null) {
    if (!isObj(r)) return `${path}.resources is not an object`;
    for (const k of ['requests', 'limits'] as const) {
      const bad = quantities(r[k], `${path}.resources.${k}`);
      if (bad) return bad;
    }
  }
  return undefined;
}

/** Why this pod cannot be taken (a field and what is wrong with it), or undefined when it can. */
export function podShapeProblem(pod: unknown): string | undefined {
  if (!isObj(pod)) return 'the pod is not an object';
  const m = pod.metadata;
  if (!isObj(m)) return 'metadata is not an object';
  for (const k of ['uid', 'name', 'namespace'] as const) if (typeof m[k] !== 'string') return `metadata.${k} is not a string`;
  if (m.labels !== undefined && m.labels !== null && !isObj(m.labels)) return 'metadata.labels is not a map';
  if (m.annotations !== undefined && m.annotations !== null && !isObj(m.annotations)) return 'metadata.annotations is not a map';
  const owners = listOfObjects(m.ownerReferences, 'metadata.ownerReferences');
  if (owners) return owners;
  const spec = pod.spec;
  if (!isObj(spec)) return 'spec is not an object';
  if (!optStr(spec.nodeName)) return 'spec.nodeName is not a string';
  for (const k of ['containers', 'initContainers'] as const) {
    const bad = listOfObjects(spec[k], `spec.${k}`);
    if (bad) return bad;
    for (const [i, c] of ((spec[k] as Record<string, unknown>[] | undefined) ?? []).entries()) {
      const why = container(c, `spec.${k}[${i}]`);
      if (why) return why;
    }
  }
  const vols = listOfObjects(spec.volumes, 'spec.volumes');
  if (vols) return vols;
  for (const [i, v] of ((spec.volumes as Record<string, unknown>[] | undefined) ?? []).entries()) {
    const p = v.projected;
    if (p !== undefined && p !== null && (!isObj(p) || !optList(p.sources))) return `spec.volumes[${i}].projected.sources is not a list`;
    if (isObj(p)) {
      const bad = listOfObjects(p.sources, `spec.volumes[${i}].projected.sources`);
      if (bad) return bad;
    }
  }
  return undefined;
}
