/**
 * What a pod needs from the cloud before its containers can start, as the
 * kubelet finds it: ConfigMaps and Secrets in volumes (also projected), envFrom
 * and env valueFrom, and a service-account token per projected token source.
 * Pure: a pod spec in, a list out.
 */
export type DepKind = 'configmap' | 'secret' | 'token';

export interface PodDependency {
  kind: DepKind;
  /** Object name; for a token, the service account. */
  name: string;
  /** Where it is referenced: a volume blocks the mount, env blocks container config. */
  via: 'volume' | 'env';
  optional: boolean;
  audience?: string;
  expirationSeconds?: number;
}

interface KeyRef {
  name?: string;
  optional?: boolean;
}
interface EnvVar {
  valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef };
}
interface EnvFrom {
  configMapRef?: KeyRef;
  secretRef?: KeyRef;
}
interface Container {
  env?: EnvVar[];
  envFrom?: EnvFrom[];
}
interface Projection {
  configMap?: KeyRef;
  secret?: KeyRef;
  serviceAccountToken?: { audience?: string; expirationSeconds?: number };
}
interface Volume {
  configMap?: KeyRef;
  secret?: { secretName?: string; optional?: boolean };
  projected?: { sources?: Projection[] };
}
export interface PodSpecDeps {
  serviceAccountName?: string;
  containers?: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}

export function podDependencies(spec: PodSpecDeps): PodDependency[] {
  const out = new Map<string, PodDependency>();
  const add = (d: PodDependency) => {
    const key = `${d.kind}/${d.name}/${d.audience ?? ''}`;
    const prev = out.get(key);
    // Required anywhere wins over optional; env blocks harder than volume.
    if (!prev) out.set(key, d);
    else out.set(key, { ...prev, optional: prev.optional && d.optional, via: prev.via === 'env' || d.via === 'env' ? 'env' : 'volume' });
  };
  for (const v of spec.volumes ?? []) {
    if (v.configMap?.name) add({ kind: 'configmap', name: v.configMap.name, via: 'volume', optional: v.configMap.optional === true });
    if (v.secret?.secretName) add({ kind: 'secret', name: v.secret.secretName, via: 'volume', optional: v.secret.optional === true });
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap?.name) add({ kind: 'configmap', name: s.configMap.name, via: 'volume', optional: s.configMap.optional === true });
      if (s.secret?.name) add({ kind: 'secret', name: s.secret.name, via: 'volume', optional: s.secret.optional === true });
      if (s.serviceAccountToken) {
        add({
          kind: 'token',
          name: spec.serviceAccountName || 'default',
          via: 'volume',
          optional: false,
          ...(s.serviceAccountToken.audience ? { audience: s.serviceAccountToken.audience } : {}),
          expirationSeconds: s.serviceAccountToken.expirationSeconds ?? 3600,
        });
      }
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef?.name) add({ kind: 'configmap', name: f.configMapRef.name, via: 'env', optional: f.configMapRef.optional === true });
      if (f.secretRef?.name) add({ kind: 'secret', name: f.secretRef.name, via: 'env', optional: f.secretRef.optional === true });
    }
    for (const e of c.env ?? []) {
      const cm = e.valueFrom?.configMapKeyRef;
      const sec = e.valueFrom?.secretKeyRef;
      if (cm?.name) add({ kind: 'configmap', name: cm.name, via: 'env', optional: cm.optional === true });
      if (sec?.name) add({ kind: 'secret', name: sec.name, via: 'env', optional: sec.optional === true });
    }
  }
  return [...out.values()];
}

/** The resource string of a dependency's query. */
export function depResource(namespace: string, d: PodDependency): string {
  return d.kind === 'token' ? `${namespace}/serviceaccounttoken/${d.name}` : `${namespace}/${d.kind}/${d.name}`;
}

/** The container waiting state while `d` is missing, as the kubelet reports it. */
export function waitingFor(d: PodDependency): { reason: string; message?: string } {
  if (d.via === 'env' && d.kind !== 'token') return { reason: 'CreateContainerConfigError', message: `${d.kind} "${d.name}" not found` };
  return { reason: 'ContainerCreating' };
}
