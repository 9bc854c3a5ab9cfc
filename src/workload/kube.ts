/**
 * KubeOps over @kubernetes/client-node: the run's objects, labelled
 * edgemark.io/run=<run id>, built from one pod template (tolerates every
 * taint, scheduled only onto the run's own nodes, with the test's pod
 * lifecycle as an annotation).
 */
import { isConflict, isNotFound, k8s } from '../kube/client.js';
import type { DeploymentState, KubeOps, PodState } from './context.js';

export const RUN_LABEL = 'edgemark.io/run';

export interface KubeOpsOptions {
  runId: string;
  /** Pods follow this lifecycle of stages/ (annotation edgemark.io/lifecycle). */
  podLifecycle?: string | undefined;
  /** The pods' container port, served through the host (hostPort equal to it). */
  hostPort?: number | undefined;
}

export function createKubeOps(kc: k8s.KubeConfig, o: KubeOpsOptions): KubeOps {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const coord = kc.makeApiClient(k8s.CoordinationV1Api);
  const ofRun = { labelSelector: `${RUN_LABEL}=${o.runId}` };
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

  const podTemplate = (app: string): k8s.V1PodTemplateSpec & { spec: k8s.V1PodSpec } => ({
    metadata: { labels: { [RUN_LABEL]: o.runId, app }, ...(o.podLifecycle ? { annotations: { 'edgemark.io/lifecycle': o.podLifecycle } } : {}) },
    spec: {
      nodeSelector: { [RUN_LABEL]: o.runId },
      tolerations: [{ operator: 'Exists' }],
      containers: [
        {
          name: 'app',
          image: 'registry.invalid/edgemark/app:1',
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
          ...(o.hostPort ? { ports: [{ containerPort: o.hostPort, hostPort: o.hostPort, protocol: 'TCP' }] } : {}),
        },
      ],
    },
  });

  return {
    async createNamespace(name) {
      await core.createNamespace({ body: { metadata: { name, labels: { [RUN_LABEL]: o.runId } } } });
    },
    async deleteNamespace(name) {
      await core.deleteNamespace({ name }).catch(goneAlready);
    },
    async hasDefaultServiceAccount(namespace) {
      return core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
        () => true,
        () => false,
      );
    },
    async createDeployment(namespace, name, replicas) {
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name, labels: { [RUN_LABEL]: o.runId } },
          spec: { replicas, selector: { matchLabels: { [RUN_LABEL]: o.runId, app: name } }, template: podTemplate(name) },
        },
      });
    },
    async listDeployments(): Promise<DeploymentState[]> {
      return (await apps.listDeploymentForAllNamespaces(ofRun)).items.map((d) => ({
        namespace: d.metadata?.namespace ?? '',
        name: d.metadata?.name ?? '',
        replicas: d.spec?.replicas ?? 0,
        current: d.status?.replicas ?? 0,
        available: d.status?.availableReplicas ?? 0,
      }));
    },
    async scaleDeployment(namespace, name, replicas) {
      await apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas } } }, mergePatch);
    },
    async deleteDeployment(namespace, name) {
      await apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Foreground' }).catch(goneAlready);
    },
    async createPod(namespace, name, app) {
      const t = podTemplate(app);
      await core.createNamespacedPod({ namespace, body: { metadata: { ...t.metadata, name }, spec: t.spec } });
    },
    async listPods(): Promise<PodState[]> {
      return (await core.listPodForAllNamespaces(ofRun)).items.map((p) => ({
        namespace: p.metadata?.namespace ?? '',
        name: p.metadata?.name ?? '',
        phase: p.status?.phase,
      }));
    },
    async deletePod(namespace, name) {
      await core.deleteNamespacedPod({ name, namespace }).catch(goneAlready);
    },
    async listNodes() {
      return (await core.listNode(ofRun)).items.map((n) => n.metadata?.name ?? '').filter((n) => n !== '');
    },
    async deleteNode(name) {
      await core.deleteNode({ name }).catch(goneAlready);
    },
    async deleteNodeLease(name) {
      await coord.deleteNamespacedLease({ name, namespace: 'kube-node-lease' }).catch(goneAlready);
    },
  };
}

/** NotFound and Conflict on a delete: someone (the garbage collector, a finished foreground deletion) was first. */
function goneAlready(err: unknown): void {
  if (!isNotFound(err) && !isConflict(err)) throw err;
}
