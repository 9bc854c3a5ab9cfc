/**
 * The edgemark image, made on a machine with neither a daemon nor a registry:
 * three layers, from the least to the most often changed: the Node.js runtime
 * (this machine's node and its libraries, /etc/passwd with a non-root user,
 * /tmp), the production node_modules, and the app (dist/src, stages/,
 * profiles/, package.json: what packageRoot() finds at run time).
 */
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { EdgemarkError } from '../core/errors.js';
import { packageRoot, packageVersion } from '../core/paths.js';
import { type ImageArchive, type ImageFile, writeImageArchive } from './archive.js';
import { nodeModulesFiles } from './node-modules.js';
import { NODE_IN_IMAGE, nodeRuntimeFiles } from './node-runtime.js';
import { DEFAULT_IMAGE } from './ref.js';
import { treeFiles } from './tree.js';

export const APP_DIR = '/app';
export const IMAGE_UID = 65532;
export const ENTRYPOINT = [NODE_IN_IMAGE, `${APP_DIR}/dist/src/cli/main.js`];

export interface EdgemarkImageOptions {
  cacheDir: string;
  /** Default DEFAULT_IMAGE. */
  name?: string;
  /** Default <cacheDir>/images/edgemark-<version>.tar. */
  out?: string;
  /** The package root to pack (default: this one). */
  root?: string;
  /** The node binary to pack (default: this one). */
  node?: string;
}

export interface EdgemarkImage extends ImageArchive {
  name: string;
  /** The layers' bytes added up: the image's size once unpacked. */
  uncompressedBytes: number;
}

export function defaultImageFile(cacheDir: string): string {
  return join(cacheDir, 'images', `edgemark-${packageVersion()}.tar`);
}

export async function buildEdgemarkImage(o: EdgemarkImageOptions): Promise<EdgemarkImage> {
  const root = o.root ?? packageRoot();
  const name = o.name ?? DEFAULT_IMAGE;
  const app = appFiles(root);
  const modules = nodeModulesFiles(root, APP_DIR);
  const runtime = await nodeRuntimeFiles({ node: o.node ?? process.execPath, addons: modules.addons });
  const version = packageVersion();
  const archive = await writeImageArchive(
    {
      name,
      layers: [[...baseFiles(), ...runtime], modules.files, app],
      entrypoint: ENTRYPOINT,
      env: ['PATH=/usr/local/bin:/usr/bin:/bin', `HOME=/home/edgemark`, 'NODE_ENV=production'],
      user: `${IMAGE_UID}:${IMAGE_UID}`,
      workingDir: APP_DIR,
      labels: {
        'org.opencontainers.image.title': 'edgemark',
        'org.opencontainers.image.version': version,
        'io.edgemark.node-version': process.version,
      },
    },
    o.out ?? defaultImageFile(o.cacheDir),
  );
  return { ...archive, name, uncompressedBytes: archive.layers.reduce((n, l) => n + l.bytes, 0) };
}

/** Users, groups and the directories every program expects. */
function baseFiles(): ImageFile[] {
  const u = IMAGE_UID;
  return [
    { path: '/etc/passwd', content: `root:x:0:0:root:/root:/sbin/nologin\nedgemark:x:${u}:${u}:edgemark:/home/edgemark:/sbin/nologin\n` },
    { path: '/etc/group', content: `root:x:0:\nedgemark:x:${u}:\n` },
    { path: '/root', dir: true, mode: 0o700 },
    { path: '/home/edgemark', dir: true, mode: 0o755, uid: u, gid: u },
    { path: '/tmp', dir: true, mode: 0o1777 },
  ];
}

/** What the CLI reads at run time, relative to the package root. */
function appFiles(root: string): ImageFile[] {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
    throw new EdgemarkError(
      'EM_IMAGE_NO_DIST',
      `[image] ${join(root, 'dist/src/cli/main.js')} is missing: the TypeScript is not compiled`,
      'run `npm run build`, then build the image again',
    );
  }
  return [
    { path: posix.join(APP_DIR, 'package.json'), source: join(root, 'package.json') },
    ...treeFiles(join(root, 'dist', 'src'), posix.join(APP_DIR, 'dist', 'src'), (rel, isDir) => !isDir && /\.test\.js$|\.map$/.test(rel)),
    ...treeFiles(join(root, 'stages'), posix.join(APP_DIR, 'stages'), (rel) => rel === 'testdata'),
    ...treeFiles(join(root, 'profiles'), posix.join(APP_DIR, 'profiles')),
  ];
}
