import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError, errorCodes, errorFromJson, errorToJson, formatError, toErrorCode } from './errors.js';

test('every catalogued code is EM_ and upper case, with a one-line meaning', () => {
  for (const [code, meaning] of Object.entries(errorCodes)) {
    assert.match(code, /^EM_[A-Z0-9_]+$/);
    assert.ok(meaning.length > 10 && !meaning.includes('\n'), code);
  }
});

test('a misspelt code does not compile', () => {
  // @ts-expect-error EM_TOKEN_EXPRIED is not in the catalogue
  const e = new EdgemarkError('EM_TOKEN_EXPRIED', '[x] typo');
  assert.equal(e.code, 'EM_INTERNAL');
  assert.match(e.message, /\(code EM_TOKEN_EXPRIED\)$/);
});

test('toErrorCode keeps catalogued codes and maps the rest to EM_INTERNAL', () => {
  assert.equal(toErrorCode('EM_TOKEN_REJECTED'), 'EM_TOKEN_REJECTED');
  assert.equal(toErrorCode('EM_SOMETHING_NEW'), 'EM_INTERNAL');
  assert.equal(toErrorCode('toString'), 'EM_INTERNAL');
});

test('code, message, fix and details survive a trip through JSON', () => {
  const sent = new EdgemarkError('EM_TOKEN_REJECTED', '[bootstrap] refused', 'read the current token', { details: ['401'] });
  const got = errorFromJson(JSON.parse(JSON.stringify(errorToJson(sent))));
  assert.ok(got instanceof EdgemarkError);
  assert.equal(got.code, 'EM_TOKEN_REJECTED');
  assert.equal(got.message, '[bootstrap] refused');
  assert.equal(got.fix, 'read the current token');
  assert.deepEqual(got.details, ['401']);
  assert.equal(formatError(got), formatError(sent));
});

test('an unknown code from the other side is kept in the message; a plain Error becomes EM_INTERNAL', () => {
  const got = errorFromJson({ code: 'EM_FROM_A_NEWER_WORKER', message: '[worker 1] boom', fix: 'upgrade' });
  assert.equal(got.code, 'EM_INTERNAL');
  assert.equal(got.message, '[worker 1] boom (code EM_FROM_A_NEWER_WORKER)');
  assert.equal(got.fix, 'upgrade');
  assert.deepEqual(errorToJson(new Error('plain')), { code: 'EM_INTERNAL', message: 'plain' });
});
