import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  cpuSeconds,
  isSameProcess,
  livePidsInGroups,
  parseProcStat,
  parsePssBytes,
  parseRssBytes,
  pssBytes,
  readProcStat,
  rssBytes,
  stopChild,
  terminateGroups,
} from './proc.js';

test('parseProcStat survives a command name with spaces and parentheses', () => {
  const text = '4242 (kube (api) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 987654 123456 789 ...';
  const s = parseProcStat(text);
  assert.equal(s.pid, 4242);
  assert.equal(s.state, 'S');
  assert.equal(s.ppid, 1);
  assert.equal(s.pgrp, 4242);
  assert.equal(s.utimeTicks, 250);
  assert.equal(s.stimeTicks, 50);
  assert.equal(s.startTicks, 987654);
  assert.equal(cpuSeconds(s), 3);
});

test('parseRssBytes reads VmRSS in bytes', () => {
  assert.equal(parseRssBytes('Name:\tetcd\nVmRSS:\t   20480 kB\nThreads: 9\n'), 20480 * 1024);
  assert.equal(parseRssBytes('Name:\tkthreadd\n'), 0);
});

test('parsePssBytes reads Pss (not Pss_Anon) from smaps_rollup; our own PSS is at most our RSS', () => {
  const rollup = '00400000-7ffe7 ---p 00000000 00:00 0  [rollup]\nRss:  137512 kB\nPss:  100951 kB\nPss_Dirty: 88460 kB\nPss_Anon: 88460 kB\n';
  assert.equal(parsePssBytes(rollup), 100951 * 1024);
  assert.equal(parsePssBytes('Rss: 1 kB\n'), 0);
  const pss = pssBytes(process.pid);
  assert.ok(pss > 0 && pss <= rssBytes(process.pid) * 1.05, `pss ${pss}`);
});

test('isSameProcess tells our own process from a recycled pid', () => {
  const me = readProcStat(process.pid);
  assert.ok(me);
  assert.equal(isSameProcess(process.pid, me.startTicks), true);
  assert.equal(isSameProcess(process.pid, me.startTicks + 1), false);
});

const idle = 'setInterval(() => {}, 1000)';

test('stopChild sends the signal and resolves on exit; at once for a child already gone', async () => {
  const child = spawn(process.execPath, ['-e', idle], { stdio: 'ignore' });
  await once(child, 'spawn');
  assert.deepEqual(await stopChild(child, { signal: 'SIGINT' }), { code: null, signal: 'SIGINT' });
  assert.deepEqual(await stopChild(child), { code: null, signal: 'SIGINT' });
});

test('stopChild SIGKILLs a child that ignores the signal after killAfterMs', async () => {
  const child = spawn(process.execPath, ['-e', `process.on('SIGTERM', () => {}); console.log('ready'); ${idle}`], { stdio: ['ignore', 'pipe', 'ignore'] });
  await once(child.stdout!, 'data');
  assert.deepEqual(await stopChild(child, { killAfterMs: 100 }), { code: null, signal: 'SIGKILL' });
});

test('terminateGroups stops every process of a group, children included', async () => {
  const leader = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], { detached: true, stdio: 'ignore' });
  await once(leader, 'spawn');
  const groups = new Set([leader.pid!]);
  for (let i = 0; i < 100 && livePidsInGroups(groups).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(livePidsInGroups(groups).length, 3);
  assert.deepEqual(await terminateGroups(groups, 2000), []);
  assert.deepEqual(livePidsInGroups(groups), []);
});
