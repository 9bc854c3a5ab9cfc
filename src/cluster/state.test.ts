import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { defaultPorts } from './ports.js';
import { readState, requireState, statePath, writeState, type ClusterState } from './state.js';

test('state round-trips; a missing cluster and a corrupt file give clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'em-state-'));
  assert.throws(
    () => requireState(dir),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_CLUSTER_NOT_FOUND',
  );
  const s: ClusterState = {
    apiVersion: 'edgemark.io/v1alpha1',
    kind: 'LocalCluster',
    stateDir: dir,
    ports: defaultPorts,
    versions: { etcd: 'v3.5.24' },
    nodeLimit: 1000,
    kubeconfig: join(dir, 'admin.kubeconfig'),
    components: { etcd: { pid: 1, startTicks: 2, startedAt: 'now', binary: '/b/etcd', log: '/l' } },
  };
  writeState(s);
  assert.deepEqual(readState(dir), s);
  writeFileSync(statePath(dir), '{"apiVersion":"edgemark.io/v1alpha1"');
  assert.throws(
    () => readState(dir),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_STATE_CORRUPT' && /--purge/.test(e.fix ?? ''),
  );
});
