import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkEnvelope, createEnvelope, envelopeName, envelopeUsage, goMemLimit, inEnvelope, parseMemory, removeEnvelope } from './envelope.js';

const GiB = 2 ** 30;

test('envelope on cgroup v2: one cgroup with cpu.max and memory.max (no swap), controllers delegated from the root down', () => {
  const root = mkdtempSync(join(tmpdir(), 'em-cg2-'));
  try {
    const r = createEnvelope('/state/a', { cpus: 2, memoryBytes: GiB }, [{ dir: root, type: 'cgroup2', options: 'rw' }]);
    const dir = join(root, 'edgemark', envelopeName('/state/a'));
    assert.deepEqual(r, { cpus: 2, memoryBytes: GiB, cgroup: 2, dirs: [dir] });
    assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), '200000 100000');
    assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), String(GiB));
    assert.equal(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
    assert.equal(readFileSync(join(root, 'edgemark', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
    writeFileSync(join(dir, 'memory.current'), '734003200\n');
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n');
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 4500000\nuser_usec 1\n');
    writeFileSync(join(dir, 'cgroup.procs'), '10\n11\n');
    assert.deepEqual(envelopeUsage(r), { usedBytes: 734003200, cpuSeconds: 4.5, oomKills: 1, pids: [10, 11] });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('envelope on cgroup v1: the cpu hierarchy gets the CFS quota, the memory one the limit (and memsw when swap is accounted); usage and OOM kills are read back', () => {
  const root = mkdtempSync(join(tmpdir(), 'em-cg1-'));
  try {
    const cpu = join(root, 'cpu,cpuacct');
    const memory = join(root, 'memory');
    const name = envelopeName('/state/b');
    // memsw exists where the kernel accounts swap: pretend it does.
    mkdirSync(join(memory, 'edgemark', name), { recursive: true });
    writeFileSync(join(memory, 'edgemark', name, 'memory.memsw.limit_in_bytes'), '');
    const mounts = [
      { dir: join(root, 'systemd'), type: 'cgroup' as const, options: 'rw,name=systemd' },
      { dir: cpu, type: 'cgroup' as const, options: 'rw,cpu,cpuacct' },
      { dir: memory, type: 'cgroup' as const, options: 'rw,memory' },
      { dir: join(root, 'unified'), type: 'cgroup2' as const, options: 'rw' },
    ];
    const r = createEnvelope('/state/b', { cpus: 1.5, memoryBytes: 768 * 2 ** 20 }, mounts);
    assert.equal(r.cgroup, 1, 'a hybrid machine (v1 controllers, an empty unified tree) uses v1');
    assert.deepEqual(r.dirs, [join(cpu, 'edgemark', name), join(memory, 'edgemark', name)]);
    assert.equal(readFileSync(join(r.dirs[0]!, 'cpu.cfs_quota_us'), 'utf8'), '150000');
    assert.equal(readFileSync(join(r.dirs[0]!, 'cpu.cfs_period_us'), 'utf8'), '100000');
    assert.equal(readFileSync(join(r.dirs[1]!, 'memory.limit_in_bytes'), 'utf8'), String(768 * 2 ** 20));
    assert.equal(readFileSync(join(r.dirs[1]!, 'memory.memsw.limit_in_bytes'), 'utf8'), String(768 * 2 ** 20));
    writeFileSync(join(r.dirs[1]!, 'memory.usage_in_bytes'), '500000000\n');
    writeFileSync(join(r.dirs[1]!, 'memory.max_usage_in_bytes'), '700000000\n');
    writeFileSync(join(r.dirs[1]!, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
    writeFileSync(join(r.dirs[0]!, 'cpuacct.usage'), '2000000000\n');
    const u = envelopeUsage(r);
    assert.deepEqual([u.usedBytes, u.peakBytes, u.cpuSeconds, u.oomKills], [500000000, 700000000, 2, 3]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('envelope: too small is refused before anything is made; sizes parse; memory shares stay under the envelope', () => {
  assert.throws(
    () => checkEnvelope({ cpus: 2, memoryBytes: 48 * 2 ** 20 }),
    (e: Error & { code?: string }) => e.code === 'EM_ENVELOPE_TOO_SMALL' && /48Mi is too small/.test(e.message),
  );
  assert.throws(() => checkEnvelope({ cpus: 0.1, memoryBytes: GiB }), /too small/);
  assert.doesNotThrow(() => checkEnvelope({ cpus: 2, memoryBytes: GiB }));
  assert.equal(parseMemory('1Gi'), GiB);
  assert.equal(parseMemory('768Mi'), 768 * 2 ** 20);
  assert.equal(parseMemory('1.5Gi'), 1.5 * GiB);
  assert.equal(parseMemory('lots'), undefined);
  const shares = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => goMemLimit({ cpus: 2, memoryBytes: GiB }, c));
  assert.ok(shares.reduce((a, b) => a + b, 0) < GiB);
});

test('a component joins the envelope before it execs: its pid is in every cgroup.procs, then it runs as the binary (same pid)', () => {
  const root = mkdtempSync(join(tmpdir(), 'em-cgx-'));
  try {
    const a = join(root, 'cpu,cpuacct');
    const b = join(root, 'memory');
    mkdirSync(a);
    mkdirSync(b);
    const run = inEnvelope({ cpus: 1, memoryBytes: GiB, cgroup: 1, dirs: [a, b] }, '/bin/sh', ['-c', 'echo "$$ $1"', 'x', 'arg one']);
    const r = spawnSync(run.command, run.args, { env: { ...process.env, ...run.env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [pid, arg] = [r.stdout.trim().split(' ')[0], r.stdout.trim().split(' ').slice(1).join(' ')];
    assert.equal(arg, 'arg one');
    assert.equal(readFileSync(join(a, 'cgroup.procs'), 'utf8').trim(), pid);
    assert.equal(readFileSync(join(b, 'cgroup.procs'), 'utf8').trim(), pid);
    // A cgroup it cannot join stops it before the binary runs.
    const bad = inEnvelope({ cpus: 1, memoryBytes: GiB, cgroup: 2, dirs: [join(root, 'missing')] }, '/bin/echo', ['ran']);
    const r2 = spawnSync(bad.command, bad.args, { env: { ...process.env, ...bad.env }, encoding: 'utf8' });
    assert.equal(r2.status, 97);
    assert.doesNotMatch(r2.stdout, /ran/);
    assert.deepEqual(removeEnvelope({ cpus: 1, memoryBytes: GiB, cgroup: 1, dirs: [join(root, 'gone')] }), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
