/**
 * Writes a container image as a docker-archive tarball (what `docker save`
 * writes: manifest.json, the image config, one tar per layer) without a
 * daemon. `ctr images import` and `skopeo copy docker-archive:` read it.
 *
 * The same inputs give the same bytes: every entry has a fixed mtime and
 * numeric owners, entries are sorted by path, and the config has a fixed
 * creation time. A layer is streamed to a temporary file while its sha256 (its
 * diff_id) is computed, then copied into the archive, so memory stays small
 * whatever the size of the files.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { finished } from 'node:stream/promises';
import { type Pack, pack } from 'tar-stream';
import { EdgemarkError, errnoCode } from '../core/errors.js';

export interface ImageFile {
  /** Absolute path inside the image ("/usr/local/bin/node"). */
  path: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** A host file copied in. */
  source?: string;
  content?: string | Buffer;
  symlink?: string;
  dir?: true;
}

export interface ImageSpec {
  /** "localhost/edgemark:0.4.0"; ":latest" when it has no tag. */
  name: string;
  /** Bottom first. A parent directory that is not listed is added as root's, 0755. */
  layers: ImageFile[][];
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  labels?: Record<string, string>;
  /** "8080/tcp". */
  exposedPorts?: string[];
}

export interface ImageArchive {
  file: string;
  bytes: number;
  /** "sha256:<hex>": the image's ID. */
  configDigest: string;
  layers: { diffId: string; bytes: number }[];
}

/** Every entry's mtime, so that a rebuild gives the same digest. */
const FIXED_MTIME = new Date(0);
const FIXED_CREATED = FIXED_MTIME.toISOString().replace('.000Z', 'Z');

type HeaderArgument = Parameters<Pack['entry']>[0];

type Entry =
  | { kind: 'dir'; name: string; mode: number; uid: number; gid: number }
  | { kind: 'symlink'; name: string; target: string; uid: number; gid: number }
  | { kind: 'file'; name: string; mode: number; uid: number; gid: number; source?: string; content?: Buffer };

export async function writeImageArchive(spec: ImageSpec, outFile: string): Promise<ImageArchive> {
  const repoTag = withTag(spec.name);
  const layerEntries = spec.layers.map((files, i) => layerEntriesOf(files, i));
  const tmp = `${outFile}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(outFile), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
  } catch (err) {
    throw notWritable(outFile, err);
  }
  try {
    const layers: { diffId: string; bytes: number; file: string }[] = [];
    for (const [i, entries] of layerEntries.entries()) {
      const file = join(tmp, `layer-${i}.tar`);
      const { sha256, bytes } = await writeTar(file, entries);
      layers.push({ diffId: `sha256:${sha256}`, bytes, file });
    }
    const config = Buffer.from(
      JSON.stringify(
        imageConfig(
          spec,
          layers.map((l) => l.diffId),
        ),
      ),
    );
    const configHex = createHash('sha256').update(config).digest('hex');
    const layerPath = (diffId: string) => `${diffId.slice('sha256:'.length)}/layer.tar`;
    const manifest = [{ Config: `${configHex}.json`, RepoTags: [repoTag], Layers: layers.map((l) => layerPath(l.diffId)) }];
    const outer: Entry[] = [
      { kind: 'file', name: 'manifest.json', mode: 0o644, uid: 0, gid: 0, content: Buffer.from(JSON.stringify(manifest)) },
      { kind: 'file', name: `${configHex}.json`, mode: 0o644, uid: 0, gid: 0, content: config },
    ];
    const seen = new Set<string>();
    for (const l of layers) {
      if (seen.has(l.diffId)) continue;
      seen.add(l.diffId);
      outer.push({ kind: 'dir', name: posix.dirname(layerPath(l.diffId)), mode: 0o755, uid: 0, gid: 0 });
      outer.push({ kind: 'file', name: layerPath(l.diffId), mode: 0o644, uid: 0, gid: 0, source: l.file });
    }
    const partial = join(tmp, 'image.tar');
    const { bytes } = await writeTar(partial, sortEntries(outer));
    try {
      renameSync(partial, outFile);
    } catch (err) {
      throw notWritable(outFile, err);
    }
    return { file: outFile, bytes, configDigest: `sha256:${configHex}`, layers: layers.map(({ diffId, bytes }) => ({ diffId, bytes })) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** "name:tag" as manifest.json's RepoTags wants it. */
export function withTag(name: string): string {
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  if (name === '' || name.includes('@') || /\s/.test(name)) {
    throw new EdgemarkError('EM_IMAGE_INVALID', `[image] "${name}" is not an image name`, 'give a name such as localhost/edgemark:0.4.0');
  }
  return lastPart.includes(':') ? name : `${name}:latest`;
}

function imageConfig(spec: ImageSpec, diffIds: string[]) {
  const config: Record<string, unknown> = {};
  if (spec.user !== undefined) config.User = spec.user;
  if (spec.exposedPorts?.length) config.ExposedPorts = Object.fromEntries([...spec.exposedPorts].sort().map((p) => [p, {}]));
  if (spec.env?.length) config.Env = spec.env;
  if (spec.entrypoint?.length) config.Entrypoint = spec.entrypoint;
  if (spec.cmd?.length) config.Cmd = spec.cmd;
  if (spec.workingDir !== undefined) config.WorkingDir = spec.workingDir;
  if (spec.labels) config.Labels = Object.fromEntries(Object.entries(spec.labels).sort(([a], [b]) => compare(a, b)));
  return {
    architecture: goArch(process.arch),
    os: 'linux',
    created: FIXED_CREATED,
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created: FIXED_CREATED, created_by: 'edgemark image writer' })),
  };
}

function goArch(arch: string): string {
  const names: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return names[arch] ?? arch;
}

/** One layer's entries: validated, parents added, sorted. */
function layerEntriesOf(files: ImageFile[], layer: number): Entry[] {
  const byName = new Map<string, Entry>();
  const implicit = new Set<string>();
  for (const f of files) {
    const name = entryName(f.path, layer);
    if (byName.has(name) && !implicit.has(name)) {
      throw new EdgemarkError('EM_IMAGE_INVALID', `[image] layer ${layer} lists ${f.path} twice`, 'list each path once per layer');
    }
    implicit.delete(name);
    byName.set(name, entryOf(f, name, layer));
    for (let parent = posix.dirname(name); parent !== '.'; parent = posix.dirname(parent)) {
      if (byName.has(parent)) continue;
      byName.set(parent, { kind: 'dir', name: parent, mode: 0o755, uid: 0, gid: 0 });
      implicit.add(parent);
    }
  }
  for (const e of byName.values()) {
    const parent = posix.dirname(e.name);
    if (parent !== '.' && byName.get(parent)?.kind !== 'dir') {
      throw new EdgemarkError('EM_IMAGE_INVALID', `[image] layer ${layer}: /${parent} holds /${e.name} but is not a directory`, 'make the parent a directory');
    }
  }
  return sortEntries([...byName.values()]);
}

function entryName(path: string, layer: number): string {
  const name = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
  if (!path.startsWith('/') || name === '' || name === '.' || path.split('/').includes('..')) {
    throw new EdgemarkError('EM_IMAGE_INVALID', `[image] layer ${layer}: "${path}" is not an absolute path below /`, 'give paths such as /usr/local/bin/node');
  }
  return name;
}

function entryOf(f: ImageFile, name: string, layer: number): Entry {
  const kinds = [f.source !== undefined, f.content !== undefined, f.symlink !== undefined, f.dir === true].filter(Boolean).length;
  if (kinds !== 1) {
    throw new EdgemarkError('EM_IMAGE_INVALID', `[image] layer ${layer}: ${f.path} needs exactly one of source, content, symlink or dir`);
  }
  const uid = f.uid ?? 0;
  const gid = f.gid ?? 0;
  if (f.dir) return { kind: 'dir', name, mode: f.mode ?? 0o755, uid, gid };
  if (f.symlink !== undefined) return { kind: 'symlink', name, target: f.symlink, uid, gid };
  if (f.content !== undefined) return { kind: 'file', name, mode: f.mode ?? 0o644, uid, gid, content: Buffer.from(f.content) };
  return { kind: 'file', name, mode: f.mode ?? 0o644, uid, gid, source: f.source! };
}

function sortEntries(entries: Entry[]): Entry[] {
  return entries.sort((a, b) => compare(a.name, b.name));
}

/** Byte order, as `tar --sort=name` has it (a parent sorts before its children). */
function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Streams the entries as a tar into `file`, hashing the bytes on their way to the disk. */
async function writeTar(file: string, entries: Entry[]): Promise<{ sha256: string; bytes: number }> {
  const tar = pack();
  let out: ReturnType<typeof createWriteStream>;
  try {
    out = createWriteStream(file, { mode: 0o644 });
    await once(out, 'open');
  } catch (err) {
    throw notWritable(file, err);
  }
  const hash = createHash('sha256');
  const drained = drain(tar, out, hash);
  let bytes = 0;
  try {
    for (const e of entries) await addEntry(tar, e);
    tar.finalize();
    bytes = await drained;
  } catch (err) {
    tar.destroy();
    out.destroy();
    await drained.catch(() => undefined);
    throw err;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function drain(tar: Pack, out: ReturnType<typeof createWriteStream>, hash: Hash): Promise<number> {
  let bytes = 0;
  for await (const chunk of tar as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await finished(out);
  return bytes;
}

function addEntry(tar: Pack, e: Entry): Promise<void> {
  const base = { mtime: FIXED_MTIME, uid: e.uid, gid: e.gid, uname: '', gname: '' };
  if (e.kind === 'dir') return entry(tar, { ...base, name: `${e.name}/`, type: 'directory', mode: e.mode });
  if (e.kind === 'symlink') return entry(tar, { ...base, name: e.name, type: 'symlink', linkname: e.target, mode: 0o777 });
  const header: HeaderArgument = { ...base, name: e.name, type: 'file', mode: e.mode };
  if (e.content) return entry(tar, { ...header, size: e.content.byteLength }, e.content);
  return copyFile(tar, header, e.source!);
}

function entry(tar: Pack, header: HeaderArgument, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content) tar.entry(header, content, done);
    else tar.entry(header, done).end(null);
  });
}

async function copyFile(tar: Pack, header: HeaderArgument, source: string): Promise<void> {
  let size: number;
  try {
    size = statSync(source).size;
  } catch (err) {
    throw new EdgemarkError('EM_IMAGE_INVALID', `[image] cannot read ${source} for /${header.name}`, 'check that the file exists and is readable', {
      cause: err,
    });
  }
  let written: () => void = () => undefined;
  let failed: (err: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    written = resolve;
    failed = reject;
  });
  const sink = tar.entry({ ...header, size }, (err) => (err ? failed(err) : written()));
  for await (const chunk of createReadStream(source) as AsyncIterable<Buffer>) {
    if (!sink.write(chunk)) await once(sink, 'drain');
  }
  sink.end(null);
  await done;
}

function notWritable(path: string, err: unknown): EdgemarkError {
  return new EdgemarkError(
    'EM_IMAGE_OUT_UNWRITABLE',
    `[image] cannot write ${path} (${errnoCode(err) ?? String(err)})`,
    'choose a writable place with --out, or fix the permissions of its directory',
    { cause: err },
  );
}
