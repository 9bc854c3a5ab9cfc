import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where Edgemark keeps things. The build cache is shared by every cluster and
 * survives `cluster down --purge`; the state directory belongs to one cluster.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGEMARK_CACHE_DIR) return resolve(env.EDGEMARK_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(base, 'edgemark');
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGEMARK_STATE_DIR) return resolve(env.EDGEMARK_STATE_DIR);
  const base = env.XDG_STATE_HOME ? resolve(env.XDG_STATE_HOME) : join(homedir(), '.local', 'state');
  return join(base, 'edgemark', 'default');
}

/** The repository (or installed package) root: where controlplane/ lives. */
export function packageRoot(): string {
  // dist/src/core/paths.js -> three levels up; src/core/paths.ts under tsx -> two.
  const here = dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${join('dist', 'src')}`) ? '../../..' : '../..';
  return resolve(here, up);
}

/** The version in package.json ("unknown" when it cannot be read). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
