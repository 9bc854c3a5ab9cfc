/**
 * Port planning for the local control plane: the well-known defaults, or free
 * loopback ports chosen at `up`. A busy port is reported with the process that
 * holds it, read from /proc/net/tcp and the holders' file descriptors.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { EdgemarkError } from '../core/errors.js';

/** Every cluster has these; the first CloudCore's are the last three. */
export const portNames = [
  'etcdClient',
  'etcdPeer',
  'etcdMetrics',
  'apiserver',
  'controllerManager',
  'scheduler',
  'cloudhubWebsocket',
  'cloudhubHttps',
  'cloudcoreMetrics',
] as const;

/** CloudCore instances a local cluster may run (`cluster up --cloudcores N`). */
export const MAX_CLOUDCORES = 3;

/**
 * Every port a CloudCore v1.23.1 opens with our config (checked with `ss -ltnp`):
 * the CloudHub websocket, its HTTPS certificate server and the metrics server.
 * The stream and tunnel servers belong to cloudStream, which is off.
 */
export const cloudcorePortKinds = ['cloudhubWebsocket', 'cloudhubHttps', 'cloudcoreMetrics'] as const;
export type CloudcorePortKind = (typeof cloudcorePortKinds)[number];
/** Ports of the second and third CloudCore: `cloudhubWebsocket-1`, ...; absent from single-CloudCore state files. */
export type ExtraCloudcorePortName = `${CloudcorePortKind}-${1 | 2}`;
export type PortName = (typeof portNames)[number] | ExtraCloudcorePortName;
export type PortMap = Record<(typeof portNames)[number], number> & Partial<Record<ExtraCloudcorePortName, number>>;

/** The port names of CloudCore instance `instance` (0-based). */
export function cloudcorePortNames(instance: number): Record<CloudcorePortKind, PortName> {
  const name = (kind: CloudcorePortKind): PortName => (instance === 0 ? kind : (`${kind}-${instance}` as ExtraCloudcorePortName));
  return { cloudhubWebsocket: name('cloudhubWebsocket'), cloudhubHttps: name('cloudhubHttps'), cloudcoreMetrics: name('cloudcoreMetrics') };
}

/** The ports of CloudCore instance `instance`; refused when the plan has none for it. */
export function cloudcorePorts(ports: PortMap, instance: number): Record<CloudcorePortKind, number> {
  const names = cloudcorePortNames(instance);
  return {
    cloudhubWebsocket: portOf(ports, names.cloudhubWebsocket),
    cloudhubHttps: portOf(ports, names.cloudhubHttps),
    cloudcoreMetrics: portOf(ports, names.cloudcoreMetrics),
  };
}

export function portOf(ports: PortMap, name: PortName): number {
  const p = ports[name];
  if (p === undefined) throw new EdgemarkError('EM_INTERNAL', `[cluster] no port planned for ${name}`);
  return p;
}

export const defaultPorts: PortMap = {
  etcdClient: 2379,
  etcdPeer: 2380,
  etcdMetrics: 2381,
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  cloudhubWebsocket: 10000,
  cloudhubHttps: 10002,
  cloudcoreMetrics: 9091,
};

export const LOOPBACK = '127.0.0.1';

/** Resolves to true when `port` can be bound on loopback right now. */
export function portFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A free loopback port picked by the kernel. */
export function freePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Well-known ports of the second and third CloudCore: the first's plus 10
 * (websocket 10010, HTTPS 10012) and its metrics port plus one (9092), so
 * that none meets CloudCore's own defaults for its stream (10003) and tunnel
 * (10004) servers.
 */
export function defaultCloudcorePorts(instance: number): Record<CloudcorePortKind, number> {
  return {
    cloudhubWebsocket: defaultPorts.cloudhubWebsocket + 10 * instance,
    cloudhubHttps: defaultPorts.cloudhubHttps + 10 * instance,
    cloudcoreMetrics: defaultPorts.cloudcoreMetrics + instance,
  };
}

/** The ports of a cluster with `cloudcores` CloudCore instances. */
export async function choosePorts(mode: 'default' | 'auto', cloudcores = 1): Promise<PortMap> {
  return addCloudcorePorts(mode === 'default' ? { ...defaultPorts } : await pickFree(portNames, {}), mode, cloudcores);
}

/**
 * Adds the ports of CloudCore instances that `ports` has none for (a cluster
 * that had one CloudCore and now gets more keeps every port it had).
 */
export async function addCloudcorePorts(ports: PortMap, mode: 'default' | 'auto', cloudcores: number): Promise<PortMap> {
  const out: PortMap = { ...ports };
  for (let i = 1; i < cloudcores; i++) {
    const names = cloudcorePortNames(i);
    if (cloudcorePortKinds.every((k) => out[names[k]] !== undefined)) continue;
    const picked = mode === 'default' ? defaultCloudcorePorts(i) : await pickFree(cloudcorePortKinds, out);
    for (const k of cloudcorePortKinds) out[names[k]] = picked[k];
  }
  return out;
}

/** Free loopback ports for `names`, distinct from each other and from `taken`. */
async function pickFree<N extends string>(names: readonly N[], taken: Partial<Record<PortName, number>>): Promise<Record<N, number>> {
  const used = new Set(Object.values(taken));
  const out = {} as Record<N, number>;
  for (const name of names) {
    let p = await freePort();
    while (used.has(p)) p = await freePort();
    used.add(p);
    out[name] = p;
  }
  return out;
}

export interface Listener {
  port: number;
  inode: number;
}

/** Parses /proc/net/tcp{,6}: the listening sockets (state 0A) with their inodes. */
export function parseProcNetTcp(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    const local = f[1] ?? '';
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    out.push({ port, inode: Number(f[9]) });
  }
  return out;
}

export interface PortHolder {
  pid: number;
  command: string;
}

/** Who listens on `port`, if /proc lets us see it. */
export function findPortHolder(port: number): PortHolder | undefined {
  const inodes = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const l of parseProcNetTcp(readFileSync(file, 'utf8'))) if (l.port === port) inodes.add(l.inode);
    } catch {
      /* no IPv6, or no /proc */
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(Number(m[1]))) {
          return { pid: Number(entry), command: commandLine(Number(entry)) };
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return undefined;
}

function commandLine(pid: number): string {
  try {
    const parts = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const text = parts.join(' ');
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    return '?';
  }
}

/** Fails with the port, its use and its holder when any planned port is busy. */
export async function assertPortsFree(ports: Partial<Record<PortName, number>>): Promise<void> {
  for (const [name, port] of Object.entries(ports)) {
    if (port === undefined || (await portFree(port))) continue;
    const holder = findPortHolder(port);
    const who = holder ? `pid ${holder.pid} (${holder.command})` : 'another process (not visible to this user)';
    throw new EdgemarkError(
      'EM_PORT_BUSY',
      `[cluster] port ${LOOPBACK}:${port} (${name}) is already in use by ${who}`,
      holder
        ? `stop that process (kill ${holder.pid}), or run \`edgemark cluster up --ports auto\` to use free ports`
        : 'free the port, or run `edgemark cluster up --ports auto` to use free ports',
    );
  }
}
