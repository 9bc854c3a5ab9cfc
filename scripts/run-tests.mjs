#!/usr/bin/env node
// Runs one test tier with node's test runner over the compiled tests.
//   unit:        dist/src/**/*.test.js (beside the code) and dist/test/unit/** (tests of
//                the repository's tooling and of bench/); seconds, no peers
//   integration: dist/test/integration/** (real control plane; one file at a time)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const tier = process.argv[2];
const roots = { unit: ['dist/src', 'dist/test/unit'], integration: ['dist/test/integration'] }[tier];
if (!roots) {
  console.error(`usage: run-tests.mjs unit|integration (got "${tier ?? ''}")`);
  process.exit(2);
}
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e.endsWith('.test.js')) files.push(p);
  }
};
for (const r of roots) if (existsSync(r)) walk(r);
const only = process.env.EDGEMARK_TEST_FILTER;
const selected = only ? files.filter((f) => f.includes(only)) : files;
if (selected.length === 0) {
  console.error(`no ${tier} test files found under ${roots.join(', ')} (did the build run?)`);
  process.exit(1);
}
const args = ['--test', '--test-reporter=spec', `--test-concurrency=${tier === 'unit' ? 2 : 1}`, ...selected];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
