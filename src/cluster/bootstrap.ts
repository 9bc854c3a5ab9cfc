/**
 * Objects the cluster needs before CloudCore starts: RBAC for CloudCore's own
 * identity and KubeEdge's CRDs from the module's build/crds, Established.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { apiStatus, k8s, waitFor } from '../kube/client.js';

export function listCrdFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...listCrdFiles(p));
    else if (/\.ya?ml$/.test(entry)) out.push(p);
  }
  return out;
}

export function readCrds(dir: string): k8s.V1CustomResourceDefinition[] {
  const out: k8s.V1CustomResourceDefinition[] = [];
  for (const file of listCrdFiles(dir)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const obj = doc.toJS() as k8s.V1CustomResourceDefinition | null;
      if (obj?.kind === 'CustomResourceDefinition') out.push(obj);
    }
  }
  return out;
}

/** Creates or replaces every CRD and waits until all are Established. */
export async function applyCrds(kc: k8s.KubeConfig, dir: string, signal?: AbortSignal): Promise<number> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crds = readCrds(dir);
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    try {
      await api.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if (apiStatus(err) !== 409) throw err;
      const live = await api.readCustomResourceDefinition({ name });
      await api.replaceCustomResourceDefinition({
        name,
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: live.metadata?.resourceVersion } },
      });
    }
  }
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    await waitFor(
      `CRD ${name} to be Established`,
      async () => {
        const live = await api.readCustomResourceDefinition({ name });
        return live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs: 30_000, signal },
    );
  }
  return crds.length;
}

/**
 * API Priority and Fairness puts a client-certificate user in the small
 * `global-default` priority level, where CloudCore's requests (every edge
 * node's lease, status and queries pass through it) queue and are rejected
 * with 429 under load. In production CloudCore runs as the service account
 * kubeedge/cloudcore, which the `service-accounts` FlowSchema sends to
 * `workload-low`; this FlowSchema gives our CloudCore user the same level.
 */
export async function ensureCloudcoreFlowSchema(kc: k8s.KubeConfig, user: string): Promise<void> {
  const fc = kc.makeApiClient(k8s.FlowcontrolApiserverV1Api);
  const body: k8s.V1FlowSchema = {
    metadata: { name: 'edgemark-cloudcore' },
    spec: {
      priorityLevelConfiguration: { name: 'workload-low' },
      matchingPrecedence: 1000,
      distinguisherMethod: { type: 'ByUser' },
      rules: [
        {
          subjects: [{ kind: 'User', user: { name: user } }],
          resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }],
          nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
        },
      ],
    },
  };
  try {
    await fc.createFlowSchema({ body });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}

/** CloudCore runs as its own user, bound to cluster-admin: it reads and writes
 * nodes, pods, leases, secrets, configmaps and its CRDs across namespaces. */
export async function ensureCloudcoreRbac(kc: k8s.KubeConfig, user: string): Promise<void> {
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const body: k8s.V1ClusterRoleBinding = {
    metadata: { name: 'edgemark:cloudcore' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  };
  try {
    await rbac.createClusterRoleBinding({ body });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}
