import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../core/paths.js';
import { ack, decode, edgedRequest, encode, keepalive, parseResource, ProtocolError, responseError } from './message.js';

// Frames recorded from a real CloudCore v1.23.1 by test/integration/edge-nodes.test.ts
// (EDGEMARK_RECORD_FIXTURES=1), not written by hand.
const frames = readFileSync(join(packageRoot(), 'test/fixtures/frames/cloudcore-v1.23.1.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '');

test('the recorded CloudCore frames cover replies and pushes', () => {
  assert.ok(frames.length >= 8);
  const kinds = new Set(
    frames.map((f) => {
      const m = decode(f);
      return `${m.header.parent_msg_id ? 'reply' : 'push'} ${m.route.operation} ${m.route.resource?.split('/')[1]}`;
    }),
  );
  for (const k of ['reply response node', 'reply response lease', 'reply response nodepatch', 'push update node']) assert.ok(kinds.has(k), k);
});

test('every recorded frame round-trips: decode, encode, decode', () => {
  for (const f of frames) {
    const m = decode(f);
    const again = encode(m);
    assert.deepEqual(JSON.parse(again), JSON.parse(f), 'encode(decode(frame)) is the same JSON');
    assert.deepEqual(decode(again), m);
  }
});

test('replies carry the Object/Err shape; a NotFound lease is an error reply', () => {
  const replies = frames.map(decode).filter((m) => m.header.parent_msg_id);
  assert.ok(replies.every((m) => typeof m.content === 'object' && m.content !== null && 'Object' in m.content));
  const notFound = replies.find((m) => responseError(m.content)?.reason === 'NotFound');
  assert.ok(notFound, 'the first lease query of a new node answers NotFound');
  assert.equal(responseError(notFound.content)?.code, 404);
});

test('an ACK answers a push by its id with the same source, group and resource', () => {
  const push = frames.map(decode).find((m) => !m.header.parent_msg_id)!;
  const a = ack(push, 1234);
  assert.equal(a.header.parent_msg_id, push.header.msg_id);
  assert.equal(a.route.operation, 'response');
  assert.deepEqual([a.route.source, a.route.group, a.route.resource], [push.route.source, push.route.group, push.route.resource]);
  assert.equal(a.content, 'OK');
  assert.match(
    encode(a),
    /^\{"header":\{"msg_id":"[0-9a-f-]{36}","parent_msg_id":"[0-9a-f-]{36}","timestamp":1234\},"route":\{"source":"edgecontroller","group":"resource","operation":"response",/,
  );
});

test("keepalive and edged requests have edgecore's routes", () => {
  assert.deepEqual(JSON.parse(encode(keepalive(5))).route, { source: 'websocket', group: 'resource', operation: 'keepalive', resource: 'node' });
  assert.equal(JSON.parse(encode(keepalive(5))).content, 'ping');
  const r = JSON.parse(encode(edgedRequest('query', 'kube-node-lease/lease/n1', null, 7)));
  assert.deepEqual(r.route, { source: 'edged', group: 'meta', operation: 'query', resource: 'kube-node-lease/lease/n1' });
  assert.equal(r.content, null);
  assert.equal('parent_msg_id' in r.header, false);
});

test('broken and truncated frames are refused with EM_PROTO_SHAPE', () => {
  const whole = frames[0]!;
  const bad = [
    whole.slice(0, whole.length / 2),
    'not json',
    '[]',
    '{"route":{}}',
    '{"header":{"timestamp":1},"route":{}}',
    '{"header":{"msg_id":"x"},"route":{"resource":7}}',
    '',
  ];
  for (const b of bad) {
    assert.throws(
      () => decode(b),
      (e: unknown) => e instanceof ProtocolError && e.code === 'EM_PROTO_SHAPE',
      JSON.stringify(b.slice(0, 40)),
    );
  }
});

test('resources parse as <namespace>/<type>[/<name>]', () => {
  assert.deepEqual(parseResource('null/node/n1'), { namespace: 'null', type: 'node', name: 'n1' });
  assert.deepEqual(parseResource('default/podlist'), { namespace: 'default', type: 'podlist' });
  assert.equal(parseResource('node'), undefined);
  assert.equal(parseResource('a//b'), undefined);
});
