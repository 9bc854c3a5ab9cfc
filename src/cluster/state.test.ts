import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { defaultPorts } from './ports.js';
import { cloudcoreCount, clusterComponentNames, readState, requireState, statePath, writeState, type ClusterState } from './state.js';

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

test('a state file written before --cloudcores still loads, as one CloudCore; one with two round-trips', () => {
  const dir = mkdtempSync(join(tmpdir(), 'em-state-'));
  const proc = { pid: 1, startTicks: 2, startedAt: 'now', binary: '/b/cloudcore', log: '/l' };
  // As the previous release wrote it: no cloudcores, no ports of other instances.
  writeFileSync(
    statePath(dir),
    JSON.stringify({
      apiVersion: 'edgemark.io/v1alpha1',
      kind: 'LocalCluster',
      stateDir: dir,
      ports: defaultPorts,
      versions: {},
      nodeLimit: 1000,
      kubeconfig: '/k',
      components: { cloudcore: proc },
    }),
  );
  const old = readState(dir)!;
  assert.equal(cloudcoreCount(old), 1);
  assert.equal(clusterComponentNames(old).at(-1), 'cloudcore');
  const two: ClusterState = {
    ...old,
    cloudcores: 2,
    ports: { ...defaultPorts, 'cloudhubWebsocket-1': 10010, 'cloudhubHttps-1': 10012, 'cloudcoreMetrics-1': 9092 },
    components: { cloudcore: proc, 'cloudcore-1': { ...proc, pid: 3 } },
  };
  writeState(two);
  const back = readState(dir)!;
  assert.deepEqual(back, two);
  assert.deepEqual(clusterComponentNames(back).slice(-2), ['cloudcore', 'cloudcore-1']);
  writeFileSync(statePath(dir), JSON.stringify({ ...two, cloudcores: 4 }));
  assert.throws(
    () => readState(dir),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_STATE_CORRUPT',
  );
});
