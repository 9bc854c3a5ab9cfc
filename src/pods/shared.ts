/**
 * What a pod record keeps of its Pod: the containers' name, image and
 * resources, the restart policy, and what the containers need from the cloud.
 * Pods of one Deployment are alike, so each distinct value is kept once per
 * runner process and shared, frozen, by every pod that has it: a node's pods
 * cost a record each, not a copy of their spec.
 */
import type { ContainerSpec, PodSpecLite } from './podstatus.js';
import { podDependencies, type PodDependency, type PodSpecDeps } from './deps.js';

/** Distinct values kept; beyond that, new ones are not shared (a bound on a process's memory, not a cache that evicts). */
const MAX_SHARED = 10_000;
const specs = new Map<string, PodSpecLite>();
const depLists = new Map<string, readonly PodDependency[]>();

function share<T>(table: Map<string, T>, value: T): T {
  const key = JSON.stringify(value);
  const known = table.get(key);
  if (known) return known;
  if (table.size < MAX_SHARED) table.set(key, deepFreeze(value));
  return value;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function liteContainer(c: ContainerSpec): ContainerSpec {
  const r = c.resources;
  return {
    name: c.name,
    ...(c.image !== undefined ? { image: c.image } : {}),
    ...(r?.requests || r?.limits
      ? { resources: { ...(r.requests ? { requests: { ...r.requests } } : {}), ...(r.limits ? { limits: { ...r.limits } } : {}) } }
      : {}),
  };
}

/** The part of a pod spec a hollow node needs, shared with every pod that has the same. */
export function sharedSpec(spec: { containers?: ContainerSpec[]; initContainers?: ContainerSpec[]; restartPolicy?: string }): PodSpecLite {
  return share(specs, {
    containers: (spec.containers ?? []).map(liteContainer),
    ...(spec.initContainers?.length ? { initContainers: spec.initContainers.map(liteContainer) } : {}),
    ...(spec.restartPolicy !== undefined ? { restartPolicy: spec.restartPolicy } : {}),
  });
}

/** What the pod's containers need from the cloud (ConfigMaps, Secrets, tokens), shared likewise. */
export function sharedDependencies(spec: PodSpecDeps): readonly PodDependency[] {
  return share(depLists, podDependencies(spec));
}
