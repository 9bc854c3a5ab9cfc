import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { parseToken } from './token.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const hash = 'ab'.repeat(32);
const make = (exp: number) => `${hash}.${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp })}.c2lnbmF0dXJl`;

test('a token splits into the CA hash and the JWT, with its expiry', () => {
  const t = parseToken(`${make(2_000_000_000)}\n`, 1_000_000_000_000);
  assert.equal(t.caHash, hash);
  assert.equal(t.jwt.split('.').length, 3);
  assert.equal(t.expiresAt, 2_000_000_000_000);
});

test('a malformed token says what is wrong and where to get one, without echoing it', () => {
  for (const bad of ['abc', `${hash}.only.two`, `XYZ.${make(1).split('.').slice(1).join('.')}`]) {
    assert.throws(
      () => parseToken(bad),
      (e: unknown) => {
        assert.ok(e instanceof EdgemarkError);
        assert.equal(e.code, 'EM_TOKEN_MALFORMED');
        assert.match(e.fix ?? '', /tokensecret/);
        assert.ok(!e.message.includes(bad));
        return true;
      },
    );
  }
});

test('an expired token is refused with its expiry time', () => {
  assert.throws(
    () => parseToken(make(1_600_000_000), 1_700_000_000_000),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_TOKEN_EXPIRED' && e.message.includes('2020-09-13'),
  );
});
