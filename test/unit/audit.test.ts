import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callKey, countLine, perNodeMinute, type CallCounts } from '../../bench/lib/audit.js';

const at = (s: number) => new Date(Date.UTC(2026, 11, 2, 0, 0, s)).toISOString();
const ev = (o: Record<string, unknown>) => JSON.stringify({ stage: 'ResponseComplete', requestReceivedTimestamp: at(10), ...o });

test('audit: a call counts once (ResponseComplete, or a watch when it starts), inside the window, by verb and resource/subresource', () => {
  const from = Date.parse(at(0));
  const to = Date.parse(at(60));
  assert.equal(
    callKey({ stage: 'ResponseComplete', verb: 'update', objectRef: { resource: 'leases' }, requestReceivedTimestamp: at(5) }, from, to),
    'update leases',
  );
  assert.equal(
    callKey({ stage: 'ResponseComplete', verb: 'patch', objectRef: { resource: 'nodes', subresource: 'status' }, requestReceivedTimestamp: at(5) }, from, to),
    'patch nodes/status',
  );
  assert.equal(callKey({ stage: 'ResponseStarted', verb: 'watch', objectRef: { resource: 'pods' }, requestReceivedTimestamp: at(5) }, from, to), 'watch pods');
  // The same watch ending is not a second call; a get never has a ResponseStarted stage counted.
  assert.equal(callKey({ stage: 'ResponseComplete', verb: 'watch', objectRef: { resource: 'pods' }, requestReceivedTimestamp: at(5) }, from, to), undefined);
  assert.equal(
    callKey({ stage: 'ResponseComplete', verb: 'get', objectRef: { resource: 'nodes' }, requestReceivedTimestamp: at(60) }, from, to),
    undefined,
    'end is exclusive',
  );
  assert.equal(callKey({ stage: 'ResponseComplete', verb: 'get', objectRef: { resource: 'nodes' }, requestReceivedTimestamp: at(-1) }, from, to), undefined);

  const counts: CallCounts = new Map();
  const clientOf = (u: string) => (u.startsWith('system:node:km-') ? 'kubemark' : u.startsWith('system:node:em-') ? 'edgemark' : undefined);
  for (let i = 0; i < 12; i++)
    countLine(ev({ verb: 'update', user: { username: `system:node:km-${i % 2}` }, objectRef: { resource: 'leases' } }), counts, clientOf, from, to);
  for (let i = 0; i < 30; i++)
    countLine(ev({ verb: 'update', user: { username: `system:node:em-${i % 5}` }, objectRef: { resource: 'leases' } }), counts, clientOf, from, to);
  countLine(ev({ verb: 'list', user: { username: 'system:kube-scheduler' }, objectRef: { resource: 'pods' } }), counts, clientOf, from, to);
  countLine('{"cut by rot', counts, clientOf, from, to);
  countLine(
    ev({ verb: 'watch', stage: 'ResponseStarted', user: { username: 'system:node:em-1' }, objectRef: { resource: 'pods' } }),
    counts,
    clientOf,
    from,
    to,
  );
  assert.deepEqual([...counts.keys()].sort(), ['edgemark', 'kubemark']);
  const rows = perNodeMinute(counts, { kubemark: 2, edgemark: 5 }, 1);
  assert.deepEqual(rows, [
    { call: 'update leases', perNodeMinute: { kubemark: 6, edgemark: 6 } },
    { call: 'watch pods', perNodeMinute: { kubemark: 0, edgemark: 0.2 } },
  ]);
});
