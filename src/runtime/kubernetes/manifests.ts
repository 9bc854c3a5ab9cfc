/**
 * A fleet plan as Kubernetes objects on the external cluster: pods of K
 * hollow nodes each, as a StatefulSet, so that pod o always holds nodes
 * o*K..o*K+K-1 (its ordinal gives its nodes their names, and a restarted pod
 * brings back the same nodes); the plan in a ConfigMap; the join token in a
 * Secret; a headless Service for the pods' names and metrics. Pure: the same
 * settings give the same objects (the Helm chart renders these too, and a
 * test compares them).
 */
import { EdgemarkError } from '../../core/errors.js';
import { type FleetPlan, planNodeCount } from '../plan.js';
import type { Credentials } from '../runtime.js';

/** Where and how the runner pods run: settings of the runtime, not of the plan. */
export interface PodSettings {
  /** Objects are named <name>-runner, <name>-plan, <name>-token. */
  name: string;
  namespace: string;
  image: string;
  imagePullPolicy: 'Never' | 'IfNotPresent' | 'Always';
  nodesPerPod: number;
  /**
   * The pods share their node's network. Needed where the cluster under test
   * listens on the node's loopback (one machine); each pod then serves on its
   * own port, PORT + ordinal, and its probes are exec probes.
   */
  hostNetwork: boolean;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /** Per pod; derived from the nodes per pod when not given. */
  resources?: Resources;
  /** The runner's port (metrics, health, summary); PORT + ordinal with hostNetwork. */
  port: number;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export const RUNNER_PORT = 9400;
/** The pod's paths: the plan and runner settings (ConfigMap), the token (Secret), the store (a volume). */
export const POD_PATHS = {
  config: '/etc/edgemark',
  token: '/var/run/edgemark',
  data: '/var/lib/edgemark',
} as const;

/**
 * Measured in bench/density (2026-12-02, 1,000 nodes with 10 pods each): 377
 * KiB RSS and 0.093 millicores steady per node, on a base of about 60 MiB for
 * the Node process. A join costs a few ms of CPU, which a limit only slows.
 */
export const COST = { baseMiB: 80, perNodeKiB: 400, baseMillicores: 50, perNodeMillicores: 0.2 } as const;
/** Nodes per pod by default: 500 nodes cost about 280 MiB, well inside a pod's open-file limit. */
export const DEFAULT_NODES_PER_POD = 500;

/** Requests from the measured cost of K nodes; limits at twice the memory and a core or more of CPU. */
export function resourcesFor(nodesPerPod: number): Resources {
  const memMiB = Math.ceil(COST.baseMiB + (nodesPerPod * COST.perNodeKiB) / 1024);
  const cpuM = Math.ceil(COST.baseMillicores + nodesPerPod * COST.perNodeMillicores);
  return {
    requests: { cpu: `${cpuM}m`, memory: `${memMiB}Mi` },
    limits: { cpu: `${Math.max(1000, cpuM * 4)}m`, memory: `${memMiB * 2}Mi` },
  };
}

/** kubemark's hollow nodes tolerate their host being unreachable or not ready: a sick external node must not evict a fleet. */
export const DEFAULT_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
];

/**
 * Never on an edge node, hollow or real (KubeEdge's role label): where the
 * external cluster is also the cluster under test, a runner pod must not be
 * scheduled onto a hollow node of its own fleet.
 */
export const NOT_ON_EDGE_NODES = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key: 'node-role.kubernetes.io/edge', operator: 'DoesNotExist' }] }],
    },
  },
};

const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };

/** Where and as whom a pod of the fleet runs (runner pods and the setup Job alike): network, identity, node choice. */
function placement(s: PodSettings): Record<string, unknown> {
  return {
    hostNetwork: s.hostNetwork,
    dnsPolicy: s.hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 },
    ...(Object.keys(s.nodeSelector).length ? { nodeSelector: s.nodeSelector } : {}),
    affinity: NOT_ON_EDGE_NODES,
    tolerations: [...DEFAULT_TOLERATIONS, ...s.tolerations],
  };
}

export function labelsOf(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'edgemark', 'app.kubernetes.io/instance': name, 'app.kubernetes.io/component': 'runner' };
}

/** The fleet Secret's keys beside `token`: what kubelet nodes authenticate with. */
export const SECRET_KEYS = { bootstrapToken: 'bootstrap-token', nodeIdentity: 'node-identity.json' } as const;

export const objectNames = (name: string) => ({ statefulSet: `${name}-runner`, service: `${name}-runner`, plan: `${name}-plan`, token: `${name}-token` });

/** Pods for a plan: its node count must divide into pods of K; the error prints the plan's numbers. */
export function podCount(plan: FleetPlan, nodesPerPod: number): number {
  const n = planNodeCount(plan);
  if (n % nodesPerPod !== 0) {
    const down = Math.floor(n / nodesPerPod) * nodesPerPod;
    const up = down + nodesPerPod;
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[fleet] ${n} nodes do not divide into pods of ${nodesPerPod}: plan ${plan.groups.map((g) => `${g.name} ${g.count} x ${g.kind} (${g.prefix}0..)`).join(', ')}; ${Math.floor(n / nodesPerPod)} full pods and one of ${n % nodesPerPod}`,
      `ask for a multiple of ${nodesPerPod} (${down > 0 ? `${down} or ` : ''}${up}), or pass --nodes-per-pod K with K dividing ${n}`,
    );
  }
  return n / nodesPerPod;
}

/** What a runner pod reads beside the plan (runner.json in the ConfigMap). */
export interface RunnerSettings {
  nodesPerPod: number;
  port: number;
  /** Serve on port + ordinal (hostNetwork: the pods share an address). */
  portPerOrdinal: boolean;
}

export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;

/** The plan as the pods run it: their store on the pod's volume, no metrics server of the plan's own (the runner serves one), one line per node event. */
export function podPlan(plan: FleetPlan): FleetPlan {
  const { slice: _slice, ...rest } = plan;
  return { ...rest, dataDir: POD_PATHS.data, observe: { ...plan.observe, metrics: false, nodeLog: true } };
}

/** The probe of a hostNetwork pod: the runner at the pod's address, on port + ordinal. */
function execProbe(path: string, port: number): string[] {
  const script =
    `const o=Number(process.env.POD_NAME.split('-').pop());` +
    `require('http').get({host:process.env.POD_IP,port:${port}+o,path:'${path}',timeout:9000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;
  return ['/usr/local/bin/node', '-e', script];
}

/**
 * Every object of a fleet but the namespace, in the order they are applied.
 * `secrets` are the Secret's values (the join token, and the kubelet nodes'
 * bootstrap token or shared identity); pass placeholders for a dry run.
 */
export function fleetObjects(plan: FleetPlan, s: PodSettings, secrets: Credentials): KubeObject[] {
  if (secrets.nodeKubeconfig && 'dir' in secrets.nodeKubeconfig) {
    throw new EdgemarkError(
      'EM_BAD_FLAG',
      `[fleet] --node-kubeconfig ${secrets.nodeKubeconfig.dir} is a directory: runner pods cannot read this machine's files`,
      'give one kubeconfig all nodes share (it goes into the fleet Secret), or let each node bootstrap its identity (leave --node-kubeconfig out)',
    );
  }
  const shared = secrets.nodeKubeconfig && 'shared' in secrets.nodeKubeconfig ? secrets.nodeKubeconfig : undefined;
  const secretData: Record<string, string> = {
    token: secrets.token,
    ...(secrets.bootstrapToken ? { [SECRET_KEYS.bootstrapToken]: secrets.bootstrapToken } : {}),
    ...(shared ? { [SECRET_KEYS.nodeIdentity]: JSON.stringify(shared) } : {}),
  };
  const replicas = podCount(plan, s.nodesPerPod);
  const names = objectNames(s.name);
  const labels = labelsOf(s.name);
  const meta = (name: string) => ({ name, namespace: s.namespace, labels });
  const runner: RunnerSettings = { nodesPerPod: s.nodesPerPod, port: s.port, portPerOrdinal: s.hostNetwork };
  const resources = s.resources ?? resourcesFor(s.nodesPerPod);
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    ...(s.hostNetwork ? { exec: { command: execProbe(path, s.port) } } : { httpGet: { path, port: 'runner' } }),
    periodSeconds,
    timeoutSeconds: 10,
    failureThreshold,
  });
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: meta(names.token), type: 'Opaque', stringData: secretData },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(names.plan),
      data: { 'plan.json': `${JSON.stringify(podPlan(plan), null, 2)}\n`, 'runner.json': `${JSON.stringify(runner)}\n` },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(names.service),
      spec: { clusterIP: 'None', selector: labels, ports: [{ name: 'runner', port: s.port, targetPort: 'runner' }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: meta(names.statefulSet),
      spec: {
        replicas,
        serviceName: names.service,
        // Pods start together: a pod's nodes do not wait for the pods before it.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels,
            annotations: {
              'prometheus.io/scrape': 'true',
              'prometheus.io/port': String(s.port),
              'prometheus.io/path': '/metrics',
            },
          },
          spec: {
            ...placement(s),
            enableServiceLinks: false,
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'runner',
                image: s.image,
                imagePullPolicy: s.imagePullPolicy,
                args: [
                  'fleet',
                  'runner',
                  '--plan',
                  `${POD_PATHS.config}/plan.json`,
                  '--runner',
                  `${POD_PATHS.config}/runner.json`,
                  '--token-file',
                  `${POD_PATHS.token}/token`,
                  ...(secrets.bootstrapToken ? ['--bootstrap-token-file', `${POD_PATHS.token}/${SECRET_KEYS.bootstrapToken}`] : []),
                  ...(shared ? ['--node-identity-file', `${POD_PATHS.token}/${SECRET_KEYS.nodeIdentity}`] : []),
                ],
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                ],
                ports: s.hostNetwork ? [] : [{ name: 'runner', containerPort: s.port }],
                resources,
                // Ready: every node of the pod is Ready. Live: its event loop answers.
                // Periods kept long: on the host network they are exec probes, a process each.
                // Liveness is patient (2 minutes): a runner restarted under load rejoins all its
                // nodes, which adds the very load that made its probe late.
                readinessProbe: probe('/readyz', 10, 1),
                livenessProbe: probe('/healthz', 30, 4),
                securityContext: CONTAINER_SECURITY,
                volumeMounts: [
                  { name: 'config', mountPath: POD_PATHS.config, readOnly: true },
                  { name: 'token', mountPath: POD_PATHS.token, readOnly: true },
                  { name: 'data', mountPath: POD_PATHS.data },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'config', configMap: { name: names.plan } },
              { name: 'token', secret: { secretName: names.token, defaultMode: 0o440 } },
              // The store survives a container restart, not a pod deletion (see the README).
              { name: 'data', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
  ];
}

/**
 * The Job `fleet setup` runs: one pod like a runner pod (same image, network
 * and node selection), running `edgemark fleet probe` against the plan's
 * target with the fleet's token Secret.
 */
export function probeJob(plan: FleetPlan, s: PodSettings): KubeObject {
  const names = objectNames(s.name);
  const args = ['fleet', 'probe', '--token-file', `${POD_PATHS.token}/token`, '--cloudcore', plan.target.cloudcore.map((c) => c.websocket).join(',')];
  const https = plan.target.cloudcore.map((c) => c.https).join(',');
  if (https) args.push('--cloudcore-https', https);
  if (plan.target.apiserver) args.push('--apiserver', plan.target.apiserver);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${s.name}-setup`, namespace: s.namespace, labels: { ...labelsOf(s.name), 'app.kubernetes.io/component': 'setup' } },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: 120,
      ttlSecondsAfterFinished: 600,
      template: {
        metadata: { labels: { ...labelsOf(s.name), 'app.kubernetes.io/component': 'setup' } },
        spec: {
          restartPolicy: 'Never',
          ...placement(s),
          containers: [
            {
              name: 'probe',
              image: s.image,
              imagePullPolicy: s.imagePullPolicy,
              args,
              securityContext: CONTAINER_SECURITY,
              volumeMounts: [{ name: 'token', mountPath: POD_PATHS.token, readOnly: true }],
            },
          ],
          volumes: [{ name: 'token', secret: { secretName: names.token, defaultMode: 0o440 } }],
        },
      },
    },
  };
}
