/**
 * The production node_modules of the image: every package the lockfile does
 * not mark as a dev dependency, as installed here (so better-sqlite3's
 * compiled addon comes along), without what no running program reads: type
 * declarations, source maps, markdown, @types packages, and a native addon's
 * sources and intermediate build files (only its build/Release/*.node stays).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { EdgemarkError } from '../core/errors.js';
import type { ImageFile } from './archive.js';
import { treeFiles } from './tree.js';

interface LockPackage {
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
}

const noInstall = 'run `npm ci` (or `npm ci --omit=dev`) in the package root, then build the image again';

/** The lockfile's production package paths ("node_modules/ws", "node_modules/a/node_modules/b") present on disk. */
export function productionPackages(root: string): string[] {
  const lock = [join(root, 'package-lock.json'), join(root, 'node_modules', '.package-lock.json')].find((f) => existsSync(f));
  if (!lock || !existsSync(join(root, 'node_modules'))) {
    throw new EdgemarkError(
      'EM_IMAGE_NO_NODE_MODULES',
      `[image] ${root} has no node_modules (or no package-lock.json to tell which are production)`,
      noInstall,
    );
  }
  const packages = (JSON.parse(readFileSync(lock, 'utf8')) as { packages?: Record<string, LockPackage> }).packages ?? {};
  const out: string[] = [];
  for (const [path, p] of Object.entries(packages)) {
    if (path === '' || p.dev || p.link || !path.startsWith('node_modules/')) continue;
    if (posix.basename(posix.dirname(path)) === '@types') continue;
    if (!existsSync(join(root, path, 'package.json'))) {
      if (p.optional) continue; // an optional package for another platform
      throw new EdgemarkError('EM_IMAGE_NO_NODE_MODULES', `[image] the production package ${path} is not installed in ${root}`, noInstall);
    }
    out.push(path);
  }
  return out.sort();
}

/** The files of the production packages under `/app/node_modules`, and the native addons among them. */
export function nodeModulesFiles(root: string, appDir: string): { files: ImageFile[]; addons: string[] } {
  const files: ImageFile[] = [];
  const addons: string[] = [];
  for (const pkg of productionPackages(root)) {
    const host = join(root, pkg);
    const native = existsSync(join(host, 'binding.gyp'));
    const tree = treeFiles(host, posix.join(appDir, pkg), (rel, isDir) => skipped(rel, isDir, native));
    for (const f of tree) if (f.source?.endsWith('.node')) addons.push(f.source);
    files.push(...tree);
    if (native && !tree.some((f) => f.source?.endsWith('.node'))) {
      throw new EdgemarkError(
        'EM_IMAGE_NO_NODE_MODULES',
        `[image] the native package ${pkg} has no compiled build/Release/*.node`,
        `run \`npm rebuild ${posix.basename(pkg)}\`, then build the image again`,
      );
    }
  }
  return { files, addons };
}

function skipped(rel: string, isDir: boolean, native: boolean): boolean {
  // Nested packages have lockfile entries of their own.
  if (isDir && posix.basename(rel) === 'node_modules') return true;
  if (native) {
    if (isDir && (rel === 'deps' || rel === 'src')) return true;
    if (rel === 'build' || rel === 'build/Release') return false;
    if (rel.startsWith('build/')) return isDir || !/^build\/Release\/[^/]+\.node$/.test(rel);
  }
  return !isDir && /\.d\.[cm]?ts$|\.map$|\.md$/i.test(rel);
}
