import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgeHarness } from '../testing/harness.js';
import { MEMBERSHIP_DETAIL, membershipDetailRequest, membershipDevices } from './devicetwin.js';

test('the membership query is a twin "get" of membership/detail with a JSON-string event', () => {
  const m = membershipDetailRequest('edge-1', 1_700_000_000_000);
  assert.deepEqual(m.route, { source: 'twin', group: 'resource', operation: 'get', resource: 'membership/detail' });
  assert.equal(typeof m.content, 'string');
  const e = JSON.parse(m.content as string);
  assert.equal(e.event_type, 'group_membership_event');
  assert.equal(e.group_id, 'edge-1');
  assert.equal(e.operation, 'detail');
  assert.equal(e.timestamp, 1_700_000_000_000);
  assert.match(e.event_id, /^[0-9a-f-]{36}$/);
});

test('membership contents: detail lists, updates add and remove, garbage is refused', () => {
  assert.deepEqual(membershipDevices('{"devices":[{"id":"d1"},{"id":"d2"}]}'), { added: ['d1', 'd2'], removed: [] });
  assert.deepEqual(membershipDevices({ added_devices: [{ id: 'a' }], removed_devices: [{ id: 'b' }] }), { added: ['a'], removed: ['b'] });
  assert.deepEqual(membershipDevices({}), { added: [], removed: [] });
  assert.equal(membershipDevices('not json'), undefined);
  assert.equal(membershipDevices(42), undefined);
});

test('the membership query is resent every twinMembershipResendMs until answered, and asked again on a reconnect', async () => {
  const h = new EdgeHarness({ timings: { twinMembershipResendMs: 60_000 } });
  const queries = () => h.cloud.received.filter((m) => m.route.resource === MEMBERSHIP_DETAIL);
  await h.start();
  assert.equal(queries().length, 1);
  await h.advance(60_000 - 1);
  assert.equal(queries().length, 1);
  await h.advance(1 + 60_000);
  assert.equal(queries().length, 3);
  h.cloud.reply(queries().at(-1)!, '{"devices":[{"id":"d1"}]}');
  assert.deepEqual([...(h.node.twin.devices ?? [])], ['d1']);
  await h.advance(3 * 60_000);
  assert.equal(queries().length, 3, 'answered: not asked again');
  h.cloud.close();
  await h.advance(h.timings.reconnectInitialMs);
  assert.equal(queries().length, 4);
});
