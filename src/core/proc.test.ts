import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuSeconds, parseProcStat, parseRssBytes, readProcStat, isSameProcess } from './proc.js';

test('parseProcStat survives a command name with spaces and parentheses', () => {
  const text = '4242 (kube (api) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 987654 123456 789 ...';
  const s = parseProcStat(text);
  assert.equal(s.pid, 4242);
  assert.equal(s.state, 'S');
  assert.equal(s.utimeTicks, 250);
  assert.equal(s.stimeTicks, 50);
  assert.equal(s.startTicks, 987654);
  assert.equal(cpuSeconds(s), 3);
});

test('parseRssBytes reads VmRSS in bytes', () => {
  assert.equal(parseRssBytes('Name:\tetcd\nVmRSS:\t   20480 kB\nThreads: 9\n'), 20480 * 1024);
  assert.equal(parseRssBytes('Name:\tkthreadd\n'), 0);
});

test('isSameProcess tells our own process from a recycled pid', () => {
  const me = readProcStat(process.pid);
  assert.ok(me);
  assert.equal(isSameProcess(process.pid, me.startTicks), true);
  assert.equal(isSameProcess(process.pid, me.startTicks + 1), false);
});
