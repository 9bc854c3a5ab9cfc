import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/core/paths.js';

const script = join(packageRoot(), 'scripts', 'check-imports.mjs');
const rules = join(packageRoot(), 'import-boundaries.json');

/** Runs the checker with the repository's rules over a tree made of `files`. */
function check(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'edgemark-imports-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    const r = spawnSync(process.execPath, [script, '--root', root, '--config', rules], { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('a tree that keeps to the boundaries passes, new folders included', () => {
  const r = check({
    'src/core/errors.ts': "import { readFileSync } from 'node:fs';\nexport const e = 1;\n",
    'src/protocol/message.ts': "import { e } from '../core/errors.js';\nexport { e };\n",
    'src/edge/node.ts': "import {\n  e,\n} from '../protocol/message.js';\nexport * from '../transport/websocket.js';\n",
    'src/brandnew/thing.ts': "import { e } from '../edge/node.js';\n",
    'src/cli/main.ts': "import { x } from './program.js';\n",
    'test/unit/a.test.ts': "import { e } from '../../src/core/errors.js';\n",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /6 files keep to \d+ rules/);
});

test('each kind of import that crosses a boundary fails with file:line and the rule', () => {
  const r = check({
    'src/core/poll.ts': "// import '../fleet/fleet.js' in a comment does not count\nimport { Fleet } from '../fleet/fleet.js';\n",
    'src/protocol/message.ts': "export {\n  type Socket,\n} from '../transport/websocket.js';\n",
    'src/edge/node.ts': "const m = await import('../run/run.js');\n",
    'src/fleet/fleet.ts': "import '../cli/nodes.js';\n",
    'src/run/run.ts': "import { harness } from '../../test/integration/harness.js';\n",
  });
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.match(
    lines[0]!,
    /^src\/core\/poll\.ts:2: imports '\.\.\/fleet\/fleet\.js' \(src\/fleet\/fleet\.js\): src\/core imports nothing outside itself; why: /,
  );
  assert.match(lines[1]!, /^src\/edge\/node\.ts:1: imports '\.\.\/run\/run\.js' .*: src\/edge must not import src\/run;/);
  assert.match(lines[2]!, /^src\/fleet\/fleet\.ts:1: imports '\.\.\/cli\/nodes\.js' .*: src\/fleet must not import src\/cli;/);
  assert.match(
    lines[3]!,
    /^src\/protocol\/message\.ts:1: imports '\.\.\/transport\/websocket\.js' .*: src\/protocol may import only src\/core \(and itself\);/,
  );
  assert.match(lines[4]!, /^src\/run\/run\.ts:1: imports .*: src must not import test;/);
  assert.match(lines[5]!, /5 import\(s\) break the boundaries/);
});

test('a rules file with a mistake is refused, not half applied', () => {
  const root = mkdtempSync(join(tmpdir(), 'edgemark-imports-'));
  try {
    const bad = join(root, 'rules.json');
    writeFileSync(bad, JSON.stringify({ roots: ['src'], rules: [{ from: 'src/core', allow: [], deny: ['src/cli'], why: 'x' }] }));
    const r = spawnSync(process.execPath, [script, '--root', root, '--config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /rules\[0\]: give either "allow" or "deny"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
