/**
 * The helm binary, built from its pinned wrapper module (controlplane/helm)
 * into the cache on first use, like the control-plane binaries.
 */
import { join } from 'node:path';
import { type BuildOptions, ensureBuilt } from './build.js';
import { toolPins } from './pins.js';

/** The path of the pinned helm binary, building it first when the cache has none. */
export async function helmBinary(o: BuildOptions): Promise<string> {
  return join(await ensureBuilt({ pin: toolPins.helm, part: 'core' }, o), 'helm');
}
