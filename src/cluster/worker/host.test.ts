import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EdgemarkError } from '../../core/errors.js';
import { checkWorkerPackages, checkWorkerPrivilege, missingWorkerFiles, mountsUnder, parseMounts, sysctlMasks } from './host.js';

test('missing packages are named with the command that installs them', () => {
  assert.deepEqual(
    missingWorkerFiles(() => true),
    [],
  );
  const missing = missingWorkerFiles((p) => !p.startsWith('/usr/lib/cni'));
  assert.deepEqual([...new Set(missing.map((m) => m.pkg))], ['containernetworking-plugins']);
  assert.throws(
    () => checkWorkerPackages((p) => p !== '/usr/sbin/runc'),
    (e: unknown) =>
      e instanceof EdgemarkError &&
      e.code === 'EM_WORKER_NODE_PACKAGES' &&
      e.message.includes('/usr/sbin/runc (package runc)') &&
      (e.fix ?? '').includes('apt-get install -y --no-install-recommends containerd runc containernetworking-plugins'),
  );
});

test('a worker needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN', () => {
  const full = 'Name:\tnode\nCapEff:\t000001ffffffffff\n';
  checkWorkerPrivilege(full, 0);
  assert.throws(
    () => checkWorkerPrivilege(full, 1000),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_WORKER_NODE_PRIVILEGE' && /uid 1000/.test(e.message),
  );
  // Root without CAP_NET_ADMIN (bit 12), as in a restricted container.
  assert.throws(
    () => checkWorkerPrivilege('CapEff:\t00000000a80425fb\n', 0),
    (e: unknown) => e instanceof EdgemarkError && /capabilities missing/.test(e.message),
  );
});

test('mounts under a directory, escapes decoded, deepest first', () => {
  const text = [
    'proc /proc proc rw 0 0',
    'overlay /s/worker-0/containerd/state/a/rootfs overlay rw 0 0',
    'shm /s/worker-0/containerd/state/a/shm tmpfs rw 0 0',
    'tmpfs /s/worker-0/kubelet/pods/x/volumes/with\\040space tmpfs rw 0 0',
    'tmpfs /s/worker-01 tmpfs rw 0 0',
  ].join('\n');
  assert.equal(parseMounts(text)[3]?.dir, '/s/worker-0/kubelet/pods/x/volumes/with space');
  assert.deepEqual(mountsUnder('/s/worker-0', text), [
    '/s/worker-0/kubelet/pods/x/volumes/with space',
    '/s/worker-0/containerd/state/a/rootfs',
    '/s/worker-0/containerd/state/a/shm',
  ]);
});

test('only the sysctls whose value differs from what the kubelet wants are masked, each by a file with that value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'em-sysctl-'));
  const now: Record<string, string> = { 'vm/overcommit_memory': '0\n', 'kernel/panic': '10\n' };
  const masks = sysctlMasks({ 'vm/overcommit_memory': 1, 'kernel/panic': 10, 'kernel/missing': 1 }, dir, (s) => {
    const v = now[s];
    if (v === undefined) throw new Error('ENOENT');
    return v;
  });
  assert.deepEqual(
    masks.map((m) => m.sysctl),
    ['vm/overcommit_memory'],
  );
  assert.equal(readFileSync(masks[0]!.file, 'utf8'), '1\n');
  rmSync(dir, { recursive: true, force: true });
});
