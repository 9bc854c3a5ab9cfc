import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from './errors.js';
import { API_VERSION, fixForField, parseYamlDocument } from './versioned.js';

const o = {
  kind: 'LoadTest',
  example: 'profiles/density.yaml',
  builtins: 'profiles in profiles/',
  field: (p: string) => (p.endsWith('.kind') ? 'a phase kind is one of: x, y' : undefined),
};

test("fixForField: apiVersion, kind, the document's own fields, unknown fields, the rest", () => {
  assert.equal(fixForField('apiVersion', 'Invalid input', o), `set apiVersion: ${API_VERSION}`);
  assert.equal(fixForField('kind', 'Invalid input', o), 'set kind: LoadTest');
  assert.equal(fixForField('spec.phases.0.kind', 'Invalid input', o), 'a phase kind is one of: x, y');
  assert.equal(fixForField('spec', 'Unrecognized key: "nodez"', o), 'remove "nodez", or check its spelling against profiles/density.yaml');
  assert.equal(fixForField('spec.slo', 'Too big', o), 'compare with the built-in profiles in profiles/ (profiles/density.yaml is the simplest)');
});

test('parseYamlDocument names the file and keeps only the first line of the parser error', () => {
  assert.deepEqual(parseYamlDocument('a: 1\n', 'x.yaml', { code: 'EM_CONFIG_YAML', prefix: '[run]' }), { a: 1 });
  assert.throws(
    () => parseYamlDocument('a: [', 'x.yaml', { code: 'EM_STAGE_YAML', prefix: '[stages]' }),
    (e: unknown) =>
      e instanceof EdgemarkError &&
      e.code === 'EM_STAGE_YAML' &&
      /^\[stages\] x\.yaml: not valid YAML: [^\n]+$/.test(e.message) &&
      e.fix === 'fix the YAML syntax',
  );
});
