import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { createLogger, formatDuration, redact } from './log.js';

const token = `${'a1'.repeat(32)}.eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTk5OTk5OTl9.c2lnbmF0dXJlLXNpZ25hdHVyZQ`;

test('redact hides join tokens, JWTs, PEM keys and kubeconfig key data', () => {
  // A key made here, so that no key text sits in the source.
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }) as string;
  const body = pem.split('\n')[1]!;
  const out = redact(`token=${token} key=${pem} client-key-data: LS0tLS1CRUdJTg== bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJl`);
  assert.doesNotMatch(out, /a1a1a1/);
  assert.ok(!out.includes(body), 'the key body is gone');
  assert.doesNotMatch(out, /LS0tLS1CRUdJTg/);
  assert.doesNotMatch(out, /eyJpc3Mi/);
  assert.match(out, /client-key-data: \[redacted\]/);
});

test('the logger redacts what it writes', () => {
  const lines: string[] = [];
  createLogger({ write: (l) => lines.push(l) }).warn(`bad token ${token}`);
  assert.deepEqual(lines, ['warn: bad token [redacted]']);
});

test('formatDuration', () => {
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(12_340), '12.3s');
  assert.equal(formatDuration(125_000), '2m05s');
});
