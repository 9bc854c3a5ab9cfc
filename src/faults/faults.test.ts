import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { FaultDriver } from './driver.js';
import { faultSlis, type ReadyHistory } from './sli.js';
import { faultSchema, parseFaultFlag, parseRate, planFaults } from './spec.js';

const groups = [
  { name: 'edge', prefix: 'e-', count: 100 },
  { name: 'kubelet', prefix: 'k-', count: 50 },
];

test('rates: bits per second, or a number with k, M, G and bit/bps', () => {
  assert.equal(parseRate('3Mbit'), 3e6);
  assert.equal(parseRate('64kbit'), 64e3);
  assert.equal(parseRate('1.5Mbit/s'), 1.5e6);
  assert.equal(parseRate('500kbps'), 5e5);
  assert.equal(parseRate(1000), 1000);
  assert.throws(() => parseRate('fast'), /not a rate/);
});

test('a fault resolves to the first N (or percent, rounded up) nodes of its groups, and a command for the runners', () => {
  const [cut, slow, storm] = planFaults(
    [
      faultSchema.parse({ at: 30, duration: 60, nodes: { group: 'edge', percent: 20 }, partition: 'out' }),
      faultSchema.parse({ name: 'slow', at: 0, nodes: { group: 'edge', count: 3 }, link: { latencyMs: 200, jitterMs: 20, rate: '3Mbit', loss: 0.01 } }),
      faultSchema.parse({ at: 10, nodes: { group: 'edge' }, disconnect: { backoff: false } }),
    ],
    groups,
  );
  assert.equal(cut!.name, 'fault-1');
  assert.deepEqual(cut!.nodes.slice(0, 2), ['e-0', 'e-1']);
  assert.equal(cut!.nodes.length, 20);
  assert.deepEqual(cut!.command, { id: 'fault-1', groups: ['edge'], durationMs: 60_000, first: 20, condition: { block: 'out' } });
  assert.equal(cut!.description, 'partition edge to cloud lost');
  assert.equal(cut!.atMs, 30_000);
  assert.deepEqual(slow!.command!.condition, { latencyMs: 200, jitterMs: 20, loss: 0.01, rateBps: 3e6 });
  assert.equal(slow!.description, 'link 200±20 ms, 1 % loss, 3 Mbit/s');
  assert.deepEqual(storm!.command, { id: 'fault-3', groups: ['edge'], durationMs: 60_000, drop: { backoff: false } });
  assert.equal(storm!.nodes.length, 100);
});

test('bad faults are refused with what is wrong', () => {
  assert.throws(() => faultSchema.parse({ at: 1, partition: 'out', link: { latencyMs: 1 } }), /exactly one effect/);
  assert.throws(() => faultSchema.parse({ at: 1 }), /exactly one effect/);
  assert.throws(() => faultSchema.parse({ at: 1, link: {} }), /say how the link is impaired/);
  assert.throws(() => faultSchema.parse({ at: 1, link: { flap: { down: 5, every: 5 } } }), /down must be shorter/);
  assert.throws(() => faultSchema.parse({ at: 1, partition: 'sideways' }));
  assert.throws(() => faultSchema.parse({ at: 1, partition: 'out', nodes: { count: 1, percent: 5 } }), /count or percent/);
  assert.throws(
    () => planFaults([faultSchema.parse({ at: 1, partition: 'in', nodes: { group: 'cloud' } })], groups),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_FAULT_INVALID' && /no node group "cloud"/.test(e.message) && /edge, kubelet/.test(e.fix ?? ''),
  );
  assert.throws(() => planFaults([faultSchema.parse({ at: 1, partition: 'in', nodes: { percent: 10 } })], groups), /groups of different sizes/);
});

test('--fault takes the same fields as key=value pairs', () => {
  assert.deepEqual(parseFaultFlag('partition=out,at=30,duration=60,percent=20'), {
    at: 30,
    duration: 60,
    partition: 'out',
    nodes: { percent: 20 },
  });
  const l = parseFaultFlag('name=slow,at=0,latency=200,jitter=20,loss=0.01,rate=64kbit,flap=5/30,group=edge,count=5');
  assert.deepEqual(l.link, { latencyMs: 200, jitterMs: 20, loss: 0.01, rate: 64e3, flap: { down: 5, every: 30 } });
  assert.deepEqual(parseFaultFlag('disconnect=none,at=5').disconnect, { backoff: false });
  assert.throws(() => parseFaultFlag('partition=out,when=3'), /unknown key "when"/);
  assert.throws(() => parseFaultFlag('at=3'), /exactly one effect/);
  assert.throws(() => parseFaultFlag('partition=out,at=soon'), /at=soon: not a number/);
});

const h = (name: string, changes: [number, 0 | 1][], readyMs: number | undefined = 0): ReadyHistory => ({ name, readyMs, changes });

test("a fault's SLIs: its nodes that went NotReady, Ready again 99 % and all after its end, those that never came back, the others' flaps", () => {
  const rec = {
    name: 'cut',
    effect: 'partition' as const,
    description: 'partition',
    nodes: ['a', 'b', 'c'],
    startMs: 1000,
    endMs: 61_000,
    affected: 3,
    unsupported: 0,
  };
  const nodes = [
    h('a', [
      [45_000, 0],
      [70_000, 1],
    ]),
    h('b', [
      [46_000, 0],
      [91_000, 1],
    ]),
    h('c', []), // never noticed
    h('x', [
      [30_000, 0],
      [31_000, 1],
    ]), // another node flapped during it
    h('y', [
      [500_000, 0],
      [501_000, 1],
    ]), // long after: not counted
  ];
  const [s] = faultSlis([rec], nodes);
  assert.equal(s!.wentNotReady, 2);
  assert.equal(s!.readyAgainAllMs, 30_000);
  assert.equal(s!.readyAgainP99Ms, 30_000);
  assert.equal(s!.notRecovered, 0);
  assert.equal(s!.othersFlaps, 1);

  const stuck = faultSlis([rec], [h('a', [[45_000, 0]]), h('b', []), h('c', [])]);
  assert.equal(stuck[0]!.notRecovered, 1);
  assert.equal(stuck[0]!.readyAgainAllMs, undefined, 'not all came back');
  assert.equal(stuck[0]!.readyAgainP99Ms, undefined, 'one of three is more than 1 %');

  const never = faultSlis([{ ...rec, startMs: undefined, endMs: undefined, error: 'the run ended before it began' }], nodes);
  assert.equal(never[0]!.wentNotReady, 0);
  assert.equal(never[0]!.readyAgainAllMs, undefined);
});

test('a kill fault: the component, its signal, and a restart after the duration; the driver records both ends', async () => {
  const spec = parseFaultFlag('kill=cloudcore/SIGTERM,at=0,duration=0.05');
  assert.deepEqual(spec.kill, { component: 'cloudcore', signal: 'SIGTERM' });
  assert.throws(() => parseFaultFlag('kill=kubelet,at=0'), /kill\.component/);
  const [f] = planFaults([spec], groups);
  assert.equal(f!.description, 'SIGTERM cloudcore, started again after 0.05 s');
  assert.equal(f!.command, undefined);
  assert.equal(f!.nodes.length, 150, 'every node of the run is what it hurts');
  const calls: string[] = [];
  const quiet = { info: () => undefined, warn: () => undefined } as unknown as import('../core/log.js').Logger;
  const driver = new FaultDriver([f!], { linkFault: async () => ({ affected: 0, unsupported: 0 }) }, quiet, Date.now(), {
    kill: async (c, s) => void calls.push(`kill ${c} ${s}`),
    restart: async () => void calls.push('restart'),
  });
  driver.start();
  await new Promise((r) => setTimeout(r, 200));
  await driver.settle();
  driver.stop();
  assert.deepEqual(calls, ['kill cloudcore SIGTERM', 'restart']);
  const [rec] = driver.records();
  assert.ok(rec!.startMs !== undefined && rec!.endMs !== undefined && rec!.endMs >= rec!.startMs + 50, JSON.stringify(rec));
  assert.equal(rec!.error, undefined);
});

test('a kill fault the run ends during: settle starts the component again, so no run leaves it down', async () => {
  const [f] = planFaults([parseFaultFlag('kill=kube-apiserver,at=0,duration=600')], groups);
  const calls: string[] = [];
  const quiet = { info: () => undefined, warn: () => undefined } as unknown as import('../core/log.js').Logger;
  const driver = new FaultDriver([f!], { linkFault: async () => ({ affected: 0, unsupported: 0 }) }, quiet, Date.now(), {
    kill: async (c) => void calls.push(`kill ${c}`),
    restart: async () => void calls.push('restart'),
  });
  driver.start();
  await new Promise((r) => setTimeout(r, 50));
  await driver.settle();
  driver.stop();
  assert.deepEqual(calls, ['kill kube-apiserver', 'restart']);
  const never = new FaultDriver([f!], { linkFault: async () => ({ affected: 0, unsupported: 0 }) }, quiet, Date.now());
  never.stop();
  assert.equal(never.records()[0]!.error, 'the nodes were never all up');
});
