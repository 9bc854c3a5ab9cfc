import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChildFleet } from './child-fleet.js';

test('ChildFleet reads what the runner wrote: the summary, and the pod trace of every worker without cut lines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'em-child-fleet-'));
  const fleet = new ChildFleet({ stateDir: dir, dir });
  assert.equal(fleet.summary(), undefined, 'no summary written');
  assert.deepEqual(fleet.podTrace(), []);
  writeFileSync(join(dir, 'runner-summary.json'), JSON.stringify({ reconnects: 2 }));
  writeFileSync(join(dir, 'pod-trace.jsonl'), '{"uid":"a","event":"admitted","ms":1}\n{"uid":"a","event":"running-sent","ms":2}\n');
  writeFileSync(join(dir, 'pod-trace.jsonl.w1'), '{"uid":"b","event":"admitted","ms":3}\n{"uid":"b","ev');
  assert.equal(fleet.summary()?.reconnects, 2);
  assert.deepEqual(fleet.podTrace().map((t) => `${t.uid} ${t.event}`), ['a admitted', 'a running-sent', 'b admitted']);
  await fleet.down();
  assert.equal(fleet.failure(), undefined, 'stopping a fleet that never started is no failure');
});
