/**
 * Port planning for the local control plane: the well-known defaults, or free
 * loopback ports chosen at `up`. A busy port is reported with the process that
 * holds it, read from /proc/net/tcp and the holders' file descriptors.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { EdgemarkError } from '../core/errors.js';

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
export type PortName = (typeof portNames)[number];
export type PortMap = Record<PortName, number>;

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

export async function choosePorts(mode: 'default' | 'auto'): Promise<PortMap> {
  if (mode === 'default') return { ...defaultPorts };
  const taken = new Set<number>();
  const out = {} as PortMap;
  for (const name of portNames) {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
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
export async function assertPortsFree(ports: Partial<PortMap>): Promise<void> {
  for (const name of portNames) {
    const port = ports[name];
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
