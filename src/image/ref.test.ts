import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packageVersion } from '../core/paths.js';
import { DEFAULT_IMAGE, imageRef } from './ref.js';

test('the default image is localhost/edgemark pinned to the package version', () => {
  assert.equal(DEFAULT_IMAGE, `localhost/edgemark:${packageVersion()}`);
});

test('imageRef takes the flag, else EDGEMARK_IMAGE, else the default', () => {
  const env = { EDGEMARK_IMAGE: 'registry.example/edgemark:env' };
  assert.equal(imageRef('registry.example/edgemark:flag', env), 'registry.example/edgemark:flag');
  assert.equal(imageRef(undefined, env), 'registry.example/edgemark:env');
  assert.equal(imageRef('', env), 'registry.example/edgemark:env');
  assert.equal(imageRef(undefined, {}), DEFAULT_IMAGE);
  assert.equal(imageRef(undefined, { EDGEMARK_IMAGE: '  ' }), DEFAULT_IMAGE);
});
