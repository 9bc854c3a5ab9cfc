/**
 * Facts about processes read from /proc, and signalling with a bound: one pid
 * (terminate), a set of process groups (terminateGroups) or a child we spawned
 * (stopChild). Pure parsers are exported separately so they can be tested on
 * fixed text.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second as used by /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** Start time in clock ticks since boot. */
  startTicks: number;
  utimeTicks: number;
  stimeTicks: number;
}

/** Parses the text of /proc/<pid>/stat; the command name may hold spaces and parens. */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text.slice(0, text.indexOf(' ')), 10);
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); starttime is field 22, utime 14, stime 15.
  const at = (field: number) => Number(fields[field - 3]);
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: at(4),
    pgrp: at(5),
    utimeTicks: at(14),
    stimeTicks: at(15),
    startTicks: at(22),
  };
}

/** Parses "VmRSS:    1234 kB" out of /proc/<pid>/status; bytes, or 0. */
export function parseRssBytes(statusText: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(statusText);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Every process /proc shows now (those that vanish while it is read are skipped). */
export function scanProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) out.push(stat);
  }
  return out;
}

const isLive = (s: ProcStat) => s.state !== 'Z' && s.state !== 'X';

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function rssBytes(pid: number): number {
  try {
    return parseRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return 0;
  }
}

/**
 * Proportional set size in bytes (smaps_rollup's Pss): resident memory with
 * each page shared by n processes counted 1/n, so summing it over a group of
 * processes (a runner and its workers, or many peer instances of one binary)
 * does not count the shared executable and libraries once per process. 0 when
 * unreadable.
 */
export function pssBytes(pid: number): number {
  try {
    return parsePssBytes(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return 0;
  }
}

export function parsePssBytes(smapsRollup: string): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(smapsRollup);
  return m ? Number(m[1]) * 1024 : 0;
}

export function bootTimeMs(): number {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - uptime * 1000;
}

/** Wall-clock start time of a process in ms since the epoch. */
export function processStartMs(stat: ProcStat): number {
  return bootTimeMs() + (stat.startTicks / CLK_TCK) * 1000;
}

export function cpuSeconds(stat: ProcStat): number {
  return (stat.utimeTicks + stat.stimeTicks) / CLK_TCK;
}

/**
 * True when `pid` runs and is the process we started: its start time (in
 * ticks) matches the one recorded, so a recycled pid is not mistaken for it.
 */
export function isSameProcess(pid: number, startTicks: number | undefined): boolean {
  const stat = readProcStat(pid);
  if (!stat || !isLive(stat)) return false;
  return startTicks === undefined || stat.startTicks === startTicks;
}

export function pidAlive(pid: number): boolean {
  return isSameProcess(pid, undefined);
}

/**
 * SIGTERM, then SIGKILL after `graceMs`. Returns how it ended. The signal goes
 * to the process group when the process leads one (our children do).
 */
export async function terminate(pid: number, startTicks: number | undefined, graceMs: number): Promise<'not-running' | 'terminated' | 'killed'> {
  if (!isSameProcess(pid, startTicks)) return 'not-running';
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isSameProcess(pid, startTicks)) return 'terminated';
    await sleep(100);
  }
  signal(pid, 'SIGKILL');
  for (let i = 0; i < 50 && isSameProcess(pid, startTicks); i++) await sleep(100);
  return 'killed';
}

/** Sends a signal to the process group `pgid`; false when the group is gone. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

/** To the process group when `pid` leads one, else to the process. */
function signal(pid: number, sig: NodeJS.Signals): void {
  if (signalGroup(pid, sig)) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Pids of live (not zombie) processes whose process group is one of `groups`. */
export function livePidsInGroups(groups: ReadonlySet<number>): number[] {
  if (groups.size === 0) return [];
  return scanProcesses()
    .filter((s) => isLive(s) && groups.has(s.pgrp))
    .map((s) => s.pid);
}

/**
 * SIGTERM to every group, SIGKILL to what is left after `graceMs`, then waits
 * (`killWaitMs` more at most) until no process of the groups is left. Returns
 * the pids still alive at the end (none, normally).
 */
export async function terminateGroups(
  groups: ReadonlySet<number>,
  graceMs: number,
  o: { killWaitMs?: number; onKill?: (left: number[]) => void } = {},
): Promise<number[]> {
  for (const g of groups) signalGroup(g, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (livePidsInGroups(groups).length > 0 && Date.now() < deadline) await sleep(50);
  const left = livePidsInGroups(groups);
  if (left.length === 0) return [];
  o.onKill?.(left);
  for (const g of groups) signalGroup(g, 'SIGKILL');
  const killDeadline = Date.now() + (o.killWaitMs ?? 5_000);
  while (livePidsInGroups(groups).length > 0 && Date.now() < killDeadline) await sleep(50);
  return livePidsInGroups(groups);
}

/**
 * Stops a child we spawned: `signal` (default SIGTERM; SIGINT for a CLI that
 * cleans up on Ctrl-C), then SIGKILL after `killAfterMs` (default 10 s).
 * Resolves when it has exited, with how; at once when it had already exited.
 * `group: true` signals its process group (a child spawned detached).
 */
export function stopChild(
  child: ChildProcess,
  o: { signal?: NodeJS.Signals; killAfterMs?: number; group?: boolean } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  const send = (sig: NodeJS.Signals) => {
    if (o.group && child.pid !== undefined && signalGroup(child.pid, sig)) return;
    child.kill(sig);
  };
  return new Promise((resolve) => {
    const timer = setTimeout(() => send('SIGKILL'), o.killAfterMs ?? 10_000);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig });
    });
    send(o.signal ?? 'SIGTERM');
  });
}

/** Pids whose executable is `exePath` (used to prove nothing was left behind). */
export function pidsOfExecutable(exePath: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) === exePath) out.push(Number(entry));
    } catch {
      /* not ours to read, or gone */
    }
  }
  return out;
}
