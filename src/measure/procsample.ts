/**
 * CPU and memory of process groups over a window, read from /proc: a runner
 * with its worker processes, a control-plane component, or many instances of
 * a peer. Used by the benchmarks; the numbers are what the kernel accounts.
 */
import { cpuSeconds, pssBytes, readProcStat, rssBytes, scanProcesses } from '../core/proc.js';

/** The pid and every descendant of it (workers of a runner, children of a peer). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of scanProcesses()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(root);
  return out;
}

export function groupCpuSeconds(pids: number[]): number {
  return pids.reduce((a, p) => {
    const s = readProcStat(p);
    return a + (s ? cpuSeconds(s) : 0);
  }, 0);
}

export function groupRssBytes(pids: number[]): number {
  return pids.reduce((a, p) => a + rssBytes(p), 0);
}

export function groupPssBytes(pids: number[]): number {
  return pids.reduce((a, p) => a + pssBytes(p), 0);
}

export interface GroupUsage {
  /** Cores used on average over the window. */
  cores: number;
  /** Mean RSS over the samples, bytes (summed over the group's processes). */
  rssBytes: number;
  /** Mean PSS over the samples, bytes: the group's memory with shared pages counted once. */
  pssBytes: number;
}

/**
 * Samples several process groups together over `windowMs` (RSS every
 * `everyMs`, CPU as the difference of accounted time at both ends).
 */
export async function sampleGroups(groups: Record<string, () => number[]>, windowMs: number, everyMs = 5000): Promise<Record<string, GroupUsage>> {
  const names = Object.keys(groups);
  const t0 = Date.now();
  const cpu = new GroupSampler(groups);
  const rss: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const pss: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  while (Date.now() - t0 < windowMs) {
    for (const n of names) {
      const pids = groups[n]!();
      rss[n]!.push(groupRssBytes(pids));
      pss[n]!.push(groupPssBytes(pids));
    }
    await new Promise((r) => setTimeout(r, Math.min(everyMs, Math.max(0, windowMs - (Date.now() - t0)))));
  }
  const used = cpu.read();
  const out: Record<string, GroupUsage> = {};
  for (const n of names) {
    const mean = (l: number[]) => l.reduce((a, b) => a + b, 0) / l.length;
    out[n] = {
      cores: used[n]!.cores,
      rssBytes: rss[n]!.length ? mean(rss[n]!) : groupRssBytes(groups[n]!()),
      pssBytes: pss[n]!.length ? mean(pss[n]!) : groupPssBytes(groups[n]!()),
    };
  }
  return out;
}

/** CPU of several process groups between start and stop (for phases of unknown length). */
export class GroupSampler {
  private readonly t0 = Date.now();
  private readonly cpu0: Record<string, number>;

  constructor(private readonly groups: Record<string, () => number[]>) {
    this.cpu0 = Object.fromEntries(Object.entries(groups).map(([n, g]) => [n, groupCpuSeconds(g())]));
  }

  /** CPU seconds used by each group so far, and the average cores over the phase. */
  read(): Record<string, { cpuSeconds: number; cores: number }> {
    const secs = Math.max(0.001, (Date.now() - this.t0) / 1000);
    return Object.fromEntries(
      Object.entries(this.groups).map(([n, g]) => {
        const used = Math.max(0, groupCpuSeconds(g()) - this.cpu0[n]!);
        return [n, { cpuSeconds: used, cores: used / secs }];
      }),
    );
  }
}
