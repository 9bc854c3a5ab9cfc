/**
 * The resource envelope of an EdgeSite control plane: one cgroup holding every
 * component (etcd, kube-apiserver, the controller manager, the scheduler), with
 * a CPU quota and a memory limit for all of them together, as the site's small
 * master has (seed 004: at least 2 CPUs and 1 GB). On cgroup v2 one directory
 * under the unified hierarchy (cpu.max, memory.max, no swap); on v1 one in the
 * cpu and one in the memory hierarchy (cfs quota, limit_in_bytes, memsw when
 * the kernel accounts swap). A component joins the envelope before it execs
 * (a shell writes its own pid to cgroup.procs, then becomes the binary), so
 * everything it allocates is charged to the envelope. When the envelope's
 * memory is exceeded the kernel OOM-kills inside it; its oom_kill counter says
 * so, and `up` and `status` report it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EdgemarkError } from '../core/errors.js';
import { cgroupMounts } from './worker/host.js';

export interface EnvelopeSpec {
  cpus: number;
  memoryBytes: number;
}

export interface EnvelopeRecord extends EnvelopeSpec {
  cgroup: 1 | 2;
  /** The envelope's cgroup directories (v2: one; v1: the cpu and the memory one). */
  dirs: string[];
}

export const DEFAULT_ENVELOPE: EnvelopeSpec = { cpus: 2, memoryBytes: 2 ** 30 };
/**
 * Below this nothing can start (etcd alone holds about 40 MiB). Measured on 2026-12-02: the four
 * components start in 150Mi (134Mi charged, with their GOMEMLIMIT shares) and not in 100Mi
 * (kube-apiserver OOM-killed); between the floor and that, `up` names the OOM kill.
 */
export const MIN_ENVELOPE: EnvelopeSpec = { cpus: 0.25, memoryBytes: 64 * 2 ** 20 };
const PERIOD_US = 100_000;

export function envelopeTooSmall(what: string, fix: string): EdgemarkError {
  return new EdgemarkError('EM_ENVELOPE_TOO_SMALL', `[cluster] ${what}`, fix);
}

/** Refuses an envelope below what the control plane needs to start, before anything is made. */
export function checkEnvelope(e: EnvelopeSpec): void {
  if (!(e.cpus >= MIN_ENVELOPE.cpus) || !(e.memoryBytes >= MIN_ENVELOPE.memoryBytes)) {
    throw envelopeTooSmall(
      `an envelope of ${e.cpus} CPU(s) and ${mib(e.memoryBytes)} is too small for the control plane to start (at least ${MIN_ENVELOPE.cpus} CPU and ${mib(MIN_ENVELOPE.memoryBytes)})`,
      `raise --envelope-cpus / --envelope-memory (the seed's EdgeSite master has 2 CPUs and 1Gi: the default)`,
    );
  }
}

/** The envelope's cgroup name for a state directory: stable, so `down` finds what `up` made. */
export function envelopeName(stateDir: string): string {
  return `edgemark-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
}

/** Makes (or takes again) the envelope's cgroups and sets their limits. */
export function createEnvelope(stateDir: string, e: EnvelopeSpec, mounts = cgroupMounts()): EnvelopeRecord {
  checkEnvelope(e);
  const name = envelopeName(stateDir);
  const quota = String(Math.round(e.cpus * PERIOD_US));
  const unified = mounts.find((m) => m.type === 'cgroup2' && !mounts.some((x) => x.type === 'cgroup' && !x.options.includes('name=')));
  const write = (dir: string, file: string, value: string) => {
    try {
      writeFileSync(join(dir, file), value);
    } catch (err) {
      throw new EdgemarkError(
        'EM_ENVELOPE_FAILED',
        `[cluster] could not set ${join(dir, file)} to ${value}: ${(err as Error).message}`,
        'the envelope needs root and the cpu and memory cgroup controllers',
      );
    }
  };
  if (unified) {
    const parent = join(unified.dir, 'edgemark');
    mkdirSync(parent, { recursive: true });
    // A controller reaches a child only when every ancestor delegates it.
    write(unified.dir, 'cgroup.subtree_control', '+cpu +memory');
    write(parent, 'cgroup.subtree_control', '+cpu +memory');
    const dir = join(parent, name);
    mkdirSync(dir, { recursive: true });
    write(dir, 'cpu.max', `${quota} ${PERIOD_US}`);
    write(dir, 'memory.max', String(e.memoryBytes));
    if (existsSync(join(dir, 'memory.swap.max'))) write(dir, 'memory.swap.max', '0');
    return { ...e, cgroup: 2, dirs: [dir] };
  }
  const cpu = mounts.find((m) => m.type === 'cgroup' && m.options.split(',').includes('cpu'));
  const memory = mounts.find((m) => m.type === 'cgroup' && m.options.split(',').includes('memory'));
  if (!cpu || !memory) {
    throw new EdgemarkError(
      'EM_ENVELOPE_FAILED',
      '[cluster] this machine mounts neither cgroup v2 nor the v1 cpu and memory hierarchies',
      'mount cgroup2 on /sys/fs/cgroup, or the v1 cpu and memory controllers',
    );
  }
  const cpuDir = join(cpu.dir, 'edgemark', name);
  const memDir = join(memory.dir, 'edgemark', name);
  mkdirSync(cpuDir, { recursive: true });
  mkdirSync(memDir, { recursive: true });
  // cpuacct mounted apart from cpu (some kernels' layout): joined too, for the envelope's CPU seconds.
  const acct = mounts.find((m) => m.type === 'cgroup' && m.options.split(',').includes('cpuacct') && m.dir !== cpu.dir);
  const acctDir = acct ? join(acct.dir, 'edgemark', name) : undefined;
  if (acctDir) mkdirSync(acctDir, { recursive: true });
  write(cpuDir, 'cpu.cfs_period_us', String(PERIOD_US));
  write(cpuDir, 'cpu.cfs_quota_us', quota);
  // memsw (memory + swap) may not go below limit_in_bytes: lower it last when shrinking, first when growing.
  const memsw = existsSync(join(memDir, 'memory.memsw.limit_in_bytes'));
  if (memsw) {
    try {
      write(memDir, 'memory.memsw.limit_in_bytes', String(e.memoryBytes));
      write(memDir, 'memory.limit_in_bytes', String(e.memoryBytes));
    } catch {
      write(memDir, 'memory.limit_in_bytes', String(e.memoryBytes));
      write(memDir, 'memory.memsw.limit_in_bytes', String(e.memoryBytes));
    }
  } else write(memDir, 'memory.limit_in_bytes', String(e.memoryBytes));
  return { ...e, cgroup: 1, dirs: [...new Set([cpuDir, memDir, ...(acctDir ? [acctDir] : [])])] };
}

/**
 * The command that starts `binary args` inside the envelope: a shell puts its
 * own pid into each of the envelope's cgroups, then execs the binary (same pid).
 */
export function inEnvelope(r: EnvelopeRecord, binary: string, args: string[]): { command: string; args: string[]; env: Record<string, string> } {
  return {
    command: 'sh',
    args: ['-c', 'IFS=:; for d in $EM_ENVELOPE; do echo $$ > "$d/cgroup.procs" || exit 97; done; unset IFS EM_ENVELOPE; exec "$0" "$@"', binary, ...args],
    env: { EM_ENVELOPE: r.dirs.join(':') },
  };
}

export interface EnvelopeUsage {
  /** Memory charged to the envelope now. */
  usedBytes: number;
  /** The highest memory use the kernel recorded, when it records one. */
  peakBytes?: number;
  /** CPU seconds used by the envelope since it was made, when accounted. */
  cpuSeconds?: number;
  /** Processes the kernel OOM-killed inside the envelope. */
  oomKills: number;
  pids: number[];
}

function read(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

const keyed = (text: string | undefined, key: string) => {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : undefined;
};

export function envelopeUsage(r: EnvelopeRecord): EnvelopeUsage {
  const pids = [...new Set(r.dirs.flatMap((d) => (read(d, 'cgroup.procs') ?? '').split('\n').filter(Boolean).map(Number)))];
  if (r.cgroup === 2) {
    const d = r.dirs[0]!;
    const peak = read(d, 'memory.peak');
    const usec = keyed(read(d, 'cpu.stat'), 'usage_usec');
    return {
      usedBytes: Number(read(d, 'memory.current') ?? 0),
      ...(peak ? { peakBytes: Number(peak) } : {}),
      ...(usec !== undefined ? { cpuSeconds: usec / 1e6 } : {}),
      oomKills: keyed(read(d, 'memory.events'), 'oom_kill') ?? 0,
      pids,
    };
  }
  const mem = r.dirs.find((d) => existsSync(join(d, 'memory.usage_in_bytes'))) ?? r.dirs.at(-1)!;
  const cpu = r.dirs.find((d) => existsSync(join(d, 'cpuacct.usage')));
  const oom = read(mem, 'memory.oom_control');
  return {
    usedBytes: Number(read(mem, 'memory.usage_in_bytes') ?? 0),
    peakBytes: Number(read(mem, 'memory.max_usage_in_bytes') ?? 0),
    ...(cpu ? { cpuSeconds: Number(read(cpu, 'cpuacct.usage') ?? 0) / 1e9 } : {}),
    // oom_kill is counted from Linux 4.13; under_oom is all an older kernel says.
    oomKills: keyed(oom, 'oom_kill') ?? 0,
    pids,
  };
}

/** Removes the envelope's cgroups (its processes gone); what could not be removed is returned. */
export function removeEnvelope(r: EnvelopeRecord): string[] {
  const problems: string[] = [];
  for (const d of r.dirs) {
    if (!existsSync(d)) continue;
    try {
      rmdirSync(d);
    } catch (err) {
      problems.push(`could not remove cgroup ${d}: ${(err as Error).message}`);
      continue;
    }
    // The shared edgemark/ parent goes with the last envelope in it.
    try {
      rmdirSync(dirname(d));
    } catch {
      /* another envelope is still in it */
    }
  }
  return problems;
}

export function mib(bytes: number): string {
  return bytes >= 2 ** 30 && bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30}Gi` : `${Math.round(bytes / 2 ** 20)}Mi`;
}

/** A memory size as the flag takes it: 1Gi, 768Mi, or bytes. */
export function parseMemory(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi|M|G)?$/.exec(v.trim());
  if (!m) return undefined;
  const unit = { Mi: 2 ** 20, Gi: 2 ** 30, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** Each component's share of the envelope's memory, as its Go runtime's soft limit (GOMEMLIMIT): the rest is headroom. */
const MEMORY_SHARES: Record<string, number> = { etcd: 0.15, 'kube-apiserver': 0.45, 'kube-controller-manager': 0.15, 'kube-scheduler': 0.1 };

export function goMemLimit(r: EnvelopeSpec, component: string): number {
  return Math.round(r.memoryBytes * (MEMORY_SHARES[component] ?? 0.1));
}
