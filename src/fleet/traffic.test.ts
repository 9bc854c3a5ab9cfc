import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../core/log.js';
import { StageEngine } from '../lifecycle/engine.js';
import { Fleet, mergeSummaries } from './fleet.js';
import { trafficBetween } from './traffic.js';

function fleet(): Fleet {
  return new Fleet({
    groups: [],
    kinds: {},
    kindContext: { target: { cloudcore: [] }, credentials: { token: 't' }, dataDir: '/nowhere', shard: undefined },
    stages: new StageEngine(new Map()),
    joinRate: 1,
    log: createLogger({ level: 'error' }),
  });
}

test('traffic: frame bytes by direction and message type, per node and second over a window, merged over processes', () => {
  const f = fleet();
  f.traffic('out', 'update lease', 300);
  f.traffic('out', 'keepalive node', 100);
  f.traffic('in', 'update node', 1000);
  const a = f.summary();
  f.traffic('out', 'update lease', 300);
  f.traffic('in', 'insert pod', 5000);
  f.traffic('in', 'insert pod', 5000);
  const b = f.summary();
  assert.equal(b.bytesIn, 11_000);
  assert.equal(b.bytesOut, 700);
  assert.deepEqual(b.bytesByRoute, { 'in insert pod': 10_000, 'in update node': 1000, 'out keepalive node': 100, 'out update lease': 600 });
  // Two nodes, 10 s between the summaries: only what happened in between.
  const w = trafficBetween(b, a, 2, 10)!;
  assert.equal(w.inBytesPerNodePerSec, 500);
  assert.equal(w.outBytesPerNodePerSec, 15);
  assert.deepEqual(w.rows, [
    { key: 'in insert pod', messagesPerNodePerMin: 6, bytesPerNodePerSec: 500 },
    { key: 'out update lease', messagesPerNodePerMin: 3, bytesPerNodePerSec: 15 },
  ]);
  const m = mergeSummaries([b, b]);
  assert.equal(m.bytesIn, 22_000);
  assert.equal(m.bytesByRoute!['out update lease'], 1200);
  assert.equal(trafficBetween({ ...b, bytesByRoute: undefined }, undefined, 2, 10), undefined, 'an older summary has no bytes');
  f.stop();
});
