/**
 * The timings of a hollow edge node, as data. Defaults are edgecore 1.23's
 * (edgecore.config.kubeedge.io/v1alpha2 defaults and the kubelet it embeds);
 * the reconnect policy is ours: exponential backoff with jitter. The pods'
 * timings (podStopMs, podStopJitter, podRetryMs) are the PodTimings of src/pods.
 */
import type { PodTimings } from '../pods/timings.js';

export { jittered } from '../pods/timings.js';

export interface EdgeTimings extends PodTimings {
  /** edgeHub.heartbeat: keepalive on connect and then every period. CloudHub
   * drops a session that sends none for 30 s. */
  keepaliveMs: number;
  /** Kubelet lease controller: renew every 0.25 x leaseDurationSeconds (40 s). */
  leaseRenewMs: number;
  leaseJitter: number;
  leaseDurationSeconds: number;
  /** nodeStatusUpdateFrequency: compute the status; send only on change... */
  nodeStatusUpdateMs: number;
  /** ...or when nodeStatusReportFrequency has passed since the last send. */
  nodeStatusReportMs: number;
  /** Node registration retry: 100 ms doubling up to 7 s (kubelet). */
  registerRetryInitialMs: number;
  registerRetryMaxMs: number;
  /** metaManager.remoteQueryTimeout: a request with no answer by then failed. */
  requestTimeoutMs: number;
  /** Reconnect: first wait, growth factor, cap, and +/- jitter fraction. */
  reconnectInitialMs: number;
  reconnectFactor: number;
  reconnectMaxMs: number;
  reconnectJitter: number;
  /** devicetwin re-sends its unanswered membership query this often (CloudCore 1.23 never answers it); 0 = once per connect. */
  twinMembershipResendMs: number;
}

export const defaultTimings: EdgeTimings = {
  keepaliveMs: 15_000,
  leaseRenewMs: 10_000,
  leaseJitter: 0.04,
  leaseDurationSeconds: 40,
  nodeStatusUpdateMs: 10_000,
  nodeStatusReportMs: 5 * 60_000,
  registerRetryInitialMs: 100,
  registerRetryMaxMs: 7_000,
  requestTimeoutMs: 60_000,
  reconnectInitialMs: 2_000,
  reconnectFactor: 2,
  reconnectMaxMs: 60_000,
  reconnectJitter: 0.25,
  podStopJitter: 0.5,
  podStopMs: 500,
  podRetryMs: 5_000,
  twinMembershipResendMs: 60_000,
};

/** Delay before reconnect attempt `attempt` (0-based), with jitter from `random`. */
export function reconnectDelay(t: EdgeTimings, attempt: number, random: () => number): number {
  const base = Math.min(t.reconnectMaxMs, t.reconnectInitialMs * t.reconnectFactor ** attempt);
  return Math.round(base * (1 - t.reconnectJitter + 2 * t.reconnectJitter * random()));
}
