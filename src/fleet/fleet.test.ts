/**
 * The fleet with a node kind of the test's own: it knows no kind, so a stand-in
 * kind pins what the fleet does with any (paced starts, the join window, the
 * kind-neutral summary, fatal errors).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { HollowNode, KindContext, NodeKindDefinition, RunnerEvents } from '../kind/kind.js';
import type { LinkCondition } from '../link/model.js';
import { StageEngine } from '../lifecycle/engine.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';
import { Fleet, mergeSummaries } from './fleet.js';
import { fleetRegistry } from './metrics.js';

/** A node that is Ready when the test says so. */
class StandIn implements HollowNode {
  state = 'waiting';
  constructor(
    readonly name: string,
    private readonly events: RunnerEvents,
  ) {}
  start() {
    this.state = 'waiting';
  }
  stop() {
    if (this.state !== 'failed') this.state = 'stopped';
  }
  fail() {
    this.state = 'failed';
  }
  podCounts() {
    return { running: 1, admitted: 2, rejected: 0 };
  }
  ready() {
    this.state = 'ready';
    this.events.changed(this);
  }
  link: LinkCondition | undefined;
  drops: boolean[] = [];
  impairLink(c: LinkCondition | undefined) {
    this.link = c;
  }
  dropLink(backoff: boolean) {
    this.drops.push(backoff);
  }
}

function standInKind(made: StandIn[], contexts: KindContext[]): NodeKindDefinition {
  return {
    name: 'standin',
    validate(g) {
      if ('bad' in g.profile) throw new EdgemarkError('EM_PLAN_INVALID', `[plan] group ${g.name}: bad profile`);
    },
    create(ctx) {
      contexts.push(ctx);
      return {
        name: 'standin',
        states: ['waiting', 'ready', 'stopped', 'failed'],
        prepare: async () => undefined,
        createNode(spec) {
          const n = new StandIn(spec.name, ctx.events);
          made.push(n);
          return n;
        },
        extras: () => ({ made: made.length }),
        close: () => undefined,
      };
    },
  };
}

function fleetOf(o: { counts: number[]; maxJoining?: number; trace?: boolean; profile?: Record<string, unknown> }) {
  const made: StandIn[] = [];
  const contexts: KindContext[] = [];
  let base = 0;
  const fleet = new Fleet({
    groups: o.counts.map((count, i) => {
      const g = {
        kind: 'standin',
        group: { name: `g${i}`, prefix: `g${i}-`, profile: o.profile ?? {}, timings: {} },
        count,
        firstIndex: 0,
        stride: 1,
        indexBase: base,
      };
      base += count;
      return g;
    }),
    kinds: { standin: standInKind(made, contexts) },
    kindContext: { target: { cloudcore: [] }, credentials: { token: 't' }, dataDir: '/nowhere', shard: undefined },
    stages: new StageEngine(new Map()),
    joinRate: 10_000,
    maxJoining: o.maxJoining ?? 0,
    traceMilestones: o.trace ?? false,
    log: createLogger({ level: 'error' }),
  });
  return { fleet, made, contexts };
}

test("nodes of every group start with their names and global indices; the summary counts the kind's states per group", { timeout: 5000 }, async () => {
  const { fleet, made, contexts } = fleetOf({ counts: [3, 2] });
  await fleet.start(new AbortController().signal);
  assert.deepEqual(
    made.map((n) => n.name),
    ['g0-0', 'g0-1', 'g0-2', 'g1-0', 'g1-1'],
  );
  assert.equal(contexts.length, 1, 'one kind instance per process, whatever the groups');
  made[0]!.ready();
  made[3]!.ready();
  const s = fleet.summary();
  assert.deepEqual(s.states, { waiting: 3, ready: 2, stopped: 0, failed: 0 });
  assert.deepEqual(s.groups, { g0: { kind: 'standin', nodes: 3, ready: 1 }, g1: { kind: 'standin', nodes: 2, ready: 1 } });
  assert.equal(s.joined, 2);
  assert.deepEqual(s.pods, { running: 5, admitted: 10, rejected: 0 });
  assert.deepEqual(s.kinds, { standin: { made: 5 } });
  fleet.stop();
});

test('the join window holds the next start until a node is Ready or its registration timed out', { timeout: 5000 }, async () => {
  const { fleet, made } = fleetOf({ counts: [4], maxJoining: 2 });
  const started = fleet.start(new AbortController().signal);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(made.length, 2, 'two joining at once');
  made[0]!.ready();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(made.length, 3);
  fleet.error(made[1]!, 'register-timeout', new Error('no answer'));
  await started;
  assert.equal(made.length, 4);
  const s = fleet.summary();
  assert.equal(s.unserved, 1);
  assert.deepEqual(s.unservedNodes, ['g0-1']);
  assert.equal(s.errors['register-timeout'], 1);
  assert.ok(s.joinWindow.waitedMs > 0);
  fleet.stop();
});

test('a fatal error fails the node, stops further starts and reaches every listener', { timeout: 5000 }, async () => {
  const { fleet, made } = fleetOf({ counts: [50], maxJoining: 1 });
  const heard: string[] = [];
  fleet.whenFatal((e) => heard.push(`a ${e.code}`));
  fleet.whenFatal((e) => heard.push(`b ${e.code}`));
  const started = fleet.start(new AbortController().signal);
  await new Promise((r) => setTimeout(r, 10));
  fleet.fatal(made[0]!, new EdgemarkError('EM_TOKEN_REJECTED', '[bootstrap] refused', 'use the current token'));
  await started;
  assert.equal(made.length, 1, 'nothing started after the fatal error');
  assert.equal(made[0]!.state, 'failed');
  assert.deepEqual(heard, ['a EM_TOKEN_REJECTED', 'b EM_TOKEN_REJECTED']);
  assert.deepEqual(fleet.summary().fatal, { code: 'EM_TOKEN_REJECTED', message: '[bootstrap] refused', fix: 'use the current token' });
  fleet.stop();
});

test('traffic is counted by direction and route; pod milestones are kept only when traced', { timeout: 5000 }, () => {
  const quiet = fleetOf({ counts: [1] });
  quiet.fleet.traffic('out', 'update lease');
  quiet.fleet.traffic('out', 'update lease');
  quiet.fleet.traffic('in', 'insert pod');
  quiet.fleet.podMilestone('u1', 'admitted');
  const s = quiet.fleet.summary();
  assert.deepEqual(s.messagesByRoute, { 'in insert pod': 1, 'out update lease': 2 });
  assert.equal(s.messagesIn, 1);
  assert.equal(s.messagesOut, 2);
  assert.deepEqual(quiet.fleet.takeMilestones(), []);
  quiet.fleet.stop();
  const traced = fleetOf({ counts: [1], trace: true });
  traced.fleet.podMilestone('u1', 'admitted');
  assert.deepEqual(
    traced.fleet.takeMilestones().map((m) => [m.uid, m.event]),
    [['u1', 'admitted']],
  );
  assert.deepEqual(traced.fleet.takeMilestones(), [], 'taken once');
  traced.fleet.stop();
});

test('a group the kind refuses is refused before any node exists', { timeout: 5000 }, () => {
  assert.throws(
    () => fleetOf({ counts: [1], profile: { bad: true } }),
    (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_PLAN_INVALID',
  );
});

test('the Grafana dashboard (deploy/grafana) queries only metrics a runner serves', async () => {
  const { fleet } = fleetOf({ counts: [2] });
  const metrics = await fleetRegistry(fleet).getMetricsAsJSON();
  const served = new Set(metrics.flatMap((m) => (String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((x) => `${m.name}${x}`) : [m.name])));
  const dash = JSON.parse(readFileSync(join(packageRoot(), 'deploy', 'grafana', 'edgemark-runner.json'), 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  const queried = new Set(
    dash.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:edgemark|process)_[a-z0-9_]+)\{/g)].map((m) => m[1]!))),
  );
  assert.ok(queried.size >= 8, [...queried].join(' '));
  for (const m of queried) assert.ok(served.has(m), `${m} is queried by the dashboard and not served`);
});

test('a link fault: the first N of the named groups get its condition, lifted after its duration; a newer fault on a node is not lifted by the older', {
  timeout: 5000,
}, async () => {
  const { fleet, made } = fleetOf({ counts: [4, 3] });
  await fleet.start(new AbortController().signal);
  const r = fleet.linkFault({ id: 'cut', groups: ['g0'], first: 2, durationMs: 60_000, condition: { block: 'out' } });
  assert.deepEqual(r, { affected: 2, unsupported: 0 });
  assert.deepEqual(
    made.map((n) => n.link?.block),
    ['out', 'out', undefined, undefined, undefined, undefined, undefined],
  );
  assert.ok(made[0]!.link!.since > 0, 'the condition carries when it began');
  fleet.linkFault({ id: 'slow', first: 1, durationMs: 60_000, condition: { latencyMs: 100 } });
  assert.equal(made[0]!.link?.latencyMs, 100, 'the newer fault wins on node 0');
  assert.equal(made[4]!.link?.latencyMs, 100, 'every group when none is named: g1-0 too');
  fleet.liftLinkFault('cut');
  assert.equal(made[0]!.link?.latencyMs, 100, 'lifting the older leaves the newer');
  assert.equal(made[1]!.link, undefined, 'node 1 had only the cut');
  fleet.linkFault({ id: 'short', first: 3, groups: ['g1'], durationMs: 20, condition: { loss: 0.1 } });
  assert.equal(made[6]!.link?.loss, 0.1);
  await new Promise((res) => setTimeout(res, 80));
  assert.equal(made[6]!.link, undefined, 'lifted by the fleet itself after its duration');
  assert.deepEqual(fleet.activeLinkFaults, ['slow']);
  fleet.stop();
  assert.equal(made[0]!.link, undefined, 'stopping lifts every fault');
});

test('a reconnect storm: the dropped nodes, who came back and when, in the summary and merged over processes', { timeout: 5000 }, async () => {
  const { fleet, made } = fleetOf({ counts: [3] });
  await fleet.start(new AbortController().signal);
  fleet.linkFault({ id: 'storm', durationMs: 60_000, drop: { backoff: false } });
  assert.deepEqual(
    made.map((n) => n.drops),
    [[false], [false], [false]],
  );
  fleet.reconnected(made[0]!);
  fleet.reconnected(made[1]!);
  const s = fleet.summary().storms!.storm!;
  assert.equal(s.nodes, 3);
  assert.equal(s.back, 2);
  assert.equal(s.allMs, undefined, 'not all back');
  fleet.reconnected(made[2]!);
  fleet.reconnected(made[2]!);
  const all = fleet.summary().storms!.storm!;
  assert.equal(all.back, 3, 'a second reconnect of a node counts once');
  assert.ok(all.allMs !== undefined && all.p99Ms !== undefined);
  const merged = mergeSummaries([fleet.summary(), { ...fleet.summary(), storms: { storm: { nodes: 2, back: 2, p99Ms: 99_999, allMs: 99_999 } } }]);
  assert.deepEqual(merged.storms!.storm, { nodes: 5, back: 5, p99Ms: 99_999, allMs: 99_999 });
  fleet.stop();
});
