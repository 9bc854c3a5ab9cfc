/**
 * The components of the local control plane as data: binary, arguments,
 * ports and health probe. Every server binds loopback. The orchestration in
 * cluster.ts reads this table; beyond it, it knows two things by name:
 * kube-controller-manager and kube-scheduler start together (both need only
 * the apiserver), and CloudCore needs its RBAC, flow schema and CRDs first.
 * With `--cloudcores N` the table ends with N CloudCore instances, each with
 * its own ports, config file and log.
 */
import { join } from 'node:path';
import { AUDIT_POLICY, auditArgs } from './configs.js';
import type { ToolsetName } from './pins.js';
import type { PkiPaths } from './pki.js';
import type { PortMap, PortName } from './ports.js';
import { cloudcorePortNames, LOOPBACK } from './ports.js';
import { cloudcoreNames, type ComponentName } from './state.js';

export interface ComponentContext {
  stateDir: string;
  ports: PortMap;
  pki: PkiPaths;
  /** Binary directory of each toolset. */
  bin: Record<ToolsetName, string>;
  kubeconfig: (id: string) => string;
  configFile: (name: string) => string;
  /** kube-apiserver writes an audit log (config AUDIT_POLICY, logs/audit.log). */
  audit: boolean;
  /** edgesite: a small master inside an envelope (smaller in-flight limits). */
  profile?: 'default' | 'edgesite';
}

export type HealthProbe =
  /** Plain HTTP GET on loopback; healthy on 200. */
  | { kind: 'http'; port: PortName; path: string }
  /** HTTPS GET; `client` authenticates with that identity's certificate. */
  | { kind: 'https'; port: PortName; path: string; client?: string; verify: 'cluster-ca' | 'none' }
  /** CloudCore: its certificate server (on `https`) answers and its join token exists. */
  | { kind: 'cloudcore'; https: PortName };

export interface ComponentSpec {
  name: ComponentName;
  toolset: ToolsetName;
  binary: string;
  ports: PortName[];
  args(ctx: ComponentContext): string[];
  health: HealthProbe;
  /** Time allowed from start to healthy. */
  startTimeoutMs: number;
}

const url = (port: number, scheme = 'http') => `${scheme}://${LOOPBACK}:${port}`;

const controlPlane: ComponentSpec[] = [
  {
    name: 'etcd',
    toolset: 'etcd',
    binary: 'etcd',
    ports: ['etcdClient', 'etcdPeer', 'etcdMetrics'],
    args: ({ stateDir, ports }) => [
      '--name=edgemark',
      `--data-dir=${join(stateDir, 'data', 'etcd')}`,
      `--listen-client-urls=${url(ports.etcdClient)}`,
      `--advertise-client-urls=${url(ports.etcdClient)}`,
      `--listen-peer-urls=${url(ports.etcdPeer)}`,
      `--initial-advertise-peer-urls=${url(ports.etcdPeer)}`,
      `--initial-cluster=edgemark=${url(ports.etcdPeer)}`,
      `--listen-metrics-urls=${url(ports.etcdMetrics)}`,
      // A test bed, not a database of record: skip fsync and keep etcd small.
      '--unsafe-no-fsync',
      '--quota-backend-bytes=8589934592',
      '--auto-compaction-mode=periodic',
      '--auto-compaction-retention=5m',
      '--snapshot-count=10000',
      '--log-level=warn',
    ],
    health: { kind: 'http', port: 'etcdClient', path: '/health' },
    startTimeoutMs: 20_000,
  },
  {
    name: 'kube-apiserver',
    toolset: 'kubernetes',
    binary: 'kube-apiserver',
    ports: ['apiserver'],
    args: ({ ports, pki, audit, configFile, stateDir, profile }) => [
      `--etcd-servers=${url(ports.etcdClient)}`,
      `--bind-address=${LOOPBACK}`,
      `--secure-port=${ports.apiserver}`,
      // With a loopback bind the apiserver cannot pick an advertise address;
      // a loopback one is refused by the endpoint reconciler, so turn that off.
      `--advertise-address=${LOOPBACK}`,
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      // Hollow kubelet nodes join as kubelets do: a bootstrap token, then a CSR.
      '--enable-bootstrap-token-auth=true',
      ...(audit ? auditArgs(configFile(AUDIT_POLICY), join(stateDir, 'logs', 'audit.log')) : []),
      // Logs, exec and the node proxy reach a worker's kubelet at its node
      // address (never a hostname nobody resolves), as this client, and check
      // the kubelet's serving certificate against the cluster CA.
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      `--kubelet-certificate-authority=${pki.caCert}`,
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      // Kubernetes' own 5,000-node scale tests raise these (defaults 400/200):
      // APF shares the seats out by priority level, and CloudCore, carrying
      // every edge node's traffic, otherwise gets 429s from a full queue. An
      // EdgeSite master keeps the defaults, sized for a small master.
      ...(profile === 'edgesite'
        ? ['--max-requests-inflight=400', '--max-mutating-requests-inflight=200']
        : ['--max-requests-inflight=3000', '--max-mutating-requests-inflight=1000']),
      '--profiling=true',
      '--v=1',
    ],
    health: { kind: 'https', port: 'apiserver', path: '/readyz', client: 'admin', verify: 'cluster-ca' },
    startTimeoutMs: 60_000,
  },
  {
    name: 'kube-controller-manager',
    toolset: 'kubernetes',
    binary: 'kube-controller-manager',
    ports: ['controllerManager'],
    args: ({ ports, pki, kubeconfig }) => {
      const kc = kubeconfig('kube-controller-manager');
      return [
        `--kubeconfig=${kc}`,
        `--authentication-kubeconfig=${kc}`,
        `--authorization-kubeconfig=${kc}`,
        `--bind-address=${LOOPBACK}`,
        `--secure-port=${ports.controllerManager}`,
        '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        // bootstrapsigner and tokencleaner are off by default: kubeadm turns them on, and so do we.
        '--controllers=*,bootstrapsigner,tokencleaner',
        `--root-ca-file=${pki.caCert}`,
        `--service-account-private-key-file=${pki.saKey}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        // Density tests create pods faster than the default 20 QPS allows.
        '--kube-api-qps=100',
        '--kube-api-burst=200',
        '--node-monitor-period=5s',
        '--node-monitor-grace-period=40s',
        '--v=1',
      ];
    },
    health: { kind: 'https', port: 'controllerManager', path: '/healthz', verify: 'none' },
    startTimeoutMs: 45_000,
  },
  {
    name: 'kube-scheduler',
    toolset: 'kubernetes',
    binary: 'kube-scheduler',
    ports: ['scheduler'],
    args: ({ ports, kubeconfig, configFile }) => {
      const kc = kubeconfig('kube-scheduler');
      return [
        `--config=${configFile('kube-scheduler.yaml')}`,
        `--authentication-kubeconfig=${kc}`,
        `--authorization-kubeconfig=${kc}`,
        `--bind-address=${LOOPBACK}`,
        `--secure-port=${ports.scheduler}`,
        '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics',
        '--v=1',
      ];
    },
    health: { kind: 'https', port: 'scheduler', path: '/healthz', verify: 'none' },
    startTimeoutMs: 45_000,
  },
];

/** CloudCore's config file name for instance `instance` (0-based). */
export const cloudcoreConfigName = (instance: number): string => (instance === 0 ? 'cloudcore.yaml' : `cloudcore-${instance}.yaml`);

/**
 * CloudCore instance `instance`. Instances share nothing on this machine but
 * the binary: each has its own ports, config file (cloudcore-1.yaml...) and
 * log; against the apiserver they share the CA, the join token secret and the
 * reliable-sync objects, as KubeEdge's HA deployment does.
 */
export function cloudcoreSpec(instance: number): ComponentSpec {
  const ports = cloudcorePortNames(instance);
  return {
    name: cloudcoreNames[instance]!,
    toolset: 'kubeedge',
    binary: 'cloudcore',
    ports: [ports.cloudhubWebsocket, ports.cloudhubHttps, ports.cloudcoreMetrics],
    args: ({ configFile }) => [`--config=${configFile(cloudcoreConfigName(instance))}`, '--v=2'],
    health: { kind: 'cloudcore', https: ports.cloudhubHttps },
    startTimeoutMs: 60_000,
  };
}

/** Every component of a cluster with `cloudcores` CloudCore instances, in start order. */
export function components(cloudcores = 1): ComponentSpec[] {
  // An EdgeSite runs no CloudCore: its worker nodes talk to kube-apiserver.
  return [...controlPlane, ...Array.from({ length: cloudcores }, (_, i) => cloudcoreSpec(i))];
}
