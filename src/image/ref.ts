/**
 * Which edgemark image a node runtime on Kubernetes runs: pinned to this
 * package's version, so a cluster never runs nodes of another release by
 * accident; overridden by a flag or EDGEMARK_IMAGE (as kubemark's image is by
 * KUBEMARK_VERSION in its cluster scripts).
 */
import { packageVersion } from '../core/paths.js';

export const DEFAULT_IMAGE = `localhost/edgemark:${packageVersion()}`;

/** The flag when given, else $EDGEMARK_IMAGE when set, else DEFAULT_IMAGE. */
export function imageRef(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag.trim() !== '') return flag.trim();
  const fromEnv = env.EDGEMARK_IMAGE?.trim();
  if (fromEnv) return fromEnv;
  return DEFAULT_IMAGE;
}
