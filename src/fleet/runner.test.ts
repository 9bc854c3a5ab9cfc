import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { defaultNodeProfile } from '../edge/edged/objects.js';
import { defaultTimings } from '../edge/timings.js';
import { nodeStates, type FleetSummary } from './fleet.js';
import { FD_RESERVE, mergeSummaries, planCapacity, sourceAddressOf, type RunPlan } from './runner.js';
import { slicePlan } from './workers.js';

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
  assert.throws(() => planCapacity(60_000, 4, '10.0.0.5', cap), (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_SOURCE_PORTS');
  // A narrow port range lowers the share per address.
  assert.deepEqual(planCapacity(12_000, 1, '127.0.0.1', { fdLimit: 20_000, ports: 11_000 }), { perSourceAddress: 10_000 });
});

const plan: RunPlan = {
  count: 10, firstIndex: 0, prefix: 'p-', websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002', token: 't',
  joinRate: 90, certDir: '/c', storePath: '/d/edge.db', stagePaths: [], profile: defaultNodeProfile, timings: defaultTimings, perSourceAddress: 0,
};

test('slices cover every node once (node g on worker g mod K), with their own store and a share of the join rate', () => {
  const s = slicePlan(plan, 3, (k) => `/d/edge-w${k}.db`);
  const nodes = s.map((p) => Array.from({ length: p.count }, (_, i) => p.firstIndex + i * p.stride!));
  assert.deepEqual(nodes, [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]);
  // More nodes with the same K: every earlier node stays on its worker.
  const bigger = slicePlan({ ...plan, count: 20 }, 3, (k) => `/d/edge-w${k}.db`);
  for (const [k, list] of nodes.entries()) for (const g of list) assert.equal((g - bigger[k]!.firstIndex) % bigger[k]!.stride!, 0);
  assert.deepEqual(s.map((p) => p.storePath), ['/d/edge-w0.db', '/d/edge-w1.db', '/d/edge-w2.db']);
  assert.equal(s[0]!.joinRate, 30);
  assert.equal(s[0]!.maxJoining, undefined);
  assert.deepEqual(slicePlan({ ...plan, maxJoining: 200 }, 3, (k) => `/d/${k}`).map((p) => p.maxJoining), [67, 67, 67]);
});

function summary(over: Partial<FleetSummary>): FleetSummary {
  return {
    nodes: 0, states: Object.fromEntries(nodeStates.map((k) => [k, 0])) as FleetSummary['states'], started: 0, connected: 0, connectDurationMs: 0, connectRatePerSec: 0, connectCpuMs: 0, joined: 0, joinDurationMs: 0, joinRatePerSec: 0, joinWindow: { size: 0, waitedMs: 0 },
    reconnects: 0, errors: {}, messagesIn: 0, messagesOut: 0, messagesByRoute: {}, unserved: 0, pods: { running: 0, admitted: 0, rejected: 0 }, unservedNodes: [],
    durationMs: 0, eventLoopLagMs: { p50: 0, p99: 0, max: 0 }, ackLatencyMs: { p50: 0, p99: 0 }, rssBytes: 0, heapUsedBytes: 0, workers: 1, ...over,
  };
}

test('worker summaries merge: counts add up, the worst lag wins, the join rate spans the slowest worker', () => {
  const a = summary({ nodes: 100, started: 100, connected: 100, connectDurationMs: 1000, connectCpuMs: 600, joined: 100, joinDurationMs: 2000, states: { ...summary({}).states, ready: 100 }, messagesByRoute: { 'out update lease': 5 }, errors: { connect: 1 }, eventLoopLagMs: { p50: 1, p99: 9, max: 20 }, rssBytes: 100, joinWindow: { size: 100, waitedMs: 300 } });
  const b = summary({ nodes: 100, started: 100, connected: 100, connectDurationMs: 1600, connectCpuMs: 800, joined: 100, joinDurationMs: 4000, states: { ...summary({}).states, ready: 99, joining: 1 }, messagesByRoute: { 'out update lease': 7, 'in insert pod': 1 }, eventLoopLagMs: { p50: 2, p99: 4, max: 30 }, rssBytes: 50, joinWindow: { size: 100, waitedMs: 900 } });
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
  assert.deepEqual(m.joinWindow, { size: 200, waitedMs: 900 });
});
