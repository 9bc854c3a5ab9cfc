/**
 * Where a worker node of the local cluster lives, derived from the state
 * directory alone: its node name, the names of its links and cgroup, its
 * addresses and its files. Pure, so two clusters on one machine can be shown
 * to get different names and addresses without starting anything.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

/** The most worker nodes one machine runs; see MAX_WORKERS_WHY. */
export const MAX_WORKERS = 1;
export const MAX_WORKERS_WHY =
  'each worker is a kubelet with its own containerd, and two kubelets on one machine would share its cgroups, kernel and disk, so their node figures would lie';

export const WORKER_LABEL = 'edgemark.io/worker';
export const WORKER_NODE_PREFIX = 'edgemark-worker-';

/** Private ranges the worker uses: one /30 per worker for the node address, one /24 for its pods. */
const LINK_BASE = ip4('10.201.0.0');
const LINK_SLOTS = 16_384;
const POD_BASE = ip4('10.202.0.0');
const POD_SLOTS = 256;

export interface WorkerLayout {
  index: number;
  /** The node's name in the cluster. */
  name: string;
  /** 8 hex digits from the state directory and index; every host-wide name carries it. */
  id: string;
  dir: string;
  netns: string;
  /** veth pair: the host end carries the node address, the other end sits in the netns. */
  vethHost: string;
  vethNode: string;
  /** The pods' bridge (the CNI bridge plugin creates it). */
  bridge: string;
  /** The CNI network name. */
  network: string;
  /** The cgroup (in every v1 hierarchy) the kubelet puts its pods under. */
  cgroupRoot: string;
  hostIp: string;
  nodeSideIp: string;
  linkPrefix: number;
  podSubnet: string;
}

export function workerNodeNameOf(index: number): string {
  return `${WORKER_NODE_PREFIX}${index}`;
}

function digest(stateDir: string, index: number): Buffer {
  return createHash('sha256')
    .update(`${resolve(stateDir)}#worker-${index}`)
    .digest();
}

/**
 * The layout of worker `index`. `used` holds the IPv4 networks already on this
 * machine (addresses and routes, CIDR text): a slot that overlaps one is
 * skipped, so a second cluster, or anything else, keeps its addresses.
 */
export function workerLayout(stateDir: string, index: number, used: readonly string[] = []): WorkerLayout {
  const h = digest(stateDir, index);
  const id = h.subarray(0, 4).toString('hex');
  const taken = used.map(parseCidr).filter((c): c is Cidr => c !== undefined);
  const link = freeSlot(LINK_BASE, 30, h.readUInt32BE(4) % LINK_SLOTS, LINK_SLOTS, taken);
  const pods = freeSlot(POD_BASE, 24, h.readUInt32BE(8) % POD_SLOTS, POD_SLOTS, taken);
  const dir = join(stateDir, `worker-${index}`);
  return {
    index,
    name: workerNodeNameOf(index),
    id,
    dir,
    netns: `em-${id}`,
    vethHost: `em${id}h`,
    vethNode: `em${id}n`,
    bridge: `em${id}b`,
    network: `edgemark-${id}`,
    cgroupRoot: `/edgemark-${id}`,
    hostIp: ip4Text(link + 1),
    nodeSideIp: ip4Text(link + 2),
    linkPrefix: 30,
    podSubnet: `${ip4Text(pods)}/24`,
  };
}

/** The pods' gateway (the bridge's address) in CIDR form: the first address of the pod subnet. */
export function podGateway(podSubnet: string): string {
  const c = parseCidr(podSubnet);
  if (!c) throw new Error(`not a CIDR: ${podSubnet}`);
  return `${ip4Text(c.base + 1)}/${c.prefix}`;
}

/** The files of a worker, all under its directory in the state directory. */
export function workerPaths(l: Pick<WorkerLayout, 'dir' | 'index'>, stateDir: string) {
  const d = l.dir;
  return {
    config: join(d, 'config'),
    containerdConfig: join(d, 'config', 'containerd.toml'),
    kubeletConfig: join(d, 'config', 'kubelet.yaml'),
    kubeconfig: join(d, 'config', 'kubelet.kubeconfig'),
    cniConfDir: join(d, 'cni', 'net.d'),
    cniIpamDir: join(d, 'cni', 'ipam'),
    containerdRoot: join(d, 'containerd', 'root'),
    containerdState: join(d, 'containerd', 'state'),
    containerdOpt: join(d, 'containerd', 'opt'),
    runcRoot: join(d, 'runc'),
    socket: join(d, 'run', 'containerd.sock'),
    kubeletRoot: join(d, 'kubelet'),
    podLogs: join(d, 'pod-logs'),
    volumePlugins: join(d, 'volume-plugins'),
    sysctl: join(d, 'sysctl'),
    pki: join(d, 'pki'),
    /** What `down` removes: everything a run leaves but the configs and the PKI. */
    runtimeDirs: ['cni', 'containerd', 'runc', 'run', 'kubelet', 'pod-logs', 'volume-plugins', 'sysctl'].map((x) => join(d, x)),
    log: (what: 'containerd' | 'kubelet') => join(stateDir, 'logs', `worker-${l.index}-${what}.log`),
  };
}
export type WorkerPaths = ReturnType<typeof workerPaths>;

interface Cidr {
  base: number;
  prefix: number;
}

function freeSlot(base: number, prefix: number, first: number, slots: number, taken: readonly Cidr[]): number {
  const size = 2 ** (32 - prefix);
  for (let i = 0; i < slots; i++) {
    const at = base + ((first + i) % slots) * size;
    if (!taken.some((t) => overlaps(t, { base: at, prefix }))) return at;
  }
  // Every slot in use (16,384 of them for links): take the first; `ip` will say why it fails.
  return base + first * size;
}

function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix > 32) return undefined;
  const addr = ip4(m[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (addr & mask) >>> 0, prefix };
}

function ip4(text: string): number {
  return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function ip4Text(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** The IPv4 networks in `ip -o -4 addr show` and `ip -4 route show table all` output. */
export function usedNetworks(ipAddrOutput: string, ipRouteOutput: string): string[] {
  const out: string[] = [];
  for (const m of ipAddrOutput.matchAll(/\binet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) out.push(m[1]!);
  for (const line of ipRouteOutput.split('\n')) {
    const first = line.trim().split(/\s+/);
    // "local 10.1.2.3 dev ..." / "broadcast ..." in table local; "10.0.0.0/8 via ..." in main.
    const dest = ['local', 'broadcast', 'unicast', 'blackhole', 'unreachable', 'prohibit'].includes(first[0] ?? '') ? first[1] : first[0];
    if (dest && dest !== 'default' && parseCidr(dest)) out.push(dest);
  }
  return out;
}
