/**
 * What a worker node changes on the machine, and how each change is found and
 * undone: the packages it needs, the veth pair and network namespace of its
 * address, its cgroup, the processes of its containerd (matched by its socket
 * path or mount namespace, never by name), and mounts under its directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EdgemarkError } from '../../core/errors.js';
import { debianPaths, workerPackages } from './configs.js';
import type { WorkerLayout } from './layout.js';
import { podGateway, usedNetworks } from './layout.js';

const exec = promisify(execFile);

/** Runs a command; its stderr becomes the error's message. */
export async function sh(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message || String(err)).trim()}`, { cause: err });
  }
}

/** The packaged files the worker runs that are missing, with the package of each. */
export function missingWorkerFiles(exists: (p: string) => boolean = existsSync): { file: string; pkg: string }[] {
  const want: { file: string; pkg: string }[] = [
    { file: debianPaths.containerd, pkg: 'containerd' },
    { file: debianPaths.ctr, pkg: 'containerd' },
    { file: debianPaths.shim, pkg: 'containerd' },
    { file: debianPaths.runc, pkg: 'runc' },
    ...debianPaths.cniPlugins.map((p) => ({ file: join(debianPaths.cniBinDir, p), pkg: 'containernetworking-plugins' })),
  ];
  return want.filter((w) => !exists(w.file));
}

export function checkWorkerPackages(exists?: (p: string) => boolean): void {
  const missing = missingWorkerFiles(exists);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  throw new EdgemarkError(
    'EM_WORKER_NODE_PACKAGES',
    `[worker] a worker node runs Debian's ${workerPackages.join(', ')}; missing: ${missing.map((m) => m.file).join(', ')} (package ${pkgs.join(', ')})`,
    `install them: apt-get install -y --no-install-recommends ${workerPackages.join(' ')} (scripts/test does this), then run \`edgemark cluster up --workers 1\` again`,
  );
}

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

/** Root with CAP_NET_ADMIN and CAP_SYS_ADMIN: veths, network namespaces, mounts, cgroups. */
export function checkWorkerPrivilege(status = readFileSync('/proc/self/status', 'utf8'), uid = process.getuid?.() ?? -1): void {
  const m = /^CapEff:\s+([0-9a-f]+)/m.exec(status);
  const caps = m ? BigInt(`0x${m[1]}`) : 0n;
  const has = (bit: number) => (caps >> BigInt(bit)) & 1n;
  if (uid === 0 && has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN)) return;
  throw new EdgemarkError(
    'EM_WORKER_NODE_PRIVILEGE',
    `[worker] a worker node needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN (uid ${uid}${uid === 0 ? ', capabilities missing' : ''}): it creates a veth pair, a network namespace, mounts and cgroups`,
    'run `edgemark cluster up --workers 1` as root (sudo), or leave --workers out: the control plane alone needs no privilege',
  );
}

export async function networksInUse(): Promise<string[]> {
  const [addr, route] = await Promise.all([sh('ip', ['-o', '-4', 'addr', 'show']), sh('ip', ['-4', 'route', 'show', 'table', 'all'])]);
  return usedNetworks(addr, route);
}

export async function linkExists(name: string): Promise<boolean> {
  try {
    await sh('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

export async function netnsExists(name: string): Promise<boolean> {
  return (await sh('ip', ['netns', 'list'])).split('\n').some((l) => l.split(' ')[0] === name);
}

/**
 * The node's address: a veth pair whose host end holds `hostIp`, its other end
 * (`nodeSideIp`) in a network namespace of its own, so the link has a carrier
 * and the address is not loopback (the kubelet refuses loopback node IPs and
 * the apiserver could not tell nodes apart).
 */
export async function createNodeLink(l: WorkerLayout): Promise<void> {
  const cidr = (ip: string) => `${ip}/${l.linkPrefix}`;
  try {
    await sh('ip', ['netns', 'add', l.netns]);
    await sh('ip', ['link', 'add', l.vethHost, 'type', 'veth', 'peer', 'name', l.vethNode]);
    await sh('ip', ['link', 'set', l.vethNode, 'netns', l.netns]);
    await sh('ip', ['addr', 'add', cidr(l.hostIp), 'dev', l.vethHost]);
    await sh('ip', ['link', 'set', l.vethHost, 'up']);
    await sh('ip', ['-n', l.netns, 'addr', 'add', cidr(l.nodeSideIp), 'dev', l.vethNode]);
    await sh('ip', ['-n', l.netns, 'link', 'set', l.vethNode, 'up']);
    await sh('ip', ['-n', l.netns, 'link', 'set', 'lo', 'up']);
    // The pods' bridge, with the pods' gateway address: made here, not by the
    // CNI bridge plugin, whose gateway mode also turns on net.ipv4.ip_forward
    // for the whole machine. Nothing here routes beyond the node.
    await sh('ip', ['link', 'add', l.bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', podGateway(l.podSubnet), 'dev', l.bridge]);
    await sh('ip', ['link', 'set', l.bridge, 'up']);
  } catch (err) {
    throw new EdgemarkError(
      'EM_WORKER_NODE_NETWORK',
      `[worker] could not give ${l.name} its address ${l.hostIp} (veth ${l.vethHost}, netns ${l.netns}): ${(err as Error).message}`,
      'a link or namespace of that name may be left from a killed run: `edgemark cluster down` removes them; else check `ip -o link` and `ip netns list`',
      { cause: err },
    );
  }
}

/** Deletes the pods' bridge (and any veth still on it), the veth pair and the netns; returns what it removed. */
export async function deleteNodeLinks(l: Pick<WorkerLayout, 'bridge' | 'vethHost' | 'netns'>, problems: string[]): Promise<string[]> {
  const removed: string[] = [];
  if (await linkExists(l.bridge)) {
    const ports = (await sh('ip', ['-o', 'link', 'show', 'master', l.bridge]).catch(() => ''))
      .split('\n')
      .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
      .filter((n): n is string => n !== undefined);
    for (const port of ports) await del(['link', 'del', port], `veth ${port}`);
    await del(['link', 'del', l.bridge], `bridge ${l.bridge}`);
  }
  if (await linkExists(l.vethHost)) await del(['link', 'del', l.vethHost], `veth ${l.vethHost}`);
  if (await netnsExists(l.netns)) await del(['netns', 'del', l.netns], `netns ${l.netns}`);
  return removed;

  async function del(args: string[], what: string) {
    try {
      await sh('ip', args);
      removed.push(what);
    } catch (err) {
      problems.push(`could not delete ${what}: ${(err as Error).message}`);
    }
  }
}

interface CgroupMount {
  dir: string;
  type: 'cgroup' | 'cgroup2';
  options: string;
}

/** The cgroup hierarchies mounted on this machine (v1 controllers, name=systemd, the unified v2 one). */
export function cgroupMounts(mounts = readFileSync('/proc/self/mounts', 'utf8')): CgroupMount[] {
  return parseMounts(mounts)
    .filter((m) => m.type === 'cgroup' || m.type === 'cgroup2')
    .map((m) => ({ dir: m.dir, type: m.type as 'cgroup' | 'cgroup2', options: m.options }));
}

/**
 * The cgroup root for the kubelet's pods in every v1 hierarchy (the kubelet
 * checks it exists). cpuset needs its cpus and mems before a child can hold a
 * task, so they are copied from the hierarchy's root.
 */
export function createCgroupRoot(root: string): void {
  for (const m of cgroupMounts()) {
    if (m.type !== 'cgroup') continue;
    const dir = join(m.dir, root);
    mkdirSync(dir, { recursive: true });
    if (m.options.split(',').includes('cpuset')) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(m.dir, f), 'utf8'));
      }
    }
  }
}

/** Pids of every process in the cgroup tree `root`, in any hierarchy. */
export function pidsInCgroup(root: string): number[] {
  const pids = new Set<number>();
  for (const m of cgroupMounts()) {
    const top = join(m.dir, root);
    if (!existsSync(top)) continue;
    for (const dir of walkDirs(top)) {
      try {
        for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) pids.add(Number(line));
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return [...pids];
}

/** Removes the cgroup tree `root` from every hierarchy, deepest first; returns the hierarchies it was in. */
export function removeCgroupRoot(root: string, problems: string[]): string[] {
  const removed: string[] = [];
  for (const m of cgroupMounts()) {
    const top = join(m.dir, root);
    if (!existsSync(top)) continue;
    const dirs = walkDirs(top).reverse();
    let ok = true;
    for (const dir of dirs) {
      try {
        rmdirSync(dir);
      } catch (err) {
        ok = false;
        problems.push(`could not remove cgroup ${dir}: ${(err as Error).message}`);
      }
    }
    if (ok) removed.push(m.dir);
  }
  return removed;
}

/** `dir` and every directory under it, parents before children. */
function walkDirs(dir: string): string[] {
  const out = [dir];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    try {
      if (statSync(p).isDirectory()) out.push(...walkDirs(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

export interface MountEntry {
  source: string;
  dir: string;
  type: string;
  options: string;
}

/** Parses /proc/<pid>/mounts; octal escapes (\040 for a space) are decoded. */
export function parseMounts(text: string): MountEntry[] {
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [source = '', dir = '', type = '', options = ''] = l.split(' ');
      return { source: decode(source), dir: decode(dir), type, options };
    });
}

/** Mount points at or under `dir` in this mount namespace, deepest first. */
export function mountsUnder(dir: string, mounts = readFileSync('/proc/self/mounts', 'utf8')): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return parseMounts(mounts)
    .map((m) => m.dir)
    .filter((d) => d === dir || d.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir`: a plain umount, then a lazy one as a last resort. */
export async function unmountUnder(dir: string, problems: string[]): Promise<string[]> {
  const done: string[] = [];
  for (const m of mountsUnder(dir)) {
    try {
      await sh('umount', [m]);
      done.push(m);
    } catch {
      try {
        await sh('umount', ['-l', m]);
        done.push(`${m} (lazy)`);
      } catch (err) {
        problems.push(`could not unmount ${m}: ${(err as Error).message}`);
      }
    }
  }
  return done;
}

/** The mount namespace of a process, as /proc shows it ("mnt:[4026532123]"). */
export function mountNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * Processes that belong to one worker's containerd: those in its mount
 * namespace (containerd, the kubelet, shims, runc), those whose command line
 * names its socket (a shim), and those in its pods' cgroup (the containers).
 */
export function workerProcesses(o: { mountNs?: string; socket: string; cgroupRoot: string }, self = process.pid): number[] {
  const pids = new Set<number>(pidsInCgroup(o.cgroupRoot));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === self) continue;
    if (o.mountNs && mountNamespaceOf(pid) === o.mountNs) {
      pids.add(pid);
      continue;
    }
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes(o.socket) || argv.includes(`unix://${o.socket}`)) pids.add(pid);
    } catch {
      /* gone, or not ours to read */
    }
  }
  pids.delete(self);
  return [...pids];
}

/**
 * The sysctls the kubelet would change, each with a file holding the value it
 * wants, for those whose machine value differs (bind-mounted over /proc/sys
 * inside the worker's mount namespace).
 */
export function sysctlMasks(
  wanted: Record<string, number>,
  dir: string,
  read = (s: string) => readFileSync(`/proc/sys/${s}`, 'utf8'),
): { sysctl: string; file: string }[] {
  const out: { sysctl: string; file: string }[] = [];
  for (const [sysctl, value] of Object.entries(wanted)) {
    let now: number;
    try {
      now = Number(read(sysctl).trim());
    } catch {
      continue;
    }
    if (now === value) continue;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, sysctl.replace(/\//g, '.'));
    writeFileSync(file, `${value}\n`);
    out.push({ sysctl, file });
  }
  return out;
}
