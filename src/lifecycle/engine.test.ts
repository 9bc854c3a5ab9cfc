import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { StageEngine } from './engine.js';
import { loadLifecycles, parseLifecycle, type PodLifecycle } from './schema.js';

const stagesDir = join(packageRoot(), 'stages');
const engine = new StageEngine(loadLifecycles([stagesDir]));

/** Runs a lifecycle on a fixed clock (random always 0.5) and lists what happens. */
function simulate(l: PodLifecycle) {
  const out: { atMs: number; transition: string; to: string; exitCode: number; restarts: number }[] = [];
  let t = 0;
  let index = -1;
  let restarts = 0;
  for (let n = 0; n < 20; n++) {
    const s = engine.next(l, index, restarts, () => 0.5);
    if (!s) break;
    t += s.afterMs;
    index = s.index;
    if (s.to === 'restart') restarts++;
    out.push({ atMs: t, transition: l.spec.transitions[s.index]!.name, to: s.to, exitCode: s.exitCode, restarts });
    if (s.to === 'succeeded' || s.to === 'failed') break;
  }
  return out;
}

for (const file of readdirSync(stagesDir).filter((f) => f.endsWith('.yaml'))) {
  const name = file.replace(/\.yaml$/, '');
  test(`built-in lifecycle ${name} matches its golden timeline`, () => {
    const golden = join(stagesDir, 'testdata', `${name}.golden.json`);
    const got = simulate(engine.get(name));
    if (process.env.EDGEMARK_UPDATE_GOLDEN === '1') writeFileSync(golden, `${JSON.stringify(got, null, 2)}\n`);
    assert.deepEqual(got, JSON.parse(readFileSync(golden, 'utf8')));
  });
}

test('selection: annotation by name, then selectors by priority, then default', () => {
  assert.equal(engine.select({}).metadata.name, 'default');
  assert.equal(engine.select({ ownerReferences: [{ kind: 'Job' }] }).metadata.name, 'job');
  assert.equal(engine.select({ annotations: { 'edgemark.io/lifecycle': 'crashloop' } }).metadata.name, 'crashloop');
  assert.equal(engine.select({ annotations: { 'edgemark.io/lifecycle': 'no-such' } }).metadata.name, 'default');
});

function refused(text: string, path: RegExp, fix: RegExp) {
  assert.throws(
    () => parseLifecycle(text, 'my-stages.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof EdgemarkError, String(e));
      assert.match(e.message, /^\[stages\] my-stages\.yaml: /);
      assert.match(e.message, path);
      assert.match(e.fix ?? '', fix);
      return true;
    },
  );
}

const good = readFileSync(join(stagesDir, 'fail.yaml'), 'utf8');

test('a bad stage file names the file, the field path and the fix', () => {
  refused(good.replace('to: failed', 'to: exploded'), /spec\.transitions\.1\.to/, /running, not-ready, succeeded, failed, restart/);
  refused(good.replace('apiVersion: edgemark.io/v1alpha1', 'apiVersion: v1'), /apiVersion/, /edgemark\.io\/v1alpha1/);
  refused(good.replace('      exitCode: 1', '      exitcode: 1'), /spec\.transitions\.1/, /remove the field|spelling/);
  refused(good.replace('ms: 5000', 'ms: -5'), /spec\.transitions\.1\.after\.ms/, /stages/);
  refused(good.replace('      exitCode: 1', '      exitCode: 1\n      repeat: 2'), /spec\.transitions\.1\.repeat/, /restart/);
  refused('a: [', /not valid YAML/, /syntax/);
});

test('user stage files add to the built-in ones; a set without default is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'em-stages-'));
  writeFileSync(join(dir, 'slow.yaml'), good.replace('name: fail', 'name: slow'));
  assert.ok(new StageEngine(loadLifecycles([stagesDir, dir])).names.includes('slow'));
  assert.throws(
    () => loadLifecycles([dir]),
    (e: unknown) => e instanceof EdgemarkError && /no lifecycle named "default"/.test(e.message),
  );
});
