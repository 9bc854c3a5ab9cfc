/**
 * The files a worker node's kubelet and containerd read: containerd's TOML, the
 * CNI network list, the KubeletConfiguration, and the kubelet's arguments.
 * Pure: every path comes in, text goes out.
 */
import { stringify } from 'yaml';
import type { WorkerLayout, WorkerPaths } from './layout.js';
import { WORKER_LABEL } from './layout.js';

/** Where Debian's packages put what the worker runs (dpkg -L containerd runc containernetworking-plugins). */
export const debianPaths = {
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  shim: '/usr/bin/containerd-shim-runc-v2',
  runc: '/usr/sbin/runc',
  cniBinDir: '/usr/lib/cni',
  cniPlugins: ['bridge', 'host-local', 'portmap', 'loopback'],
} as const;

export const workerPackages = ['containerd', 'runc', 'containernetworking-plugins'] as const;

const q = (s: string) => JSON.stringify(s);

export interface ContainerdConfigOptions {
  paths: WorkerPaths;
  sandboxImage: string;
}

/**
 * containerd 1.6 (config version 2), private to one worker: root, state,
 * sockets, runc's state and the CNI configuration all under the worker's
 * directory, so it never meets a system containerd. The CRI plugin must
 * restrict oom_score_adj (the machine lacks CAP_SYS_RESOURCE); pod network
 * namespaces are mounted under its state directory, not /run/netns.
 */
export function renderContainerdConfig(o: ContainerdConfigOptions): string {
  const p = o.paths;
  const cri = '[plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${q(p.containerdRoot)}`,
    `state = ${q(p.containerdState)}`,
    '',
    '[grpc]',
    `  address = ${q(p.socket)}`,
    '',
    '[ttrpc]',
    `  address = ${q(`${p.socket}.ttrpc`)}`,
    '',
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(p.containerdOpt)}`,
    '',
    `${cri}]`,
    `  sandbox_image = ${q(o.sandboxImage)}`,
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '',
    `${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '',
    `${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
    `${cri}.containerd.runtimes.runc.options]`,
    `  BinaryName = ${q(debianPaths.runc)}`,
    `  Root = ${q(p.runcRoot)}`,
    '  SystemdCgroup = false',
    '',
    `${cri}.cni]`,
    `  bin_dir = ${q(debianPaths.cniBinDir)}`,
    `  conf_dir = ${q(p.cniConfDir)}`,
    '  max_conf_num = 1',
    '',
  ].join('\n');
}

/**
 * bridge (with host-local addresses) and portmap. containerd's CRI plugin runs
 * the loopback plugin itself for every pod (from the same bin_dir), so it is
 * not chained here. host-local keeps its reservations under the worker's
 * directory, not /var/lib/cni. The bridge and its gateway address are made by
 * `up` (host.ts): in gateway mode the plugin would also set the machine's
 * net.ipv4.ip_forward. Pods still get their default route to that address
 * (host-local's gateway); no ipMasq: pods reach each other and the node only.
 */
export function renderCniConflist(l: Pick<WorkerLayout, 'network' | 'bridge' | 'podSubnet'>, paths: Pick<WorkerPaths, 'cniIpamDir'>): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: l.network,
      plugins: [
        {
          type: 'bridge',
          bridge: l.bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: l.podSubnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: paths.cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletConfigOptions {
  layout: Pick<WorkerLayout, 'hostIp' | 'cgroupRoot'>;
  paths: WorkerPaths;
  ports: { kubelet: number; kubeletHealthz: number };
  caCert: string;
  servingCert: string;
  servingKey: string;
}

/**
 * A KubeletConfiguration for one node on a shared machine. Authentication by
 * the cluster CA's client certificates (kube-apiserver's kubelet client is one)
 * and Webhook authorization: the kubelet asks the apiserver (a
 * SubjectAccessReview, which the Node authorizer lets every node create), as
 * kubeadm clusters do, rather than allowing every caller. cgroupfs with pods
 * under the worker's own cgroup root, so two clusters' kubelets never share
 * `/kubepods`. The kubelet's iptables chains are off (nothing here needs them,
 * and they would outlive it); images stay until `down` (no image GC).
 */
export function renderKubeletConfig(o: KubeletConfigOptions): string {
  const p = o.paths;
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: o.layout.hostIp,
    port: o.ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: o.ports.kubeletHealthz,
    tlsCertFile: o.servingCert,
    tlsPrivateKeyFile: o.servingKey,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: o.caCert },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${p.socket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: o.layout.cgroupRoot,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    failSwapOn: false,
    makeIPTablesUtilChains: false,
    podLogsDir: p.podLogs,
    volumePluginDir: p.volumePlugins,
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    clusterDomain: 'cluster.local',
    resolvConf: '/etc/resolv.conf',
    maxPods: 110,
    serializeImagePulls: false,
    registerNode: true,
  });
}

export function kubeletArgs(o: { name: string; hostIp: string; paths: WorkerPaths }): string[] {
  return [
    `--config=${o.paths.kubeletConfig}`,
    `--kubeconfig=${o.paths.kubeconfig}`,
    `--root-dir=${o.paths.kubeletRoot}`,
    `--cert-dir=${o.paths.pki}`,
    `--hostname-override=${o.name}`,
    `--node-ip=${o.hostIp}`,
    `--node-labels=${WORKER_LABEL}=true`,
    '--v=2',
  ];
}

/**
 * What the kubelet sets at start (pkg/kubelet/cm/container_manager_linux.go,
 * setupKernelTunables, Kubernetes 1.32) unless the value is already there. None
 * of these is per network namespace, so the worker shows the kubelet these
 * values by bind mounts in its private mount namespace instead of changing the
 * machine's.
 */
export const kubeletSysctls: Record<string, number> = {
  'vm/overcommit_memory': 1,
  'vm/panic_on_oom': 0,
  'kernel/panic': 10,
  'kernel/panic_on_oops': 1,
  'kernel/keys/root_maxkeys': 1_000_000,
  'kernel/keys/root_maxbytes': 25_000_000,
};

/** POSIX shell single quoting. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The shell script run by `unshare --mount --propagation private` that starts
 * containerd: bind each masked sysctl file (kernel value differs from what the
 * kubelet wants) over /proc/sys, then exec containerd. The kubelet later joins
 * this mount namespace, and every mount the two make (snapshots, pod volumes,
 * network namespace files) lives and dies with it.
 */
export function containerdLauncher(o: { masks: { file: string; sysctl: string }[]; config: string }): string {
  const lines = o.masks.map((m) => `mount --bind ${shellQuote(m.file)} ${shellQuote(`/proc/sys/${m.sysctl}`)}`);
  lines.push(`exec ${shellQuote(debianPaths.containerd)} --config ${shellQuote(o.config)}`);
  return lines.join('\n');
}
