/**
 * Fuzzing the inputs Edgemark takes from outside: frames from the cloud,
 * LoadTest, PodLifecycle and FleetPlan files, join tokens, kubelet bootstrap
 * tokens and given node kubeconfigs. The rule for every one of them: no crash,
 * and every refusal is a coded EdgemarkError (the frame decoder's is a
 * ProtocolError, EM_PROTO_SHAPE). What a parser accepts must be usable by the
 * code after it (a LoadTest becomes a FleetPlan, a plan is sharded and dry-run,
 * a lifecycle is stepped, a frame reaches a hollow edge node).
 *
 * Two passes. The corpus in test/fixtures/fuzz/<parser>/ holds one malformed
 * input per file, named for what is wrong; expected.json there says what each
 * must do (the code of its refusal, or "accepted"). Inputs too big to commit
 * (deep nesting, long strings) are made here. Then a seeded mutation pass (a
 * small PRNG with a fixed seed: byte flips, truncations, splices of valid
 * inputs, and values swapped for hostile ones in the parsed tree) explores
 * more, the same inputs on every run.
 *
 * A case that fails because of a known bug in src/ is marked todo, with the
 * bug; the mutation pass tolerates exactly those bugs and says how often it
 * met them, and a todo test asks for none at all.
 *
 * EDGEMARK_FUZZ_RECORD=1 prints what each corpus input did, to review an
 * expected.json entry for a new file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { EdgemarkError } from '../../src/core/errors.js';
import { packageRoot } from '../../src/core/paths.js';
import type { FrameSink } from '../../src/edge/edgehub/link.js';
import { EdgeHarness, podObject } from '../../src/edge/testing/harness.js';
import { checkBootstrapToken } from '../../src/kubelet/bootstrap.js';
import { readNodeKubeconfig } from '../../src/kubelet/given.js';
import { StageEngine } from '../../src/lifecycle/engine.js';
import { LIFECYCLE_ANNOTATION, loadLifecycles, parseLifecycle, type PodLifecycle } from '../../src/lifecycle/schema.js';
import { decode, encode, ProtocolError } from '../../src/protocol/message.js';
import { fleetJoinRate, fleetWorkers, nodeCount, resolveTest } from '../../src/run/config.js';
import { fleetFor } from '../../src/run/runtime-fleet.js';
import { InProcessRuntime } from '../../src/runtime/inprocess.js';
import { checkKinds } from '../../src/runtime/kinds.js';
import { nodeIndex, nodeNames, parsePlan, planNodeCount, shardPlan } from '../../src/runtime/plan.js';
import { parseToken } from '../../src/transport/token.js';

const root = packageRoot();
const corpusDir = join(root, 'test', 'fixtures', 'fuzz');
const scratch = mkdtempSync(join(tmpdir(), 'edgemark-fuzz-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** "Now" for the join tokens: fixed, so that expiry does not depend on the day the test runs. */
const NOW = Date.UTC(2027, 0, 1);
/**
 * A single input slower than this is a hang in the making (an alias bomb, a
 * quadratic scan). Generous, so that a loaded machine does not fail the test:
 * the inputs here take milliseconds, the biggest generated ones a few hundred.
 */
const SLOW_MS = 5000;
const MUTATIONS = 300;
const SEED = 0x5eed_f022;

// ---------------------------------------------------------------- outcomes

/** What a parser (and the code after it) did with one input. */
type Outcome = { kind: 'accepted' } | { kind: 'refused'; code: string } | { kind: 'crash'; err: unknown; stage: string };

class Crash extends Error {
  constructor(
    readonly stage: string,
    readonly err: unknown,
  ) {
    super(`${stage}: ${describe(err)}`);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.slice(0, 300)}`;
  return String(err).slice(0, 300);
}

/** The first frames of a stack that are the product's (dist/src/...). */
function productFrames(err: unknown, n = 4): string[] {
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  return stack
    .split('\n')
    .filter((l) => /\/src\/.*\.js:\d+/.test(l))
    .slice(0, n)
    .map((l) =>
      l
        .trim()
        .replace(/file:\/\/\S*?\/dist\//, '')
        .replace(/^at /, ''),
    );
}

/** A refusal is an EdgemarkError with a catalogued code and a message; anything else thrown is a crash. */
function isCoded(err: unknown): err is EdgemarkError {
  return err instanceof EdgemarkError && /^EM_[A-Z_]+$/.test(err.code) && err.code !== 'EM_INTERNAL' && err.message.length > 0;
}

/**
 * Runs `parse` (the parser), then `use` on what it returned (the code after
 * it). A coded error in either is a refusal; any other throw is a crash, with
 * the stage it happened in. Object.prototype must come out untouched.
 */
function attempt<T>(parse: () => T, use: (v: T) => void = () => {}): Outcome {
  const started = performance.now();
  let outcome: Outcome;
  let stage = 'parse';
  try {
    const v = parse();
    stage = 'use';
    use(v);
    outcome = { kind: 'accepted' };
  } catch (err) {
    if (err instanceof Crash) outcome = { kind: 'crash', err: err.err, stage: err.stage };
    else if (isCoded(err)) outcome = { kind: 'refused', code: err.code };
    else outcome = { kind: 'crash', err, stage };
  }
  const ms = performance.now() - started;
  if (ms > SLOW_MS) outcome = { kind: 'crash', err: new Error(`took ${Math.round(ms)} ms`), stage: 'slow' };
  const polluted = Object.keys(Object.prototype).concat(Object.keys(Array.prototype));
  if (polluted.length) {
    for (const k of polluted) {
      delete (Object.prototype as Record<string, unknown>)[k];
      delete (Array.prototype as unknown as Record<string, unknown>)[k];
    }
    outcome = { kind: 'crash', err: new Error(`prototype polluted with ${polluted.join(', ')}`), stage: 'pollution' };
  }
  return outcome;
}

const label = (o: Outcome) => (o.kind === 'accepted' ? 'accepted' : o.kind === 'refused' ? o.code : `crash in ${o.stage}: ${describe(o.err)}`);

// ---------------------------------------------------------------- the parsers, and what uses their results

const routeKeys = ['source', 'destination', 'group', 'operation', 'resource'] as const;

/** A beehive frame: the decoder refuses with ProtocolError; what it accepts encodes and decodes again. */
function frameOutcome(text: string): Outcome {
  return attempt(
    () => {
      try {
        return decode(text);
      } catch (err) {
        // The decoder documents ProtocolError (EM_PROTO_SHAPE) for anything it refuses.
        if (err instanceof ProtocolError && err.code === 'EM_PROTO_SHAPE') throw err;
        throw new Crash('decode', err);
      }
    },
    (m) => {
      assert.ok(typeof m.header.msg_id === 'string' && m.header.msg_id !== '');
      for (const k of routeKeys) assert.ok(m.route[k] === undefined || typeof m.route[k] === 'string', `route.${k}`);
      // Header and route survive encode and decode; the content is the cloud's, passed on as it came.
      let again: ReturnType<typeof decode>;
      try {
        again = decode(encode({ ...m, content: null }));
      } catch (err) {
        throw new Crash('round trip', err);
      }
      assert.equal(again.header.msg_id, m.header.msg_id);
      for (const k of routeKeys) assert.equal(again.route[k], m.route[k] || undefined);
    },
  );
}

const target = { name: 'fuzz', cloudcore: [{ websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002' }] };

/** A LoadTest file, as `edgemark run --config` reads it; an accepted test becomes the plan of its fleet. */
function loadTestOutcome(file: string): Outcome {
  return attempt(
    () => resolveTest({ configFile: file }),
    (t) => {
      assert.ok(Number.isSafeInteger(nodeCount(t)) && nodeCount(t) > 0);
      assert.ok(Number.isFinite(fleetJoinRate(t)) && fleetJoinRate(t) > 0);
      assert.ok(fleetWorkers(t) >= 1);
      const { plan } = fleetFor({ test: t, runId: 'fuzz' }, target, join(scratch, 'run'), 'inprocess');
      usePlan(plan);
    },
  );
}

const builtinStages = loadLifecycles([join(root, 'stages')]);

/** A PodLifecycle file; an accepted one selects pods and steps them on. */
function stageOutcome(text: string, file: string): Outcome {
  return attempt(
    () => parseLifecycle(text, file),
    (l) => useLifecycle(l),
  );
}

function useLifecycle(l: PodLifecycle): void {
  const engine = new StageEngine(new Map([...builtinStages, [l.metadata.name, l]]));
  const picked = engine.select({ annotations: { [LIFECYCLE_ANNOTATION]: l.metadata.name } });
  assert.equal(picked.metadata.name, l.metadata.name);
  engine.select({ labels: { app: 'x' }, ownerReferences: [{ kind: 'Job' }] });
  let index = -1;
  let restarts = 0;
  for (let i = 0; i < 50; i++) {
    const next = engine.next(picked, index, restarts, () => 0.5);
    if (!next) break;
    assert.ok(Number.isFinite(next.afterMs) && next.afterMs >= 0, `afterMs ${next.afterMs}`);
    assert.ok(Number.isInteger(next.exitCode));
    if (next.to === 'restart') restarts++;
    index = next.index;
  }
}

/**
 * A FleetPlan file, as `edgemark nodes run --plan` reads it: YAML (JSON is
 * YAML), then parsePlan. The CLI's reader is not exported; its one step
 * before parsePlan is mirrored here, refusing unreadable text with
 * EM_PLAN_INVALID as it does. JSON text is also read as the runner pod reads
 * its plan.json (JSON.parse, then parsePlan), which must not crash either.
 */
function planOutcome(text: string): Outcome {
  const viaYaml = attempt(
    () => {
      let raw: unknown;
      try {
        raw = parseYaml(text);
      } catch (err) {
        throw new EdgemarkError('EM_PLAN_INVALID', `[plan] cannot read the plan: ${(err as Error).message}`);
      }
      return parsePlan(raw);
    },
    (p) => usePlan(p),
  );
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return viaYaml;
  }
  const viaJson = attempt(
    () => parsePlan(raw),
    (p) => usePlan(p),
  );
  return viaJson.kind === 'crash' ? viaJson : viaYaml;
}

/** What the runtimes do with a plan before any node starts. */
function usePlan(plan: ReturnType<typeof parsePlan>): void {
  checkKinds(plan);
  const total = planNodeCount(plan);
  assert.ok(Number.isSafeInteger(total) && total > 0);
  const names = nodeNames(plan, 5);
  for (const [i, n] of names.entries()) assert.equal(nodeIndex(plan, n), i);
  const [one] = shardPlan(plan, undefined, 0);
  assert.ok(one && one.groups.length > 0 && Number.isFinite(one.joinRate));
  shardPlan(plan, 3, 0);
  new InProcessRuntime().dryRun(plan);
  assert.deepEqual(parsePlan(JSON.parse(JSON.stringify(plan))), plan, 'a plan survives JSON (IPC, ConfigMaps)');
}

/** A KubeEdge join token; an accepted one has a CA hash, a three-part JWT and an expiry in the future. */
function tokenOutcome(text: string): Outcome {
  return attempt(
    () => parseToken(text, NOW),
    (t) => {
      assert.match(t.caHash, /^[0-9a-f]{64}$/);
      assert.equal(t.jwt.split('.').length, 3);
      if (t.expiresAt !== undefined) assert.ok(t.expiresAt > NOW);
    },
  );
}

/** A kubelet bootstrap token; an accepted one names its 6-character id. */
function bootstrapTokenOutcome(text: string): Outcome {
  return attempt(
    () => checkBootstrapToken(text),
    (t) => assert.match(t.id, /^[a-z0-9]{6}$/),
  );
}

/** A given node kubeconfig; an accepted one holds a PEM certificate and key, or a token. */
function kubeconfigOutcome(file: string): Outcome {
  return attempt(
    () => readNodeKubeconfig(file),
    (c) => {
      assert.equal(typeof c.user, 'string');
      if (c.certPem !== undefined) assert.ok(typeof c.certPem === 'string' && typeof c.keyPem === 'string');
      if (c.token !== undefined) assert.ok(typeof c.token === 'string' && c.token.length > 0);
      assert.ok(c.certPem !== undefined || c.token !== undefined);
    },
  );
}

let fileSeq = 0;
/** Writes an input to a fresh file under the scratch directory (for parsers that take a path). */
function scratchFile(content: string | Buffer, ext: string): string {
  const f = join(scratch, `input-${++fileSeq}${ext}`);
  writeFileSync(f, content);
  return f;
}

// ---------------------------------------------------------------- a hollow edge node fed frames

interface NodeRun {
  /** A throw out of the node's link callbacks (a frame, the link opening or closing), its timers or its restart. */
  crash?: { stage: string; err: unknown };
  /** Decode errors the node reported that are not ProtocolErrors. */
  badDecodeReports: unknown[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The frame as the answer to request `parent`, when it has a header to carry the parent id. */
function asReply(frame: string, parent: string): string | undefined {
  try {
    const o: unknown = JSON.parse(frame);
    if (!isObject(o) || !isObject(o.header)) return undefined;
    return JSON.stringify({ ...o, header: { ...o.header, parent_msg_id: parent } });
  } catch {
    return undefined;
  }
}

/**
 * Catches what the node throws back into its link: the fake cloud calls
 * onFrame and onOpen from microtasks too (a scripted answer, the dial), where
 * a throw would escape the test as an uncaught exception; on the real
 * websocket it would escape the ws event handler.
 */
function guardLink(hub: Pick<FrameSink, 'onFrame' | 'onOpen' | 'onClose'>, thrown: unknown[]): void {
  for (const k of ['onFrame', 'onOpen', 'onClose'] as const) {
    const call = hub[k].bind(hub) as (arg?: string) => void;
    hub[k] = (arg?: string) => {
      try {
        call(arg);
      } catch (err) {
        thrown.push(err);
      }
    };
  }
}

/**
 * A ready node with a running pod (fuzz-a, uid-fuzz-a) and requests left
 * unanswered (a pod's ConfigMap, its token, its status patch, the lease); the
 * frame arrives as a push and as the answer to each pending request; time
 * moves on; then the runner restarts the node from its store. Nothing may
 * throw out of the node, and its timers must not throw either.
 */
async function feedNode(frame: string): Promise<NodeRun> {
  const h = new EdgeHarness();
  const thrown: unknown[] = [];
  // The scheduler would log a throwing timer and go on; the test wants to know.
  (h.scheduler as unknown as { onError: (err: unknown) => void }).onError = (err) => thrown.push(err);
  const run: NodeRun = { badDecodeReports: [] };
  let stage = 'setup';
  try {
    guardLink(h.node.hub, thrown);
    await h.start();
    h.cloud.push('default/pod/fuzz-a', podObject('fuzz-a', 'uid-fuzz-a'));
    await h.advance(3000);
    assert.equal(h.node.edged.pods.byUid.get('uid-fuzz-a')?.step, 'running', 'setup: the pod runs');
    h.cloud.drop(() => true);
    const mark = h.cloud.received.length;
    h.cloud.push(
      'default/pod/fuzz-w',
      podObject('fuzz-w', 'uid-fuzz-w', {
        volumes: [{ configMap: { name: 'cm' } }, { projected: { sources: [{ serviceAccountToken: { expirationSeconds: 600 } }] } }],
      }),
    );
    await h.advance(11_000);
    const pending = h.cloud.received
      .slice(mark)
      .filter((m) => m.route.group === 'meta')
      .map((m) => m.header.msg_id);
    stage = 'push';
    h.cloud.sendRaw(frame);
    stage = 'reply';
    for (const id of pending) {
      const reply = asReply(frame, id);
      if (reply) h.cloud.sendRaw(reply);
    }
    if (thrown.length) throw thrown[0];
    stage = 'timers';
    await h.advance(10_000);
    if (thrown.length) throw thrown[0];
    stage = 'restart';
    h.restart();
    guardLink(h.node.hub, thrown);
    h.node.start();
    await h.advance(5_000);
    if (thrown.length) throw thrown[0];
  } catch (err) {
    run.crash = { stage, err };
  } finally {
    h.node.stop();
    h.scheduler.stop();
    h.store.close();
  }
  run.badDecodeReports = h.events.errors.filter((e) => e.kind === 'decode' && !(e.err instanceof ProtocolError)).map((e) => e.err);
  return run;
}

// ---------------------------------------------------------------- the corpus

const folders = ['frames', 'loadtest', 'stages', 'plans', 'tokens', 'bootstrap-tokens', 'kubeconfigs'] as const;
type Folder = (typeof folders)[number];

/** What each corpus file must do: the code of its refusal, or "accepted" (a|b: either will do). */
const expected = JSON.parse(readFileSync(join(corpusDir, 'expected.json'), 'utf8')) as Record<string, string>;

function corpus(folder: Folder): string[] {
  return readdirSync(join(corpusDir, folder))
    .sort()
    .map((f) => `${folder}/${f}`);
}

/**
 * Cases that fail because of a bug in src/ (reported, not fixed here): the
 * case stays, asserting the right behaviour, as a todo. A case is named
 * `<folder>/<file>` (the parser's outcome), `node:<folder>/<file>` (a node
 * fed the frame), `generated:<name>` or `node:generated:<name>`. `stack`
 * matches the bug's first product stack frame, for the mutation pass.
 */
const knownBugs: { cases: string[]; why: string; stack: RegExp }[] = [];

const todoOf = (name: string) => knownBugs.find((b) => b.cases.includes(name))?.why;
const knownBugOf = (err: unknown) => knownBugs.find((b) => productFrames(err, 1).some((f) => b.stack.test(f)));

function outcomeOf(name: string): Outcome {
  const folder = name.split('/')[0] as Folder;
  const file = join(corpusDir, name);
  const text = () => readFileSync(file, 'utf8');
  switch (folder) {
    case 'frames':
      return frameOutcome(text());
    case 'loadtest':
      return loadTestOutcome(file);
    case 'stages':
      return stageOutcome(text(), name);
    case 'plans':
      return planOutcome(text());
    case 'tokens':
      return tokenOutcome(text());
    case 'bootstrap-tokens':
      return bootstrapTokenOutcome(text());
    case 'kubeconfigs':
      return kubeconfigOutcome(file);
  }
}

test('fuzz corpus: every file has an expected outcome, and every expectation a file', () => {
  const files = folders.flatMap(corpus);
  assert.deepEqual(
    files.filter((f) => !(f in expected)),
    [],
    'files without an entry in expected.json',
  );
  assert.deepEqual(
    Object.keys(expected).filter((f) => !files.includes(f)),
    [],
    'entries of expected.json without a file',
  );
  for (const f of folders) assert.ok(corpus(f).length >= 15, `${f}: at least 15 inputs`);
  for (const [f, want] of Object.entries(expected)) assert.match(want, /^(accepted|EM_[A-Z_]+)(\|(accepted|EM_[A-Z_]+))*$/, f);
});

if (process.env.EDGEMARK_FUZZ_RECORD) {
  test('fuzz corpus: record', () => {
    const seen: Record<string, string> = {};
    for (const f of folders.flatMap(corpus)) seen[f] = label(outcomeOf(f));
    console.log(JSON.stringify(seen, null, 2));
  });
}

for (const folder of folders) {
  test(`fuzz corpus ${folder}/: no crash, every refusal coded, each as expected`, async (t) => {
    const tally = new Map<string, number>();
    for (const name of corpus(folder)) {
      const o = outcomeOf(name);
      tally.set(label(o), (tally.get(label(o)) ?? 0) + 1);
      await t.test(basename(name), { todo: todoOf(name) }, () => {
        if (o.kind === 'crash') {
          assert.fail(`${name}: ${label(o)}\n    at ${productFrames(o.err).join('\n    at ')}`);
        }
        const got = o.kind === 'accepted' ? 'accepted' : o.code;
        assert.ok(expected[name]?.split('|').includes(got), `${name}: ${got}, expected ${expected[name]}`);
      });
    }
    t.diagnostic(`${folder}: ${[...tally].map(([k, n]) => `${n} ${k}`).join(', ')}`);
  });
}

test('fuzz corpus frames/: a hollow edge node fed each frame does not throw, and reports decode errors as ProtocolErrors', async (t) => {
  for (const name of corpus('frames')) {
    const frame = readFileSync(join(corpusDir, name), 'utf8');
    const run = await feedNode(frame);
    const todo = todoOf(`node:${name}`);
    await t.test(basename(name), { todo }, () => {
      if (run.crash)
        assert.fail(`${name}: the node threw in ${run.crash.stage}: ${describe(run.crash.err)}\n    at ${productFrames(run.crash.err).join('\n    at ')}`);
      assert.deepEqual(run.badDecodeReports, []);
    });
  }
});

// ---------------------------------------------------------------- seeds for the mutation pass

const validPlan = {
  apiVersion: 'edgemark.io/v1alpha1',
  kind: 'FleetPlan',
  target: { name: 'fuzz', cloudcore: [{ websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002' }] },
  groups: [{ name: 'edge', kind: 'edge', count: 10, prefix: 'fuzz-edge-', profile: { cpu: '2', labels: { zone: 'a' } }, timings: { keepaliveMs: 15000 } }],
  pacing: { joinRate: 50, maxJoining: 20 },
  dataDir: '/nonexistent/edgemark-fuzz',
};
const planSeeds = [
  validPlan,
  {
    ...validPlan,
    target: { ...validPlan.target, apiserver: 'https://127.0.0.1:6443', apiserverCa: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    groups: [
      { name: 'edge', count: 4, prefix: 'e-' },
      { name: 'kube', kind: 'kubelet', count: 6, prefix: 'k-', profile: { shape: 'kubelet', npd: true }, timings: {} },
    ],
    observe: { tracePods: true, metrics: false, recordFrames: '/nonexistent/frames.jsonl' },
    slice: { from: 2, count: 5 },
    durationSeconds: 60,
    stagePaths: [],
  },
].map((p) => JSON.stringify(p, null, 1));

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const joinToken = (payload: string) => `${'c0'.repeat(32)}.${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(payload)}.${b64url('signature')}`;
const tokenSeeds = [joinToken('{"exp":4102444800}'), joinToken('{"exp":4102444800,"iat":1700000000,"sub":"edge"}'), joinToken('{}')];
const bootstrapSeeds = ['abcdef.0123456789abcdef', '07401b.f395accd246ae52d\n'];

const pemB64 = (kind: string) => Buffer.from(`-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`).toString('base64');
const kubeconfigHead = `apiVersion: v1
kind: Config
clusters:
  - name: c
    cluster: { server: "https://127.0.0.1:6443" }
contexts:
  - name: x
    context: { cluster: c, user: node }
current-context: x
users:
  - name: node
    user:
`;
const validKubeconfigs = [
  `${kubeconfigHead}      token: node-token\n`,
  `${kubeconfigHead}      client-certificate-data: ${pemB64('CERTIFICATE')}\n      client-key-data: ${pemB64('EC PRIVATE KEY')}\n`,
];

/** Frames recorded from a real CloudCore (for other nodes), and frames for the harness node n1. */
const frameSeeds = (): string[] => [
  ...readFileSync(join(root, 'test', 'fixtures', 'frames', 'cloudcore-v1.23.1.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== ''),
  ...nodeFrameSeeds(),
];

/** What the cloud sends node n1 of the harness: pods (new, being deleted, deleted, of a Job), its Node, a ConfigMap, devices. */
const nodeFrameSeeds = (): string[] => {
  const push = (resource: string, content: unknown, operation = 'insert', extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      header: { msg_id: `seed-${resource}`, timestamp: 1_700_000_001_000, resourceversion: '11', ...extra },
      route: { source: 'edgecontroller', group: 'resource', operation, resource },
      content,
    });
  return [
    push(
      'default/pod/fuzz-m',
      podObject(
        'fuzz-m',
        'uid-fuzz-m',
        {
          restartPolicy: 'Always',
          serviceAccountName: 'sa',
          initContainers: [{ name: 'init', image: 'registry.test/init:1', resources: { requests: { cpu: '100m', memory: '16Mi' } } }],
          containers: [
            {
              name: 'c',
              image: 'registry.test/app:2',
              ports: [{ containerPort: 80, hostPort: 80 }],
              resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
              env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cm', key: 'a', optional: true } } }],
              envFrom: [{ secretRef: { name: 's', optional: true } }],
            },
          ],
          volumes: [{ secret: { secretName: 's', optional: true } }, { projected: { sources: [{ configMap: { name: 'cm', optional: true } }] } }],
        },
        { status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] } },
      ),
    ),
    push(
      'default/pod/fuzz-a',
      {
        ...podObject('fuzz-a', 'uid-fuzz-a', { terminationGracePeriodSeconds: 1 }),
        metadata: { name: 'fuzz-a', namespace: 'default', uid: 'uid-fuzz-a', deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 1 },
      },
      'update',
    ),
    push('default/pod/fuzz-a', null, 'delete'),
    push(
      'default/pod/fuzz-j',
      podObject(
        'fuzz-j',
        'uid-fuzz-j',
        {},
        { metadata: { name: 'fuzz-j', namespace: 'default', uid: 'uid-fuzz-j', ownerReferences: [{ kind: 'Job', name: 'j' }] } },
      ),
    ),
    push('null/node/n1', { metadata: { name: 'n1', uid: 'uid-n1' }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }, 'update'),
    push('default/configmap/cm', { metadata: { name: 'cm', resourceVersion: '12' }, data: { a: '1' } }),
    JSON.stringify({
      header: { msg_id: 'seed-twin', timestamp: 1_700_000_001_000 },
      route: { source: 'twin', group: 'twin', operation: 'update', resource: 'membership/detail' },
      content: JSON.stringify({ devices: [{ id: 'd1' }], added_devices: [{ id: 'd2' }], removed_devices: [{ id: 'd1' }] }),
    }),
  ];
};

const readAll = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => readFileSync(join(root, dir, f), 'utf8'));

const loadTestSeeds = (): string[] => [
  ...readAll('profiles'),
  'profile: churn\nspec:\n  nodes: { count: 3, workers: 2 }\n  timeoutSeconds: 600\n',
  `apiVersion: edgemark.io/v1alpha1
kind: LoadTest
metadata: { name: mixed }
spec:
  nodes:
    - { kind: edge, count: 3, cpu: "4", memory: 8Gi, pods: "50" }
    - { kind: kubelet, name: kube, prefix: kube-, count: 2, shape: kubelet, proxy: per-node, npd: true }
  cluster: { nodeLimit: 10 }
  podLifecycle: crashloop
  phases:
    - kind: nodesUp
    - { kind: footprint, from: 0, to: 10, step: 5, holdSeconds: 1 }
    - { kind: scale, replicas: 3, ahead: 2 }
    - { kind: churn, podsPerSecond: 1, seconds: 5 }
    - kind: nodesDown
  slo: { podStartupP99Ms: 100, readApiP99Ms: { cluster: 10 } }
`,
];

// ---------------------------------------------------------------- inputs too big to commit

const deep = (n: number, open: string, close: string, inner = '0') => open.repeat(n) + inner + close.repeat(n);
const longString = 'x'.repeat(1_000_000);

test('fuzz generated: deep nesting and long strings are refused with a code or accepted, never a crash or a hang', async (t) => {
  const frameHeader = (h: string) => `{"header":${h},"route":{},"content":null}`;
  const podPush = (content: string, resource = 'default/configmap/deep') =>
    `{"header":{"msg_id":"fz-deep","timestamp":1},"route":{"source":"edgecontroller","group":"resource","operation":"insert","resource":"${resource}"},"content":${content}}`;
  const frames: [string, string][] = [
    ['frame: header nested 100000 deep', frameHeader(deep(100_000, '{"a":', '}'))],
    ['frame: msg_id of 1 MB', frameHeader(`{"msg_id":"${longString}","timestamp":1}`)],
    ['frame: resource of 1 MB', podPush('null', `default/configmap/${longString}`)],
    ['frame: 20000 nested arrays of content', podPush(deep(20_000, '[', ']'))],
    [
      'frame: a pod nested 5000 deep in its labels',
      podPush(
        `{"metadata":{"name":"d","namespace":"default","uid":"u-d","labels":${deep(5000, '{"a":', '}', '"x"')}},"spec":{"nodeName":"n1","containers":[{"name":"c"}]}}`,
        'default/pod/d',
      ),
    ],
    ['frame: an unterminated 100000-deep array', `{"header":${'['.repeat(100_000)}`],
  ];
  const cases: [string, () => Outcome][] = [
    ...frames.map(([n, f]): [string, () => Outcome] => [n, () => frameOutcome(f)]),
    [
      'loadtest: description nested 5000 deep',
      () => loadTestOutcome(scratchFile(`metadata:\n  name: deep\n  description: ${deep(5000, '[', ']')}\n`, '.yaml')),
    ],
    [
      'loadtest: a 1 MB name',
      () => loadTestOutcome(scratchFile(`apiVersion: edgemark.io/v1alpha1\nkind: LoadTest\nmetadata:\n  name: ${longString}\n`, '.yaml')),
    ],
    ['loadtest: 3000 keys in one map', () => loadTestOutcome(scratchFile(Array.from({ length: 3000 }, (_, i) => `k${i}: ${i}`).join('\n'), '.yaml'))],
    ['loadtest: 3000 phases', () => loadTestOutcome(scratchFile(`profile: density\nspec:\n  phases:\n${'    - kind: nodesUp\n'.repeat(3000)}`, '.yaml'))],
    ['stages: transitions nested 10000 deep', () => stageOutcome(`spec:\n  transitions: ${deep(10_000, '[', ']')}\n`, 'deep.yaml')],
    [
      'stages: 1000 transitions',
      () =>
        stageOutcome(
          `apiVersion: edgemark.io/v1alpha1\nkind: PodLifecycle\nmetadata: { name: many }\nspec:\n  transitions:\n${'    - { name: s, after: { ms: 1 }, to: restart, repeat: 0 }\n'.repeat(1000)}`,
          'many.yaml',
        ),
    ],
    [
      'stages: a 1 MB transition name',
      () =>
        stageOutcome(
          `apiVersion: edgemark.io/v1alpha1\nkind: PodLifecycle\nmetadata: { name: long }\nspec:\n  transitions:\n    - { name: ${longString}, after: { ms: 1 }, to: running }\n`,
          'long.yaml',
        ),
    ],
    ['plans: JSON nested 10000 deep', () => planOutcome(deep(10_000, '{"a":', '}'))],
    [
      'plans: a profile nested 5000 deep',
      () => planOutcome(JSON.stringify({ ...validPlan, groups: [{ ...validPlan.groups[0], profile: '@' }] }).replace('"@"', deep(5000, '{"a":', '}'))),
    ],
    [
      'plans: 500 groups',
      () => planOutcome(JSON.stringify({ ...validPlan, groups: Array.from({ length: 500 }, (_, i) => ({ name: `g${i}`, count: 1, prefix: `g${i}x-` })) })),
    ],
    ['plans: a 1 MB data dir', () => planOutcome(JSON.stringify({ ...validPlan, dataDir: longString }))],
    ['tokens: a 1 MB token', () => tokenOutcome(`${'ab'.repeat(32)}.${longString}.${longString}.${longString}`)],
    ['tokens: a payload nested 100000 deep', () => tokenOutcome(`${'ab'.repeat(32)}.e30.${Buffer.from(deep(100_000, '[', ']')).toString('base64url')}.c2ln`)],
    ['tokens: 100000 dots', () => tokenOutcome('.'.repeat(100_000))],
    ['bootstrap-tokens: 1 MB around a dot', () => bootstrapTokenOutcome(`${longString}.${longString}`)],
    ['bootstrap-tokens: 1 MB of spaces around a token', () => bootstrapTokenOutcome(`${' '.repeat(1_000_000)}abcdef.0123456789abcde${' '.repeat(1_000_000)}`)],
    ['kubeconfigs: users nested 10000 deep', () => kubeconfigOutcome(scratchFile(`users: ${deep(10_000, '[', ']')}\n`, '.yaml'))],
    ['kubeconfigs: a 1 MB token', () => kubeconfigOutcome(scratchFile(validKubeconfigs[0]!.replace('token: node-token', `token: ${longString}`), '.yaml'))],
  ];
  for (const [name, run] of cases) {
    const started = performance.now();
    const o = run();
    const ms = performance.now() - started;
    await t.test(name, { todo: todoOf(`generated:${name}`) }, () => {
      if (o.kind === 'crash') assert.fail(`${name}: ${label(o)}\n    at ${productFrames(o.err).join('\n    at ')}`);
      assert.ok(ms < SLOW_MS, `${name}: took ${Math.round(ms)} ms`);
    });
  }
  for (const [name, frame] of frames) {
    const run = await feedNode(frame);
    await t.test(`node fed ${name}`, { todo: todoOf(`node:generated:${name}`) }, () => {
      if (run.crash) assert.fail(`the node threw in ${run.crash.stage}: ${describe(run.crash.err)}\n    at ${productFrames(run.crash.err).join('\n    at ')}`);
      assert.deepEqual(run.badDecodeReports, []);
    });
  }
});

// ---------------------------------------------------------------- mutations

/** mulberry32: a small, fast PRNG; the same seed gives the same inputs on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tokens that tend to break parsers, spliced into text. */
const hostileText = [
  '"__proto__"',
  '__proto__:',
  'constructor',
  'null',
  '-1',
  '1e400',
  '-1e400',
  '.nan',
  '.inf',
  'NaN',
  '9007199254740993',
  '0x1F',
  '\u0000',
  '\\u0000',
  '\ud800',
  '\u202e',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  "'",
  '\n',
  '\t',
  '---\n',
  '&a ',
  '*a',
  '!!binary ',
  '<<: ',
  '.',
  '/',
  '#',
];

/** Values that tend to break the code after a parser, swapped into a parsed tree. */
function hostileValue(r: () => number, old: unknown): unknown {
  const proto = {};
  Object.defineProperty(proto, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
  const values: unknown[] = [
    null,
    true,
    0,
    -1,
    1.5,
    -1e308,
    1e308,
    2 ** 53 + 1,
    '',
    ' ',
    '-1',
    'NaN',
    '__proto__',
    'constructor',
    'toString',
    '\u0000',
    'x'.repeat(5000),
    [],
    [null],
    [[]],
    {},
    proto,
    { constructor: { prototype: { polluted: true } } },
    JSON.parse(deep(300, '[', ']')),
    [old],
    { value: old },
    typeof old === 'number' ? String(old) : typeof old === 'string' ? Number(old) || 1 : old,
  ];
  return values[Math.floor(r() * values.length)];
}

/** Every path into a JSON-like tree. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (out.length > 2000) return out;
  if (Array.isArray(v)) for (const [i, x] of v.entries()) paths(x, [...at, i], out);
  else if (isObject(v)) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setOwn(o: Record<string, unknown> | unknown[], k: string | number, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** One to three structural changes: a value swapped, a key deleted, a hostile key added. */
function mutateTree(tree: unknown, r: () => number, focus: (path: (string | number)[]) => boolean): unknown {
  let root: unknown = structuredClone(tree);
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const all = paths(root).filter(focus);
    if (all.length === 0) break;
    const path = all[Math.floor(r() * all.length)]!;
    if (path.length === 0) {
      root = hostileValue(r, root);
      continue;
    }
    let parent: unknown = root;
    for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k];
    const key = path.at(-1)!;
    const p = parent as Record<string, unknown> | unknown[];
    const op = r();
    if (op < 0.6) setOwn(p, key, hostileValue(r, (p as Record<string | number, unknown>)[key]));
    else if (op < 0.8 && !Array.isArray(p)) delete (p as Record<string, unknown>)[key as string];
    else if (isObject(p)) setOwn(p, ['__proto__', 'constructor', 'toString', 'unknownField', 'prototype'][Math.floor(r() * 5)]!, hostileValue(r, undefined));
    else (p as unknown[]).push(hostileValue(r, p[0]));
  }
  return root;
}

/** One text mutation: a bit flip, a truncation, a deletion, a duplication, a hostile token, or a splice of two seeds. */
function mutateText(seed: string, other: string, r: () => number): string {
  const b = Buffer.from(seed);
  const at = Math.floor(r() * (b.length + 1));
  const op = Math.floor(r() * 7);
  switch (op) {
    case 0: {
      const c = Buffer.from(b);
      for (let i = 0, n = 1 + Math.floor(r() * 4); i < n && c.length; i++) {
        const j = Math.floor(r() * c.length);
        c[j] = c[j]! ^ (1 << Math.floor(r() * 8));
      }
      return c.toString('utf8');
    }
    case 1:
      return b.subarray(0, at).toString('utf8');
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 40)))]).toString('utf8');
    case 3: {
      const len = Math.floor(r() * 60);
      return Buffer.concat([b.subarray(0, at + len), b.subarray(at)]).toString('utf8');
    }
    case 4:
      return Buffer.concat([b.subarray(0, at), Buffer.from(hostileText[Math.floor(r() * hostileText.length)]!), b.subarray(at)]).toString('utf8');
    case 5: {
      const o = Buffer.from(other);
      return Buffer.concat([b.subarray(0, at), o.subarray(Math.floor(r() * (o.length + 1)))]).toString('utf8');
    }
    default: {
      // A random run of bytes at a random place.
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256)));
      return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]).toString('utf8');
    }
  }
}

/**
 * `count` inputs from the seeds: text mutations, and a share of structural
 * ones (`parse` reads a seed into a tree, `write` writes the mutated tree back).
 */
function mutations(
  seeds: string[],
  count: number,
  salt: number,
  parse: (s: string) => unknown,
  write: (v: unknown) => string,
  structuralShare = 0.5,
  focus: (path: (string | number)[]) => boolean = () => true,
): string[] {
  const r = prng(SEED ^ salt);
  const out: string[] = [];
  const trees = seeds.map(parse);
  for (let i = 0; i < count; i++) {
    const s = Math.floor(r() * seeds.length);
    if (r() >= structuralShare) out.push(mutateText(seeds[s]!, seeds[Math.floor(r() * seeds.length)]!, r));
    else {
      try {
        out.push(write(mutateTree(trees[s], r, focus)));
      } catch {
        out.push(mutateText(seeds[s]!, seeds[s]!, r));
      }
    }
  }
  return out;
}

const writeYaml = (v: unknown) => toYaml(v, { aliasDuplicateObjects: false });

/** A token's structural mutation works on its payload JSON. */
function tokenTree(s: string): unknown {
  const parts = s.trim().split('.');
  return { hash: parts[0], header: parts[1], payload: JSON.parse(Buffer.from(parts[2] ?? '', 'base64url').toString('utf8')), sig: parts[3] };
}
function writeToken(v: unknown): string {
  const o = isObject(v) ? v : {};
  return [o.hash, o.header, Buffer.from(JSON.stringify(o.payload) ?? '').toString('base64url'), o.sig]
    .map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))
    .join('.');
}

interface Tally {
  accepted: number;
  refused: Map<string, number>;
  known: Map<string, number>;
  crashes: { input: string; stage: string; err: unknown }[];
}

function tally(): Tally {
  return { accepted: 0, refused: new Map(), known: new Map(), crashes: [] };
}

function count(t: Tally, input: string, o: Outcome | { kind: 'crash'; err: unknown; stage: string }): void {
  if (o.kind === 'accepted') t.accepted++;
  else if (o.kind === 'refused') t.refused.set(o.code, (t.refused.get(o.code) ?? 0) + 1);
  else {
    const bug = knownBugOf(o.err);
    if (bug) t.known.set(bug.why, (t.known.get(bug.why) ?? 0) + 1);
    else t.crashes.push({ input, stage: o.stage, err: o.err });
  }
}

const summary = (t: Tally) =>
  `${t.accepted} accepted; refused ${[...t.refused].map(([c, n]) => `${n} ${c}`).join(', ') || 'none'}${
    t.known.size ? `; known bugs hit ${[...t.known].map(([w, n]) => `${n}x (${w})`).join(', ')}` : ''
  }${t.crashes.length ? `; ${t.crashes.length} new crashes` : ''}`;

function assertNoNewCrash(t: Tally, what: string): void {
  const shown = t.crashes
    .slice(0, 5)
    .map((c) => `  input ${JSON.stringify(c.input.slice(0, 400))}\n  ${c.stage}: ${describe(c.err)}\n    at ${productFrames(c.err).join('\n    at ')}`);
  assert.equal(t.crashes.length, 0, `${what}: ${t.crashes.length} inputs crashed:\n${shown.join('\n')}`);
}

/** Every mutation pass's tally, for the todo test at the end. */
const passes = new Map<string, Tally>();

const mutationPasses: { name: string; inputs: () => string[]; run: (input: string) => Outcome }[] = [
  {
    name: 'frames (decoder)',
    inputs: () => mutations(frameSeeds(), MUTATIONS, 1, JSON.parse, JSON.stringify),
    run: frameOutcome,
  },
  {
    name: 'loadtest',
    inputs: () => mutations(loadTestSeeds(), MUTATIONS, 2, parseYaml, writeYaml),
    run: (text) => loadTestOutcome(scratchFile(text, '.yaml')),
  },
  {
    name: 'stages',
    inputs: () => mutations(readAll('stages'), MUTATIONS, 3, parseYaml, writeYaml),
    run: (text) => stageOutcome(text, 'mutated.yaml'),
  },
  {
    name: 'plans',
    inputs: () => [
      ...mutations(planSeeds, MUTATIONS / 2, 4, JSON.parse, JSON.stringify),
      ...mutations(
        planSeeds.map((p) => writeYaml(JSON.parse(p))),
        MUTATIONS / 2,
        5,
        parseYaml,
        writeYaml,
      ),
    ],
    run: planOutcome,
  },
  { name: 'tokens', inputs: () => mutations(tokenSeeds, MUTATIONS, 6, tokenTree, writeToken), run: tokenOutcome },
  {
    name: 'bootstrap-tokens',
    inputs: () =>
      mutations(
        bootstrapSeeds,
        MUTATIONS,
        7,
        (s) => s.split(/(\.)/),
        (v) => (Array.isArray(v) ? v.map(String).join('') : String(v)),
      ),
    run: bootstrapTokenOutcome,
  },
  {
    name: 'kubeconfigs',
    inputs: () => mutations(validKubeconfigs, MUTATIONS, 8, parseYaml, writeYaml),
    run: (text) => kubeconfigOutcome(scratchFile(text, '.yaml')),
  },
];

for (const pass of mutationPasses) {
  test(`fuzz mutations ${pass.name}: ${MUTATIONS} seeded mutations of valid inputs, no crash, refusals coded`, (t) => {
    const inputs = pass.inputs();
    assert.equal(inputs.length, MUTATIONS);
    const seen = tally();
    for (const input of inputs) count(seen, input, pass.run(input));
    passes.set(pass.name, seen);
    t.diagnostic(`${pass.name}: ${summary(seen)}`);
    assert.ok(seen.accepted > 0 && seen.refused.size > 0, 'the mutations reach both sides of the parser');
    assertNoNewCrash(seen, pass.name);
  });
}

test(`fuzz mutations frames (node): a hollow edge node fed ${MUTATIONS} mutated frames does not throw`, async (t) => {
  // Mostly structural changes to what the frames for this node carry: text changes rarely get past the
  // decoder, and the decoder's pass covers header and route.
  const inputs = mutations(nodeFrameSeeds(), MUTATIONS, 9, JSON.parse, JSON.stringify, 0.8, (p) => p[0] === 'content');
  const seen = tally();
  for (const input of inputs) {
    const run = await feedNode(input);
    if (run.crash) count(seen, input, { kind: 'crash', ...run.crash });
    else if (run.badDecodeReports.length) count(seen, input, { kind: 'crash', err: run.badDecodeReports[0], stage: 'decode report' });
    else count(seen, input, frameOutcome(input));
  }
  passes.set('frames (node)', seen);
  t.diagnostic(`frames (node): ${summary(seen)}`);
  assertNoNewCrash(seen, 'frames (node)');
});

test('fuzz mutations: not even the known bugs are hit', { todo: knownBugs.length ? 'known bugs in src/, see knownBugs' : false }, () => {
  const hits = [...passes].flatMap(([name, t]) => [...t.known].map(([why, n]) => `${name}: ${n}x ${why}`));
  assert.deepEqual(hits, []);
});
