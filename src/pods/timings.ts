/**
 * The timings of a node's pods, as data: the part of a kind's timings the
 * fake runtime reads. A kind's own timings include these (the edge kind's
 * EdgeTimings extends PodTimings); the defaults are the kind's.
 */
export interface PodTimings {
  /** Jitter fraction of the stop delay (podStopMs). */
  podStopJitter: number;
  /** Fake runtime: time to stop containers on deletion (capped by the grace period). */
  podStopMs: number;
  /** A pod missing a ConfigMap, Secret or token looks again this often. */
  podRetryMs: number;
}

/** `ms` spread by +/- `jitter` (a fraction) with `random` in [0, 1): 0.5 gives `ms` itself. */
export function jittered(ms: number, jitter: number, random: () => number): number {
  return Math.round(ms * (1 - jitter + 2 * jitter * random()));
}
