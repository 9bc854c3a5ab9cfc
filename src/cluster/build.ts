/**
 * Builds the control-plane binaries from their published Go modules into a
 * cache directory this tool owns. A build output is keyed by everything that
 * decides its bytes (Go version, wrapper go.mod/go.sum, flags), is written to a
 * temporary directory and renamed into place when complete, so a killed build
 * never looks finished and a second run is a no-op.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync, chmodSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgemarkError, errnoCode } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { pidAlive } from '../core/proc.js';
import type { BinarySpec, ToolsetPin } from './pins.js';

/** Bump when the way binaries are built changes, to invalidate old outputs. */
const RECIPE_VERSION = 1;
export const MIN_GO = { major: 1, minor: 24 };
/** Free space a cold build needs in the cache (module zips, build cache, binaries). */
const MIN_FREE_BYTES = 8 * 1024 ** 3;

export interface GoInfo {
  version: string;
  major: number;
  minor: number;
  patch: number;
}

/** Parses `go version` output, e.g. "go version go1.26.8 linux/amd64". */
export function parseGoVersion(text: string): GoInfo | undefined {
  const m = /go version go(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return {
    version: `go${m[1]}.${m[2]}${m[3] ? `.${m[3]}` : ''}`,
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3] ?? 0),
  };
}

const goInstallHint =
  'install Go 1.24 or newer (the official linux tarball, or golang-1.24 or later from Debian backports) ' +
  "and put its bin directory on PATH; Debian bookworm's golang-go (1.19) is too old";

export function checkGo(goBinary = 'go'): GoInfo {
  let out: string;
  try {
    out = execFileSync(goBinary, ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      throw new EdgemarkError('EM_GO_MISSING', '[setup] the Go toolchain (`go`) is not on PATH', goInstallHint, {
        cause: err,
      });
    }
    throw new EdgemarkError('EM_GO_BROKEN', '[setup] `go version` failed', goInstallHint, { cause: err });
  }
  const info = parseGoVersion(out);
  if (!info) {
    throw new EdgemarkError('EM_GO_BROKEN', `[setup] cannot read the Go version from: ${out.trim()}`, goInstallHint);
  }
  if (info.major < MIN_GO.major || (info.major === MIN_GO.major && info.minor < MIN_GO.minor)) {
    throw new EdgemarkError(
      'EM_GO_TOO_OLD',
      `[setup] ${info.version} is too old: the wrapper modules need go${MIN_GO.major}.${MIN_GO.minor} or newer`,
      goInstallHint,
    );
  }
  return info;
}

export interface BuildTarget {
  pin: ToolsetPin;
  /** 'core' binaries run the cluster; 'peers' are benchmark peers; 'worker' runs a real worker node. */
  part: BuildPart;
}

export type BuildPart = 'core' | 'peers' | 'worker';

export function binaryPart(b: BinarySpec): BuildPart {
  return b.peer ? 'peers' : b.worker ? 'worker' : 'core';
}

export function targetBinaries(t: BuildTarget) {
  return t.pin.binaries.filter((b) => binaryPart(b) === t.part);
}

/** The cache key of a build output: every input that decides its bytes. */
export function targetKey(t: BuildTarget, go: GoInfo, root = packageRoot()): string {
  const dir = join(root, 'controlplane', t.pin.dir);
  const h = createHash('sha256');
  // Only this part's binaries count: a change to a peer leaves the core's key alone.
  const pin = { ...t.pin, binaries: targetBinaries(t) };
  h.update(JSON.stringify({ recipe: RECIPE_VERSION, go: go.version, pin, part: t.part }));
  h.update(readFileSync(join(dir, 'go.mod')));
  h.update(readFileSync(join(dir, 'go.sum')));
  return h.digest('hex').slice(0, 16);
}

export function targetDir(cacheDir: string, t: BuildTarget, key: string): string {
  return join(cacheDir, 'bin', `${t.pin.toolset}-${t.pin.version}-${t.part}-${key}`);
}

export type BuildEvent =
  | { kind: 'cached'; target: BuildTarget; dir: string }
  | { kind: 'start'; target: BuildTarget; binaries: string[]; log: string }
  | { kind: 'tick'; target: BuildTarget; elapsedMs: number; log: string }
  | { kind: 'done'; target: BuildTarget; elapsedMs: number; dir: string }
  | { kind: 'waiting-lock'; holderPid: number };

export interface BuildOptions {
  cacheDir: string;
  onEvent?: (e: BuildEvent) => void;
  goBinary?: string;
  root?: string;
  /** Interval of 'tick' progress events. */
  tickMs?: number;
  signal?: AbortSignal;
}

export function goEnv(cacheDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOMODCACHE: join(cacheDir, 'go', 'mod'),
    GOCACHE: join(cacheDir, 'go', 'build'),
    GOFLAGS: '-trimpath -modcacherw -mod=readonly',
    GOWORK: 'off',
    GOTOOLCHAIN: 'local',
  };
}

/** Returns the directory holding the target's binaries, building them if needed. */
export async function ensureBuilt(t: BuildTarget, opts: BuildOptions): Promise<string> {
  const root = opts.root ?? packageRoot();
  const go = checkGo(opts.goBinary);
  const key = targetKey(t, go, root);
  const out = targetDir(opts.cacheDir, t, key);
  if (existsSync(join(out, '.complete'))) {
    opts.onEvent?.({ kind: 'cached', target: t, dir: out });
    return out;
  }
  mkdirSync(opts.cacheDir, { recursive: true });
  const release = await acquireLock(opts.cacheDir, opts);
  try {
    // Another process may have finished the same build while we waited.
    if (existsSync(join(out, '.complete'))) {
      opts.onEvent?.({ kind: 'cached', target: t, dir: out });
      return out;
    }
    checkFreeSpace(opts.cacheDir);
    await build(t, out, opts, root, go);
    return out;
  } finally {
    release();
  }
}

function checkFreeSpace(dir: string): void {
  const s = statfsSync(dir);
  const free = s.bavail * s.bsize;
  if (free < MIN_FREE_BYTES) {
    throw new EdgemarkError(
      'EM_DISK_FULL',
      `[setup] only ${(free / 1024 ** 3).toFixed(1)} GiB free under ${dir}; a cold build needs about ${MIN_FREE_BYTES / 1024 ** 3} GiB`,
      'free some space, or point EDGEMARK_CACHE_DIR (or --cache-dir) at a larger disk',
    );
  }
}

async function build(t: BuildTarget, out: string, opts: BuildOptions, root: string, go: GoInfo) {
  const logDir = join(opts.cacheDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const log = join(logDir, `build-${t.pin.toolset}-${t.part}.log`);
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const bins = targetBinaries(t);
  const started = Date.now();
  opts.onEvent?.({ kind: 'start', target: t, binaries: bins.map((b) => b.name), log });
  const logStream = createWriteStream(log, { flags: 'w' });
  logStream.write(`# edgemark build of ${t.pin.toolset} ${t.pin.version} (${t.part}) with ${go.version}\n`);
  const ticker = setInterval(() => opts.onEvent?.({ kind: 'tick', target: t, elapsedMs: Date.now() - started, log }), opts.tickMs ?? 15_000);
  try {
    const cwd = join(root, 'controlplane', t.pin.dir);
    const env = goEnv(opts.cacheDir);
    const ldflags = ['-s', '-w', ...t.pin.ldflags].join(' ');
    // Binaries that share cgo settings build in one `go build`, sharing work.
    for (const cgo of [false, true]) {
      const group = bins.filter((b) => b.cgo === cgo && !b.sourceFix);
      if (group.length === 0) continue;
      const args = ['build', '-ldflags', ldflags];
      if (group.length === 1) args.push('-o', join(tmp, group[0]!.name), group[0]!.pkg);
      else args.push('-o', `${tmp}/`, ...group.map((b) => b.pkg));
      await run('go', args, { cwd, env: { ...env, CGO_ENABLED: cgo ? '1' : '0' } }, logStream, log, opts.signal);
    }
    for (const b of bins.filter((x) => x.sourceFix)) {
      const { overlay, pkg } = await writeOverlay(b, tmp, { cwd, env }, logStream, log);
      const args = ['build', '-overlay', overlay, '-ldflags', ldflags, '-o', join(tmp, b.name), pkg];
      await run('go', args, { cwd, env: { ...env, CGO_ENABLED: b.cgo ? '1' : '0' } }, logStream, log, opts.signal);
      writeFileSync(join(tmp, `${b.name}.fix`), `${b.sourceFix!.module}/${b.sourceFix!.file}: ${b.sourceFix!.why}\n`);
    }
    rmSync(join(tmp, 'overlay'), { recursive: true, force: true });
    if (t.pin.extract && t.part === 'core') {
      const info = JSON.parse(await capture('go', ['mod', 'download', '-json', t.pin.extract.module], { cwd, env }, logStream, log)) as { Dir?: string };
      if (!info.Dir) {
        throw new EdgemarkError('EM_BUILD_FAILED', `[setup] go did not report a directory for ${t.pin.extract.module}; log: ${log}`);
      }
      cpSync(join(info.Dir, t.pin.extract.from), join(tmp, t.pin.extract.to), { recursive: true });
      makeWritable(join(tmp, t.pin.extract.to));
    }
    const elapsedMs = Date.now() - started;
    writeFileSync(join(tmp, '.complete'), JSON.stringify({ toolset: t.pin.toolset, version: t.pin.version, part: t.part, go: go.version, elapsedMs }, null, 2));
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
    opts.onEvent?.({ kind: 'done', target: t, elapsedMs, dir: out });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    clearInterval(ticker);
    await new Promise<void>((r) => logStream.end(r));
  }
}

/**
 * Copies the main package's file out of the module cache, applies the fix's
 * edits (each must match exactly once), and returns a `go build -overlay` file
 * that shows the copy as a main package of the wrapper module (Go refuses
 * overlays inside the module cache; the wrapper's go.mod already requires
 * every package it imports). Nothing is written to the wrapper directory.
 */
async function writeOverlay(
  b: BinarySpec,
  tmp: string,
  o: { cwd: string; env: NodeJS.ProcessEnv },
  logStream: NodeJS.WritableStream,
  log: string,
): Promise<{ overlay: string; pkg: string }> {
  const fix = b.sourceFix!;
  const info = JSON.parse(await capture('go', ['mod', 'download', '-json', fix.module], o, logStream, log)) as { Dir?: string };
  if (!info.Dir) throw new EdgemarkError('EM_BUILD_FAILED', `[setup] go did not report a directory for ${fix.module}; log: ${log}`);
  const original = join(info.Dir, fix.file);
  let text = readFileSync(original, 'utf8');
  for (const e of fix.edits) {
    const at = text.indexOf(e.find);
    if (at < 0 || text.indexOf(e.find, at + 1) >= 0) {
      throw new EdgemarkError(
        'EM_BUILD_FAILED',
        `[setup] the fix for ${fix.module}/${fix.file} no longer applies: ${JSON.stringify(e.find.trim())} occurs ${at < 0 ? 'nowhere' : 'more than once'}`,
        'this fix is written for the pinned release only; pin that release or drop the fixed binary',
      );
    }
    text = text.slice(0, at) + e.replace + text.slice(at + e.find.length);
  }
  const dir = join(tmp, 'overlay');
  mkdirSync(dir, { recursive: true });
  const copy = join(dir, basename(fix.file));
  writeFileSync(copy, text);
  const pkgDir = `zz_${b.name.replace(/[^a-z0-9]/gi, '_')}`;
  const overlay = join(dir, 'overlay.json');
  writeFileSync(overlay, JSON.stringify({ Replace: { [join(o.cwd, pkgDir, basename(fix.file))]: copy } }));
  logStream.write(`# ${fix.module}/${fix.file}: ${fix.why}; ${fix.edits.length} edits applied in ${copy}, built as ./${pkgDir}\n`);
  return { overlay, pkg: `./${pkgDir}` };
}

function makeWritable(dir: string): void {
  execFileSync('chmod', ['-R', 'u+w', dir]);
}

function tailOf(file: string, lines: number): string[] {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines);
  } catch {
    return [];
  }
}

function run(
  cmd: string,
  args: string[],
  o: { cwd: string; env: NodeJS.ProcessEnv },
  logStream: NodeJS.WritableStream,
  log: string,
  signal?: AbortSignal,
): Promise<void> {
  logStream.write(`$ ${cmd} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(logStream, { end: false });
    child.stderr.pipe(logStream, { end: false });
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) return resolve();
      // Give the pipes a moment to flush into the log before reading its tail.
      setTimeout(() => {
        reject(
          new EdgemarkError(
            signal?.aborted ? 'EM_BUILD_INTERRUPTED' : 'EM_BUILD_FAILED',
            `[setup] \`${cmd} ${args[0]}\` in controlplane/${o.cwd.split('/').pop()} ${
              sig ? `was stopped by ${sig}` : `failed with exit code ${code}`
            }; full log: ${log}`,
            signal?.aborted
              ? 'run the same command again; the build resumes from the Go build cache'
              : 'read the log above; a network error usually passes on a retry, a compile error means the pin needs a change',
            { details: ['last lines of the log:', ...tailOf(log, 20)] },
          ),
        );
      }, 50);
    });
  });
}

function capture(cmd: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv }, logStream: NodeJS.WritableStream, log: string): Promise<string> {
  logStream.write(`$ ${cmd} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.pipe(logStream, { end: false });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new EdgemarkError('EM_BUILD_FAILED', `[setup] \`${cmd} ${args.join(' ')}\` failed; log: ${log}`)),
    );
  });
}

/**
 * One build at a time per cache directory. The lock is a directory (mkdir is
 * atomic) holding the owner's pid; a lock whose owner died is taken over.
 */
async function acquireLock(cacheDir: string, opts: BuildOptions): Promise<() => void> {
  const lock = join(cacheDir, '.build.lock');
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      chmodSync(lock, 0o755);
      return () => rmSync(lock, { recursive: true, force: true });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        /* being created or removed right now */
      }
      if (Number.isFinite(holder) && !pidAlive(holder)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced && Number.isFinite(holder)) {
        opts.onEvent?.({ kind: 'waiting-lock', holderPid: holder });
        announced = true;
      }
      if (opts.signal?.aborted) {
        throw new EdgemarkError('EM_BUILD_INTERRUPTED', '[setup] interrupted while waiting for another build');
      }
      await sleep(1000);
    }
  }
}
