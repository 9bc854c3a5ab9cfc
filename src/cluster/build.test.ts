import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { checkGo, parseGoVersion, targetBinaries, targetKey } from './build.js';
import { resolvePins } from './pins.js';

test('parseGoVersion reads release and two-part versions', () => {
  assert.deepEqual(parseGoVersion('go version go1.26.8 linux/amd64'), { version: 'go1.26.8', major: 1, minor: 26, patch: 8 });
  assert.equal(parseGoVersion('go version go1.24 linux/arm64')?.minor, 24);
  assert.equal(parseGoVersion('bash: go: not found'), undefined);
});

const fakeGoDirs: string[] = [];
after(() => {
  for (const d of fakeGoDirs) rmSync(d, { recursive: true, force: true });
});

function fakeGo(output: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'em-go-'));
  fakeGoDirs.push(dir);
  const bin = join(dir, 'go');
  writeFileSync(bin, `#!/bin/sh\necho '${output}'\n`);
  chmodSync(bin, 0o755);
  return bin;
}

test('checkGo explains a missing Go and how to install it', () => {
  assert.throws(
    () => checkGo('/nonexistent/go'),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_GO_MISSING' && /install Go 1\.24 or newer/.test(e.fix ?? ''),
  );
});

test('checkGo refuses a Go older than 1.24 and names the version', () => {
  assert.throws(
    () => checkGo(fakeGo('go version go1.19.8 linux/amd64')),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_GO_TOO_OLD' && e.message.includes('go1.19.8'),
  );
  assert.equal(checkGo(fakeGo('go version go1.24.3 linux/amd64')).minor, 24);
});

test('an unknown version pin lists the supported ones', () => {
  assert.throws(
    () => resolvePins({ kubernetes: 'v1.99.0' }),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_PIN_UNKNOWN' && (e.fix ?? '').includes('v1.32.5'),
  );
  assert.equal(resolvePins({ kubernetes: '1.32.5' }).kubernetes.version, 'v1.32.5');
});

test('the cache key changes with the Go version and the part; peers are kept apart', () => {
  const pin = resolvePins().kubeedge;
  const go = { version: 'go1.26.8', major: 1, minor: 26, patch: 8 };
  const core = targetKey({ pin, part: 'core' }, go);
  assert.equal(core, targetKey({ pin, part: 'core' }, go));
  assert.notEqual(core, targetKey({ pin, part: 'core' }, { ...go, version: 'go1.26.9', patch: 9 }));
  assert.notEqual(core, targetKey({ pin, part: 'peers' }, go));
  assert.deepEqual(
    targetBinaries({ pin, part: 'core' }).map((b) => b.name),
    ['cloudcore'],
  );
  assert.deepEqual(
    targetBinaries({ pin, part: 'peers' }).map((b) => b.name),
    ['edgemark', 'edgemark-startfix'],
  );
  // A change to a peer (its source fix) rebuilds the peers only.
  const peers = targetKey({ pin, part: 'peers' }, go);
  const changed = { ...pin, binaries: pin.binaries.map((b) => (b.sourceFix ? { ...b, sourceFix: { ...b.sourceFix, edits: [] } } : b)) };
  assert.equal(targetKey({ pin: changed, part: 'core' }, go), core);
  assert.notEqual(targetKey({ pin: changed, part: 'peers' }, go), peers);
});

test('the edgemark start fix edits one file of the pinned KubeEdge and says why', () => {
  const fixed = resolvePins().kubeedge.binaries.find((b) => b.name === 'edgemark-startfix');
  assert.ok(fixed?.sourceFix && fixed.peer);
  assert.equal(fixed.pkg, resolvePins().kubeedge.binaries.find((b) => b.name === 'edgemark')?.pkg);
  assert.equal(fixed.sourceFix.module, 'github.com/kubeedge/kubeedge');
  assert.match(fixed.sourceFix.why, /panics/);
  for (const e of fixed.sourceFix.edits) assert.ok(e.find.length > 0);
});

test('the kubelet is its own part: asking for a worker leaves the core cache key as it was', () => {
  const pin = resolvePins().kubernetes;
  const go = { version: 'go1.26.8', major: 1, minor: 26, patch: 8 };
  assert.deepEqual(
    targetBinaries({ pin, part: 'worker' }).map((b) => b.name),
    ['kubelet'],
  );
  assert.ok(!targetBinaries({ pin, part: 'core' }).some((b) => b.name === 'kubelet'));
  const withoutKubelet = { ...pin, binaries: pin.binaries.filter((b) => b.name !== 'kubelet') };
  assert.equal(targetKey({ pin, part: 'core' }, go), targetKey({ pin: withoutKubelet, part: 'core' }, go));
  assert.notEqual(targetKey({ pin, part: 'worker' }, go), targetKey({ pin, part: 'core' }, go));
});
