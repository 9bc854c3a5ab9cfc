import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../core/paths.js';
import { PAUSE_IMAGE, pauseKey } from './pause.js';

test('the pause image has a localhost name, and its cache key follows its source and the Go version', () => {
  assert.equal(PAUSE_IMAGE, 'localhost/edgemark-pause:1.0');
  const dir = mkdtempSync(join(tmpdir(), 'em-pause-'));
  try {
    cpSync(join(packageRoot(), 'controlplane', 'pause'), dir, { recursive: true });
    const go = { version: 'go1.26.8', major: 1, minor: 26, patch: 8 };
    const key = pauseKey(dir, go);
    assert.equal(pauseKey(dir, go), key);
    assert.notEqual(pauseKey(dir, { ...go, version: 'go1.26.9', patch: 9 }), key);
    writeFileSync(join(dir, 'main.go'), 'package main\n\nfunc main() {}\n');
    assert.notEqual(pauseKey(dir, go), key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
