/**
 * The Helm chart's metadata and documentation, without helm (the chart's
 * rendering is tested against the CLI in test/integration/helm.test.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { packageRoot, packageVersion } from '../../src/core/paths.js';

const chart = join(packageRoot(), 'deploy', 'helm', 'edgemark');

test("the chart's version and appVersion are the package's: it renders this edgemark's objects", () => {
  const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { apiVersion: string; name: string; version: string; appVersion: string };
  assert.deepEqual(
    { apiVersion: meta.apiVersion, name: meta.name, version: meta.version, appVersion: meta.appVersion },
    { apiVersion: 'v2', name: 'edgemark', version: packageVersion(), appVersion: packageVersion() },
  );
});

test("every value of the chart is in the README's table of values", () => {
  const values = Object.keys(parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>);
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Helm chart'), readme.indexOf('\n## ', readme.indexOf('## Helm chart') + 1));
  const documented = [...section.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...documented].sort(), [...values].sort());
});
