import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Target } from '../target/target.js';
import { RUN_LABEL } from '../workload/kube.js';
import { resolveTest } from './config.js';
import { fleetFor } from './runtime-fleet.js';

const target: Target = {
  name: 'test target',
  local: undefined,
  kubeconfig: undefined,
  cloudcore: [{ websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002' }],
  apiserver: undefined,
  nodeLimit: undefined,
  tokenSource: 'nowhere',
  token: async () => 'never read here',
  apiserverCa: undefined,
  bootstrapTokenSource: 'nowhere',
  bootstrapToken: async () => 'never read here',
  kubeletIdentitySource: 'nowhere',
  kubeletCredentials: async () => ({ bootstrapToken: 'never read here' }),
};

test("a test's spec.nodes becomes a plan against the run's target: its nodes labelled with the run, pods traced, bounded in time", () => {
  const t = resolveTest({ profile: 'density', overrides: { spec: { nodes: { count: 3, workers: 8, cpu: '4' } } } });
  const { plan, runtime } = fleetFor({ test: t, runId: 'r-1' }, target, '/runs/r-1');
  assert.equal(runtime.name, 'workers');
  const g = plan.groups[0]!;
  assert.equal(g.count, 3);
  assert.equal(g.prefix, t.spec.nodes[0]!.prefix);
  assert.equal(g.kind, 'edge');
  assert.equal(plan.target.apiserverCa, undefined, 'no kubelet node: no apiserver CA in the plan');
  assert.deepEqual((g.profile as { labels: Record<string, string> }).labels, { [RUN_LABEL]: 'r-1' });
  assert.equal((g.profile as { cpu: string }).cpu, '4');
  assert.equal(plan.observe.tracePods, true, 'delivery latency needs the milestones');
  assert.equal(plan.dataDir, '/runs/r-1/runner');
  assert.equal(plan.durationSeconds, t.spec.timeoutSeconds + 60, 'the nodes stop by themselves after the run');
  assert.deepEqual(plan.target.cloudcore, target.cloudcore);
  // Never more worker processes than nodes.
  assert.match(runtime.dryRun(plan).actions.join('\n'), /in 3 worker process\(es\)/);
  assert.equal(fleetFor({ test: t, runId: 'r-1' }, target, '/runs/r-1', 'inprocess').runtime.name, 'inprocess');
});

test('a test with node groups of both kinds becomes one plan: a group per kind, the fleet paced and sharded over all of them', () => {
  const t = resolveTest({
    profile: 'density',
    overrides: {
      spec: {
        nodes: [
          { count: 4, joinRate: 20 },
          { kind: 'kubelet', count: 6, joinRate: 30, workers: 2, proxy: 'per-node', shape: 'kubelet' },
        ],
      },
    },
  });
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const { plan, runtime } = fleetFor({ test: t, runId: 'r-2' }, { ...target, apiserver: 'https://127.0.0.1:6443', apiserverCa: ca }, '/runs/r-2');
  assert.deepEqual(
    plan.groups.map((g) => [g.name, g.kind, g.count, g.prefix]),
    [
      ['edge', 'edge', 4, 'run-edge-'],
      ['kubelet', 'kubelet', 6, 'run-kubelet-'],
    ],
  );
  assert.deepEqual(plan.groups[1]!.profile, { shape: 'kubelet', proxy: 'per-node', labels: { [RUN_LABEL]: 'r-2' } });
  assert.deepEqual(plan.groups[0]!.profile, { cpu: '2', memory: '4Gi', pods: '110', labels: { [RUN_LABEL]: 'r-2' } });
  assert.equal(plan.pacing.joinRate, 50);
  assert.equal(plan.target.apiserverCa, ca);
  assert.match(runtime.dryRun(plan).actions.join('\n'), /in 3 worker process\(es\)/);
});
