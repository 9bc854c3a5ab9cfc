import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { namespaceScript } from '../../bench/lib/kubeedge-edgemark.js';
import { packageRoot } from '../../src/core/paths.js';

const golden = join(packageRoot(), 'test', 'unit', 'testdata', 'kubeedge-edgemark-namespace.sh');

const script = namespaceScript({
  root: "/work/peer/ke-edgemark-0/root with 'quote'",
  ip: '10.250.0.1',
  binDir: '/cache/bin/kubeedge-v1.23.1-peers-abc',
  binName: 'edgemark-startfix',
  wsPort: 10000,
  httpsPort: 10002,
  wsSock: '/work/peer/sock/ws.sock',
  httpsSock: '/work/peer/sock/https.sock',
  systemDirs: ['usr', 'lib64'],
});

test('the in-namespace script matches its golden file (EDGEMARK_UPDATE_GOLDEN=1 rewrites it)', () => {
  if (process.env.EDGEMARK_UPDATE_GOLDEN === '1') writeFileSync(golden, script);
  assert.equal(script, readFileSync(golden, 'utf8'));
});

test('the in-namespace script is valid sh, quotes the root and ends by exec-ing edgemark in the chroot', () => {
  assert.equal(spawnSync('sh', ['-n', '-c', script]).status, 0);
  assert.ok(script.includes(`mount --rbind /usr '/work/peer/ke-edgemark-0/root with '\\''quote'\\''/usr'`));
  assert.ok(!script.includes('/bin '), 'only the directories passed in are bound');
  assert.match(script.trimEnd().split('\n').at(-1)!, /^exec chroot .* '\/opt\/edgemark\/edgemark-startfix' "\$@"$/);
});
