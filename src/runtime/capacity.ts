/**
 * Whether a plan fits the local machine before anything starts: open files per
 * runner process, and source ports per target address (spread over
 * 127.0.0.0/8 on loopback). A plan that does not fit is refused with the limit
 * and the fix.
 */
import { readFileSync } from 'node:fs';
import { EdgemarkError } from '../core/errors.js';

/** File descriptors a runner keeps for itself (store, logs, metrics, stdio, DNS...). */
export const FD_RESERVE = 256;
/** Connections per source address before the next one is used (well inside the kernel's default ephemeral range of 28,232). */
export const CONNECTIONS_PER_ADDRESS = 25_000;

/** The soft limit on open files of this process, from /proc (Infinity when unknown). */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

/** Size of the kernel's ephemeral port range (source ports per source address and target). */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi && hi >= lo) return hi - lo + 1;
  } catch {
    /* not Linux */
  }
  return 28_232;
}

export interface Capacity {
  fdLimit: number;
  ports: number;
}

/**
 * How many nodes go to each source address, or an error naming the limit and
 * the fix when the plan cannot fit this machine. Checked before anything starts.
 */
export function planCapacity(count: number, workers: number, targetHost: string, cap: Capacity): { perSourceAddress: number } {
  const perProcess = Math.ceil(count / workers);
  const usable = cap.fdLimit - FD_RESERVE;
  if (perProcess > usable) {
    const need = Math.ceil(count / usable);
    throw new EdgemarkError(
      'EM_FD_LIMIT',
      `[nodes] ${count} nodes over ${workers} process${workers > 1 ? 'es' : ''} puts ${perProcess} connections in one process, but a process here may hold ${cap.fdLimit} open files (${usable} for nodes)`,
      `spread them: --workers ${need} (or more); each worker is a process with its own limit`,
    );
  }
  const perAddress = Math.min(CONNECTIONS_PER_ADDRESS, cap.ports - 1000);
  if (count <= perAddress) return { perSourceAddress: 0 };
  const loopback = /^127\./.test(targetHost) || targetHost === 'localhost';
  if (!loopback) {
    throw new EdgemarkError(
      'EM_SOURCE_PORTS',
      `[nodes] ${count} connections to ${targetHost} need more source ports than one address has (${cap.ports} in net.ipv4.ip_local_port_range; ${perAddress} used per address)`,
      `run at most ${perAddress} nodes per runner machine against a remote CloudCore, or widen net.ipv4.ip_local_port_range`,
    );
  }
  const addresses = Math.ceil(count / perAddress);
  if (addresses > 254) {
    throw new EdgemarkError(
      'EM_SOURCE_PORTS',
      `[nodes] ${count} nodes need ${addresses} loopback source addresses; 127.0.0.1-254 gives 254`,
      `run at most ${254 * perAddress} nodes per runner`,
    );
  }
  return { perSourceAddress: perAddress };
}

/** The source address of node `g` (127.0.0.1, then .2, ... every `per` nodes). */
export function sourceAddressOf(g: number, per: number): string | undefined {
  return per > 0 ? `127.0.0.${1 + Math.floor(g / per)}` : undefined;
}
