/**
 * The images against the real tools: `edgemark image build` writes an archive
 * that skopeo reads (name, layers, user, entrypoint) and copies into an OCI
 * layout, and that a private containerd (its own root, state and socket under a
 * temporary directory; never the system one) imports and runs as user 65532,
 * printing the package version and loading better-sqlite3; the pause image
 * imports, runs and exits 0 on SIGTERM. Nothing is left behind: no process, no
 * mount under containerd's root, no directory.
 * Needs Debian's containerd, runc and skopeo (scripts/test installs them).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { defaultCacheDir, packageVersion } from '../../src/core/paths.js';
import { DEFAULT_IMAGE } from '../../src/image/ref.js';
import { PAUSE_IMAGE } from '../../src/image/pause.js';
import { runCli } from './harness.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'em-image-it-'));
const sock = join(dir, 'containerd.sock');
const root = join(dir, 'root');
const runcRoot = join(dir, 'runc');
const fifoDir = join(dir, 'fifo');
const archive = join(dir, 'edgemark.tar');
const version = packageVersion();
let containerd: ChildProcess | undefined;
let pauseArchive = '';
const containers: string[] = [];

function ctr(args: string[], timeout = 120_000) {
  return exec('ctr', ['-a', sock, '-n', 'k8s.io', ...args], { timeout, encoding: 'utf8' });
}

async function need(tool: string, args: string[]): Promise<void> {
  try {
    await exec(tool, args, { timeout: 10_000 });
  } catch (err) {
    throw new Error(`${tool} is needed: apt-get install -y --no-install-recommends containerd runc skopeo (${String(err)})`);
  }
}

before(async () => {
  for (const [tool, args] of [
    ['containerd', ['--version']],
    ['ctr', ['--version']],
    ['runc', ['--version']],
    ['skopeo', ['--version']],
  ] as const) {
    await need(tool, [...args]);
  }
  const built = await runCli(['--cache-dir', defaultCacheDir(), 'image', 'build', '--out', archive], { timeoutMs: 300_000 });
  assert.equal(built.code, 0, built.stderr);
  process.stdout.write(`# ${built.stderr.split('\n').slice(0, 2).join('\n# ')}\n`);
  const pause = await runCli(['--cache-dir', defaultCacheDir(), 'image', 'pause'], { timeoutMs: 300_000 });
  assert.equal(pause.code, 0, pause.stderr);
  pauseArchive = pause.stdout.trim();

  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${join(dir, 'state')}"`,
      // Only images, snapshots and tasks are needed; the CRI plugin would want kubelet settings.
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const log = openSync(join(dir, 'containerd.log'), 'a');
  containerd = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', log, log] });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await ctr(['version'], 5_000);
      break;
    } catch (err) {
      if (Date.now() > deadline || containerd.exitCode !== null) {
        throw new Error(`private containerd did not answer on ${sock}: ${String(err)}\n${readFileSync(join(dir, 'containerd.log'), 'utf8').slice(-2000)}`);
      }
      await sleep(200);
    }
  }
});

after(async () => {
  for (const id of containers) {
    await ctr(['task', 'kill', '-s', 'SIGKILL', id], 10_000).catch(() => undefined);
    await ctr(['task', 'delete', '--force', id], 10_000).catch(() => undefined);
    await ctr(['container', 'delete', id], 10_000).catch(() => undefined);
  }
  if (containerd && containerd.exitCode === null) {
    const exited = new Promise((r) => containerd!.once('exit', r));
    containerd.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (containerd.exitCode === null && containerd.signalCode === null) containerd.kill('SIGKILL');
  }
  for (const pid of shimsOfOurs()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  for (const m of mountsUnder(dir).reverse()) await exec('umount', ['-l', m]).catch(() => undefined);
  const leftMounts = mountsUnder(dir);
  const leftShims = shimsOfOurs();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(leftMounts, [], 'mounts left under the private containerd');
  assert.deepEqual(leftShims, [], 'shims of the private containerd still running');
});

/** Mount points under `prefix`, parents first. */
function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(prefix))
    .sort();
}

/** Processes (the runc shims) whose command line names our socket or directory. */
function shimsOfOurs(): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === containerd?.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) pids.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

test('skopeo reads the edgemark image: labels, three layers, user 65532 and the entrypoint; and copies it whole', { timeout: 120_000 }, async () => {
  const { stdout } = await exec('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8', timeout: 60_000 });
  const info = JSON.parse(stdout) as { Layers: string[]; Labels: Record<string, string>; Os: string };
  assert.equal(info.Layers.length, 3);
  assert.equal(info.Labels['org.opencontainers.image.version'], version);
  assert.equal(info.Os, 'linux');
  const config = JSON.parse((await exec('skopeo', ['inspect', '--config', `docker-archive:${archive}`], { encoding: 'utf8', timeout: 60_000 })).stdout) as {
    config: { User: string; Entrypoint: string[]; WorkingDir: string };
  };
  assert.equal(config.config.User, '65532:65532');
  assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/node', '/app/dist/src/cli/main.js']);
  assert.equal(config.config.WorkingDir, '/app');
  // What a push does, to a local OCI layout instead of a registry: every blob read and checked.
  await exec('skopeo', ['copy', `docker-archive:${archive}`, `oci:${join(dir, 'oci')}:edgemark`], { timeout: 120_000 });
  const index = JSON.parse(readFileSync(join(dir, 'oci', 'index.json'), 'utf8')) as { manifests: unknown[] };
  assert.equal(index.manifests.length, 1);
});

test('containerd imports the edgemark image under its pinned name, and it runs: version, user, better-sqlite3', { timeout: 240_000 }, async () => {
  await ctr(['images', 'import', archive], 180_000);
  const names = (await ctr(['images', 'ls', '-q'])).stdout.split('\n');
  assert.ok(names.includes(DEFAULT_IMAGE), `images: ${names.join(', ')}`);

  const run = async (id: string, args: string[]) => {
    containers.push(id);
    return (await ctr(['run', '--rm', '--runc-root', runcRoot, '--fifo-dir', fifoDir, DEFAULT_IMAGE, id, ...args], 60_000)).stdout.trim();
  };
  assert.equal(await run('em-version', ['/usr/local/bin/node', '/app/dist/src/cli/main.js', '--version']), version);
  const probe = [
    "const D = require('/app/node_modules/better-sqlite3');",
    "const row = new D(':memory:').prepare('select 1 + 1 as two').get();",
    "console.log(JSON.stringify({ uid: process.getuid(), cwd: process.cwd(), user: require('os').userInfo().username, two: row.two }));",
  ].join(' ');
  assert.deepEqual(JSON.parse(await run('em-probe', ['/usr/local/bin/node', '-e', probe])), { uid: 65532, cwd: '/app', user: 'edgemark', two: 2 });
  const versions = await run('em-versions', ['/usr/local/bin/node', '/app/dist/src/cli/main.js', 'versions']);
  assert.match(versions, /kubeedge\s+v1\.23\.1/);
});

test('containerd imports the pause image; it runs and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
  await ctr(['images', 'import', pauseArchive], 60_000);
  assert.ok((await ctr(['images', 'ls', '-q'])).stdout.split('\n').includes(PAUSE_IMAGE));
  const id = 'em-pause';
  containers.push(id);
  const running = spawn('ctr', ['-a', sock, '-n', 'k8s.io', 'run', '--rm', '--runc-root', runcRoot, '--fifo-dir', fifoDir, PAUSE_IMAGE, id], {
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((r) => running.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!/\bRUNNING\b/.test((await ctr(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '')) {
      assert.ok(Date.now() < deadline, 'the pause task never ran');
      await sleep(200);
    }
    await ctr(['task', 'kill', '-s', 'SIGTERM', id]);
    const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, 'pause exits 0 on SIGTERM (ctr run returns the task exit status)');
  } finally {
    if (running.exitCode === null) running.kill('SIGKILL');
  }
});
