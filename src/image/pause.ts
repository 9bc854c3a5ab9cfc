/**
 * The pod sandbox ("pause") image of a real kubelet node on a machine without
 * a registry: our own small Go program (controlplane/pause), built static and
 * packed as a one-layer image whose entrypoint is /pause. Built once into the
 * cache, keyed by its source and the Go version, as the control-plane binaries
 * are (src/cluster/build.ts); a second call returns the archive at once.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkGo, type GoInfo, goEnv } from '../cluster/build.js';
import { EdgemarkError, errnoCode } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { writeImageArchive } from './archive.js';

export const PAUSE_IMAGE = 'localhost/edgemark-pause:1.0';

/** Bump when the way the pause image is made changes, to invalidate old archives. */
const RECIPE_VERSION = 1;
const ARCHIVE = 'edgemark-pause.tar';

export interface PauseImage {
  archive: string;
  name: string;
}

export async function buildPauseImage(o: { cacheDir: string; signal?: AbortSignal; root?: string }): Promise<PauseImage> {
  const source = join(o.root ?? packageRoot(), 'controlplane', 'pause');
  const go = checkGo();
  const dir = join(o.cacheDir, 'images', `pause-${pauseKey(source, go)}`);
  const archive = join(dir, ARCHIVE);
  if (existsSync(join(dir, '.complete'))) return { archive, name: PAUSE_IMAGE };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const binary = join(tmp, 'pause');
    await goBuild(source, binary, o.cacheDir, o.signal);
    await writeImageArchive(
      {
        name: PAUSE_IMAGE,
        layers: [[{ path: '/pause', source: binary, mode: 0o755 }]],
        entrypoint: ['/pause'],
        // The nobody user of many images: the sandbox needs no privilege of its own.
        user: '65535:65535',
        labels: { 'org.opencontainers.image.title': 'edgemark-pause', 'io.edgemark.source': 'controlplane/pause' },
      },
      join(tmp, ARCHIVE),
    );
    writeFileSync(join(tmp, '.complete'), JSON.stringify({ image: PAUSE_IMAGE, go: go.version }, null, 2));
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // A concurrent call finished the same build first: its output is as good as ours.
      if (!existsSync(join(dir, '.complete'))) throw err;
      if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST') throw err;
    }
    return { archive, name: PAUSE_IMAGE };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Every input that decides the archive's bytes. */
export function pauseKey(source: string, go: GoInfo): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ recipe: RECIPE_VERSION, go: go.version, image: PAUSE_IMAGE, arch: process.arch }));
  for (const f of ['go.mod', 'main.go']) h.update(readFileSync(join(source, f)));
  return h.digest('hex').slice(0, 16);
}

function goBuild(cwd: string, out: string, cacheDir: string, signal?: AbortSignal): Promise<void> {
  // -buildvcs=false: the source lives in this repository, and its commit must not change the binary.
  const args = ['build', '-buildvcs=false', '-ldflags', '-s -w', '-o', out, '.'];
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, { cwd, env: { ...goEnv(cacheDir), CGO_ENABLED: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (d: Buffer) => {
      output += d.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) return resolve();
      reject(
        new EdgemarkError(
          signal?.aborted ? 'EM_BUILD_INTERRUPTED' : 'EM_BUILD_FAILED',
          `[image] \`go ${args.join(' ')}\` in ${cwd} ${sig ? `was stopped by ${sig}` : `failed with exit code ${code}`}`,
          signal?.aborted ? 'run the same command again' : 'read the output above; controlplane/pause has no dependencies, so this is a compile error',
          { details: output.trimEnd().split('\n').slice(-20) },
        ),
      );
    });
  });
}
