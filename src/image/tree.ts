/**
 * A host directory as image files: regular files, directories and symlinks,
 * owned by root, with modes normalised (0755 when the host file is executable,
 * else 0644) so that the image does not depend on this machine's umask.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ImageFile } from './archive.js';

/** `skip` gets the path relative to `hostDir` ("build/Release/obj.target") and whether it is a directory. */
export function treeFiles(hostDir: string, imageDir: string, skip: (rel: string, isDir: boolean) => boolean = () => false): ImageFile[] {
  const files: ImageFile[] = [{ path: imageDir, dir: true }];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(hostDir, rel)).sort()) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const host = join(hostDir, relPath);
      const st = lstatSync(host);
      if (skip(relPath, st.isDirectory())) continue;
      const path = posix.join(imageDir, relPath);
      if (st.isDirectory()) {
        files.push({ path, dir: true });
        walk(relPath);
      } else if (st.isSymbolicLink()) {
        files.push({ path, symlink: readlinkSync(host) });
      } else if (st.isFile()) {
        files.push({ path, source: host, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      }
    }
  };
  walk('');
  return files;
}
