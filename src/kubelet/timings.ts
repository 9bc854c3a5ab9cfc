/**
 * The timings of a hollow kubelet, as data. Defaults are kubelet 1.32's (and
 * kubemark's hard-coded config, which keeps them): lease renewals every 10 s
 * (0.25 of 40 s) with 4 % jitter, status computed every 10 s and sent on
 * change or every 5 minutes, registration retried from 100 ms doubling to 7 s,
 * reflectors' watches reopened every 5 to 10 minutes. The pods' timings are
 * the PodTimings of src/pods.
 */
import { EdgemarkError } from '../core/errors.js';
import type { PodTimings } from '../pods/timings.js';
import type { ReflectorTimings } from './reflector.js';

export interface KubeletTimings extends PodTimings, ReflectorTimings {
  leaseRenewMs: number;
  leaseJitter: number;
  leaseDurationSeconds: number;
  /** Lease errors: retry from this, doubling, capped (the lease controller's backoff). */
  leaseRetryInitialMs: number;
  leaseRetryMaxMs: number;
  nodeStatusUpdateMs: number;
  nodeStatusJitter: number;
  nodeStatusReportMs: number;
  registerRetryInitialMs: number;
  registerRetryMaxMs: number;
  /** The heartbeat client's request timeout: min(nodeStatusUpdateFrequency, lease duration). */
  heartbeatTimeoutMs: number;
  /** Other requests. */
  requestTimeoutMs: number;
  /** A CSR not issued by then is reported (the node goes on waiting). */
  csrWarnMs: number;
  /** node-problem-detector's heartbeat period. */
  npdHeartbeatMs: number;
}

export const defaultKubeletTimings: KubeletTimings = {
  leaseRenewMs: 10_000,
  leaseJitter: 0.04,
  leaseDurationSeconds: 40,
  leaseRetryInitialMs: 200,
  leaseRetryMaxMs: 7_000,
  nodeStatusUpdateMs: 10_000,
  nodeStatusJitter: 0.04,
  nodeStatusReportMs: 5 * 60_000,
  registerRetryInitialMs: 100,
  registerRetryMaxMs: 7_000,
  heartbeatTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  csrWarnMs: 60_000,
  npdHeartbeatMs: 5 * 60_000,
  watchTimeoutMinS: 300,
  watchTimeoutSpreadS: 300,
  watchRetryInitialMs: 800,
  watchRetryMaxMs: 30_000,
  podStopJitter: 0.5,
  podStopMs: 500,
  podRetryMs: 5_000,
};

export function kubeletTimings(groupName: string, overrides: Record<string, number>): KubeletTimings {
  const unknown = Object.keys(overrides).filter((k) => !(k in defaultKubeletTimings));
  if (unknown.length) {
    throw new EdgemarkError(
      'EM_PLAN_INVALID',
      `[plan] group ${groupName}: unknown kubelet timing ${unknown.join(', ')}`,
      `kubelet timings are ${Object.keys(defaultKubeletTimings).join(', ')}`,
    );
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (!Number.isFinite(v) || v < 0) throw new EdgemarkError('EM_PLAN_INVALID', `[plan] group ${groupName}: timing ${k} must be a number >= 0, not ${v}`);
  }
  return { ...defaultKubeletTimings, ...overrides };
}

/** `ms` plus up to `jitter` of itself (wait.JitterUntil's rule: never shorter). */
export function jitterUp(ms: number, jitter: number, random: () => number): number {
  return ms + ms * jitter * random();
}
