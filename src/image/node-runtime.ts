/**
 * The Node.js runtime of the image: this machine's own `node` binary and the
 * shared libraries (and the dynamic loader) that `ldd` says it and the native
 * addons need, each at the path ldd gives, so the loader finds them in the
 * image as it does here.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { EdgemarkError, errnoCode } from '../core/errors.js';
import type { ImageFile } from './archive.js';

const run = promisify(execFile);

export const NODE_IN_IMAGE = '/usr/local/bin/node';

/** The node binary at /usr/local/bin/node plus the libraries of it and of `addons` (.node files). */
export async function nodeRuntimeFiles(o: { node: string; addons: string[] }): Promise<ImageFile[]> {
  const libs = new Set<string>();
  for (const binary of [o.node, ...o.addons]) for (const lib of await sharedLibraries(binary)) libs.add(lib);
  const files: ImageFile[] = [{ path: NODE_IN_IMAGE, source: realpathSync(o.node), mode: 0o755 }];
  for (const lib of [...libs].sort()) files.push({ path: lib, source: realpathSync(lib), mode: 0o755 });
  return files;
}

/** The absolute paths of the libraries `ldd` lists for a binary (none for a static one). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary], { encoding: 'utf8' }));
  } catch (err) {
    const out = typeof err === 'object' && err !== null && 'stdout' in err ? String((err as { stdout: unknown }).stdout) : '';
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : '';
    if (/not a dynamic executable|statically linked/.test(out + stderr)) return [];
    throw new EdgemarkError(
      'EM_IMAGE_NO_LDD',
      errnoCode(err) === 'ENOENT' ? '[image] `ldd` is not on PATH' : `[image] \`ldd ${binary}\` failed: ${(stderr || out).trim()}`,
      "install glibc's ldd (Debian: apt-get install libc-bin); the image copies the libraries it lists",
      { cause: err },
    );
  }
  return parseLdd(stdout, binary);
}

/**
 * Reads lines such as `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)`
 * and `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file and is skipped.
 */
export function parseLdd(text: string, binary: string): string[] {
  const libs: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || /statically linked/.test(line)) continue;
    if (/=>\s*not found/.test(line)) {
      throw new EdgemarkError(
        'EM_IMAGE_NO_LDD',
        `[image] ${binary} needs ${line.split(/\s/)[0]}, which this machine lacks`,
        'install the library (or rebuild the addon with npm rebuild) and build the image again',
      );
    }
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}
