import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { edgeStates } from '../edge/node.js';
import { mergeSummaries, type FleetSummary } from '../fleet/summary.js';
import { FD_RESERVE, planCapacity, sourceAddressOf } from './capacity.js';
import { checkKinds } from './kinds.js';
import { nodeIndex, nodeNames, parsePlan, PLAN_API_VERSION, shardPlan, type FleetPlanInput } from './plan.js';

const cap = { fdLimit: 20_000, ports: 28_232 };

test('one process takes up to its open-file limit; more asks for workers, with the number', () => {
  assert.deepEqual(planCapacity(5_000, 1, '127.0.0.1', cap), { perSourceAddress: 0 });
  assert.deepEqual(planCapacity(20_000 - FD_RESERVE, 1, '127.0.0.1', cap), { perSourceAddress: 0 });
  assert.throws(
    () => planCapacity(30_000, 1, '127.0.0.1', cap),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_FD_LIMIT' && /20000 open files/.test(e.message) && /--workers 2/.test(e.fix ?? ''),
  );
  assert.doesNotThrow(() => planCapacity(30_000, 2, '127.0.0.1', cap));
});

test('beyond 25,000 connections per target, loopback runs spread source addresses; remote targets are refused', () => {
  assert.deepEqual(planCapacity(60_000, 4, '127.0.0.1', cap), { perSourceAddress: 25_000 });
  assert.equal(sourceAddressOf(0, 25_000), '127.0.0.1');
  assert.equal(sourceAddressOf(24_999, 25_000), '127.0.0.1');
  assert.equal(sourceAddressOf(25_000, 25_000), '127.0.0.2');
  assert.equal(sourceAddressOf(59_999, 25_000), '127.0.0.3');
  assert.equal(sourceAddressOf(7, 0), undefined);
  assert.throws(
    () => planCapacity(60_000, 4, '10.0.0.5', cap),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_SOURCE_PORTS',
  );
  // A narrow port range lowers the share per address.
  assert.deepEqual(planCapacity(12_000, 1, '127.0.0.1', { fdLimit: 20_000, ports: 11_000 }), { perSourceAddress: 10_000 });
});

const input: FleetPlanInput = {
  apiVersion: PLAN_API_VERSION,
  kind: 'FleetPlan',
  target: { name: 'test', cloudcore: [{ websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002' }] },
  groups: [{ name: 'a', count: 10, prefix: 'p-' }],
  pacing: { joinRate: 90 },
  dataDir: '/d',
};
const plan = parsePlan(input);

test('a plan fills in its defaults and survives JSON (it crosses IPC and ConfigMaps as it is)', () => {
  assert.equal(plan.groups[0]!.kind, 'edge');
  assert.equal(plan.pacing.maxJoining, 200);
  assert.equal(plan.pacing.maxDialing, 64);
  assert.deepEqual(plan.observe, { tracePods: false, metrics: '127.0.0.1:0', nodeLog: false });
  assert.deepEqual(parsePlan(JSON.parse(JSON.stringify(plan))), plan);
});

test('bad plans are refused with the field that is wrong', () => {
  const refused = (over: unknown, match: RegExp) =>
    assert.throws(
      () => parsePlan({ ...input, ...(over as object) }),
      (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_PLAN_INVALID' && match.test(e.message),
    );
  refused({ apiVersion: 'v2' }, /apiVersion/);
  refused({ groups: [] }, /groups/);
  refused({ groups: [{ name: 'a', count: 0, prefix: 'p-' }] }, /groups\.0\.count/);
  refused({ groups: [{ name: 'a', count: 1, prefix: 'P' }] }, /groups\.0\.prefix/);
  refused(
    {
      groups: [
        { name: 'a', count: 1, prefix: 'p-' },
        { name: 'a', count: 1, prefix: 'q-' },
      ],
    },
    /two groups are named a/,
  );
  refused(
    {
      groups: [
        { name: 'a', count: 1, prefix: 'p-' },
        { name: 'b', count: 1, prefix: 'p-1' },
      ],
    },
    /can name the same node/,
  );
  refused({ pacing: { joinRate: 0 } }, /pacing\.joinRate/);
  refused({ extra: 1 }, /extra|Unrecognized/);
  refused({ groups: [{ name: 'a', count: 1, prefix: 'p-', link: { loss: 1 } }] }, /link/);
  assert.throws(
    () => checkKinds(parsePlan({ ...input, groups: [{ name: 'a', kind: 'openyurt', count: 1, prefix: 'p-' }] })),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_KIND_UNKNOWN' && /edge, kubelet/.test(e.fix ?? ''),
  );
  assert.throws(
    () => checkKinds(parsePlan({ ...input, groups: [{ name: 'a', count: 1, prefix: 'p-', profile: { cpu: 'lots' } }] })),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_PLAN_INVALID' && /profile\.cpu/.test(e.message),
  );
  assert.throws(
    () => checkKinds(parsePlan({ ...input, groups: [{ name: 'a', count: 1, prefix: 'p-', timings: { leaseRenewMss: 1 } }] })),
    (e: unknown) => e instanceof EdgemarkError && /unknown edge timing leaseRenewMss/.test(e.message),
  );
});

test('shards cover every node once (node j on worker j mod K), with a share of the join rate and window', () => {
  const s = shardPlan(plan, 3, 0);
  const nodes = s.map((p) => Array.from({ length: p.groups[0]!.count }, (_, i) => p.groups[0]!.firstIndex + i * p.groups[0]!.stride));
  assert.deepEqual(nodes, [
    [0, 3, 6, 9],
    [1, 4, 7],
    [2, 5, 8],
  ]);
  // More nodes with the same K: every earlier node stays on its worker.
  const bigger = shardPlan(parsePlan({ ...input, groups: [{ name: 'a', count: 20, prefix: 'p-' }] }), 3, 0);
  for (const [k, list] of nodes.entries()) for (const g of list) assert.equal((g - bigger[k]!.groups[0]!.firstIndex) % bigger[k]!.groups[0]!.stride, 0);
  assert.deepEqual(
    s.map((p) => p.index),
    [0, 1, 2],
  );
  assert.equal(s[0]!.joinRate, 30);
  assert.deepEqual(
    s.map((p) => p.maxJoining),
    [67, 67, 67],
  );
  assert.deepEqual(
    shardPlan(parsePlan({ ...input, pacing: { joinRate: 9, maxJoining: 0 } }), 3, 0).map((p) => p.maxJoining),
    [0, 0, 0],
  );
  // One process: one shard, every node, no worker index.
  const [only] = shardPlan(plan, undefined, 0);
  assert.equal(only!.index, undefined);
  assert.equal(only!.groups[0]!.count, 10);
});

test('groups get disjoint global indices (their fake addresses never collide)', () => {
  const two = parsePlan({
    ...input,
    groups: [
      { name: 'a', count: 5, prefix: 'a-' },
      { name: 'b', count: 4, prefix: 'b-' },
    ],
  });
  assert.deepEqual(nodeNames(two), ['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'b-0', 'b-1', 'b-2', 'b-3']);
  const [one] = shardPlan(two, undefined, 0);
  assert.deepEqual(
    one!.groups.map((g) => g.indexBase),
    [0, 5],
  );
  const s = shardPlan(two, 2, 0);
  assert.deepEqual(
    s.map((p) => p.groups.map((g) => [g.group.name, g.count, g.indexBase])),
    [
      [
        ['a', 3, 0],
        ['b', 2, 5],
      ],
      [
        ['a', 2, 0],
        ['b', 2, 5],
      ],
    ],
  );
});

function summary(over: Partial<FleetSummary>): FleetSummary {
  return {
    summaryVersion: 1,
    nodes: 0,
    states: Object.fromEntries(edgeStates.map((k) => [k, 0])),
    groups: {},
    kinds: {},
    started: 0,
    connected: 0,
    connectDurationMs: 0,
    connectRatePerSec: 0,
    connectCpuMs: 0,
    joined: 0,
    joinDurationMs: 0,
    joinRatePerSec: 0,
    joinWindow: { size: 0, waitedMs: 0 },
    reconnects: 0,
    errors: {},
    messagesIn: 0,
    messagesOut: 0,
    messagesByRoute: {},
    unserved: 0,
    pods: { running: 0, admitted: 0, rejected: 0 },
    unservedNodes: [],
    durationMs: 0,
    eventLoopLagMs: { p50: 0, p99: 0, max: 0 },
    ackLatencyMs: { p50: 0, p99: 0 },
    rssBytes: 0,
    heapUsedBytes: 0,
    workers: 1,
    ...over,
  };
}

test('worker summaries merge: counts add up, the worst lag wins, the join rate spans the slowest worker', () => {
  const a = summary({
    groups: { g: { kind: 'edge', nodes: 100, ready: 100 } },
    kinds: { edge: { certificateRequests: 100 } },
    nodes: 100,
    started: 100,
    connected: 100,
    connectDurationMs: 1000,
    connectCpuMs: 600,
    joined: 100,
    joinDurationMs: 2000,
    states: { ...summary({}).states, ready: 100 },
    messagesByRoute: { 'out update lease': 5 },
    errors: { connect: 1 },
    eventLoopLagMs: { p50: 1, p99: 9, max: 20 },
    rssBytes: 100,
    joinWindow: { size: 100, waitedMs: 300 },
  });
  const b = summary({
    groups: { g: { kind: 'edge', nodes: 100, ready: 99 } },
    kinds: { edge: { certificateRequests: 3 } },
    fatal: { code: 'EM_TOKEN_REJECTED', message: 'm', fix: 'f' },
    nodes: 100,
    started: 100,
    connected: 100,
    connectDurationMs: 1600,
    connectCpuMs: 800,
    joined: 100,
    joinDurationMs: 4000,
    states: { ...summary({}).states, ready: 99, joining: 1 },
    messagesByRoute: { 'out update lease': 7, 'in insert pod': 1 },
    eventLoopLagMs: { p50: 2, p99: 4, max: 30 },
    rssBytes: 50,
    joinWindow: { size: 100, waitedMs: 900 },
  });
  const m = mergeSummaries([a, b]);
  assert.equal(m.nodes, 200);
  assert.equal(m.states.ready, 199);
  assert.equal(m.states.joining, 1);
  assert.deepEqual(m.messagesByRoute, { 'in insert pod': 1, 'out update lease': 12 });
  assert.deepEqual(m.errors, { connect: 1 });
  assert.deepEqual(m.eventLoopLagMs, { p50: 2, p99: 9, max: 30 });
  assert.equal(m.joinRatePerSec, 50);
  assert.equal(m.connectRatePerSec, 125);
  assert.equal(m.connectCpuMs, 1400);
  assert.equal(m.rssBytes, 150);
  assert.equal(m.workers, 2);
  assert.deepEqual(m.groups, { g: { kind: 'edge', nodes: 200, ready: 199 } });
  assert.deepEqual(m.kinds, { edge: { certificateRequests: 103 } });
  // The fix crosses the worker boundary with the error.
  assert.deepEqual(m.fatal, { code: 'EM_TOKEN_REJECTED', message: 'm', fix: 'f' });
  assert.deepEqual(m.joinWindow, { size: 200, waitedMs: 900 });
  assert.deepEqual(Object.keys(m.states), [...edgeStates]);
});

test('a slice holds only its nodes, across groups, with its share of the pacing; one outside the plan is refused', () => {
  const two = parsePlan({
    ...input,
    pacing: { joinRate: 90, maxJoining: 90 },
    groups: [
      { name: 'a', count: 5, prefix: 'a-' },
      { name: 'b', count: 4, prefix: 'b-' },
    ],
    slice: { from: 3, count: 3 },
  });
  const [one] = shardPlan(two, undefined, 0);
  assert.deepEqual(
    one!.groups.map((g) => [g.group.name, g.firstIndex, g.count, g.stride, g.indexBase]),
    [
      ['a', 3, 2, 1, 0],
      ['b', 0, 1, 1, 5],
    ],
  );
  assert.equal(one!.joinRate, 30);
  assert.equal(one!.maxJoining, 30);
  // Over 2 workers: the slice's nodes, each once.
  const held = shardPlan(two, 2, 0).flatMap((p) =>
    p.groups.flatMap((g) => Array.from({ length: g.count }, (_, i) => `${g.group.prefix}${g.firstIndex + i * g.stride}`)),
  );
  assert.deepEqual(held.sort(), ['a-3', 'a-4', 'b-0']);
  assert.throws(
    () => shardPlan(parsePlan({ ...input, slice: { from: 8, count: 3 } }), undefined, 0),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_PLAN_INVALID' && /slice 8..10 lies outside the plan's 10 nodes/.test(e.message),
  );
});

test('nodeIndex is a name place in nodeNames, across groups; names outside the plan have none', () => {
  const two = parsePlan({
    ...input,
    groups: [
      { name: 'a', count: 5, prefix: 'a-' },
      { name: 'b', count: 4, prefix: 'b-' },
    ],
  });
  const names = nodeNames(two);
  for (const [i, n] of names.entries()) assert.equal(nodeIndex(two, n), i);
  for (const n of ['a-5', 'b-4', 'a-01', 'c-0', 'a-', 'b-x']) assert.equal(nodeIndex(two, n), undefined, n);
});
