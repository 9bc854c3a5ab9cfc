import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultPorts } from '../cluster/ports.js';
import { writeState } from '../cluster/state.js';
import { EdgemarkError } from '../core/errors.js';
import { checkNodeLimit, cloudcoreAddresses, resolveTarget } from './target.js';

const dir = mkdtempSync(join(tmpdir(), 'em-target-'));
const noCluster = join(dir, 'state');
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]
users: [{ name: u, user: { token: abc } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
);
const refused = (fn: () => unknown, code: string, match: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof EdgemarkError && e.code === code && match.test(`${e.message} ${e.fix ?? ''}`));

test('without a local cluster or flags there is nothing to join, and the fix says how', () => {
  refused(() => resolveTarget({}, noCluster), 'EM_NO_CLOUDCORE', /edgemark cluster up.*--kubeconfig and --cloudcore/);
});

test('an existing cluster: kubeconfig and CloudCore addresses; the token is read from its secret only when asked', () => {
  const t = resolveTarget({ kubeconfig, cloudcore: '10.1.2.3:10000,10.1.2.4:10000' }, noCluster);
  assert.equal(t.apiserver, 'https://127.0.0.1:6443');
  assert.match(t.name, /context ctx/);
  assert.deepEqual(t.cloudcore, [
    { websocket: '10.1.2.3:10000', https: 'https://10.1.2.3:10002' },
    { websocket: '10.1.2.4:10000', https: 'https://10.1.2.4:10002' },
  ]);
  assert.match(t.tokenSource, /secret kubeedge\/tokensecret through/);
  assert.equal(t.local, undefined);
  assert.equal(t.nodeLimit, undefined);
});

test('bad target flags are refused with the flag and its fix', () => {
  refused(() => resolveTarget({ kubeconfig }, noCluster), 'EM_TARGET_INVALID', /not where its CloudCore listens.*--cloudcore/);
  refused(() => resolveTarget({ kubeconfig: join(dir, 'nope') }, noCluster), 'EM_NO_KUBECONFIG', /does not exist/);
  refused(() => resolveTarget({ cloudcore: '127.0.0.1:10000' }, noCluster), 'EM_NO_TOKEN', /--token or --token-file/);
  refused(() => resolveTarget({ cloudcore: '127.0.0.1:10000', token: 'a', tokenFile: 'b' }, noCluster), 'EM_TARGET_INVALID', /both --token and --token-file/);
  refused(() => resolveTarget({ cloudcore: '127.0.0.1:10000', tokenFile: join(dir, 'missing') }, noCluster), 'EM_NO_TOKEN', /does not exist/);
  writeFileSync(join(dir, 'empty'), '\n');
  refused(() => resolveTarget({ cloudcore: '127.0.0.1:10000', tokenFile: join(dir, 'empty') }, noCluster), 'EM_NO_TOKEN', /is empty/);
  refused(() => cloudcoreAddresses('nohost'), 'EM_TARGET_INVALID', /host:port/);
  refused(() => cloudcoreAddresses('a:1,b:2', 'c:3'), 'EM_TARGET_INVALID', /goes with one --cloudcore/);
});

test('a token file is read and its form checked when the token is asked for, never echoed', async () => {
  writeFileSync(join(dir, 'bad'), 'not-a-token\n');
  const t = resolveTarget({ cloudcore: '127.0.0.1:10000', tokenFile: join(dir, 'bad') }, noCluster);
  assert.match(t.tokenSource, /--token-file .*bad/);
  await assert.rejects(t.token(), (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_TOKEN_MALFORMED' && !e.message.includes('not-a-token'));
});

test('more nodes than a known node limit are refused with the --node-limit to use', () => {
  const t = { ...resolveTarget({ cloudcore: '127.0.0.1:10000', token: 'x' }, noCluster), nodeLimit: 300 };
  assert.doesNotThrow(() => checkNodeLimit(t, 300, 'nodes'));
  refused(() => checkNodeLimit(t, 301, 'nodes'), 'EM_NODE_LIMIT', /--node-limit 301/);
  assert.doesNotThrow(() => checkNodeLimit({ ...t, nodeLimit: undefined }, 10 ** 6, 'nodes'));
});

test('the local cluster with two CloudCores: both addresses in instance order, and twice the node limit', () => {
  const stateDir = join(dir, 'two-cloudcores');
  const ports = { ...defaultPorts, 'cloudhubWebsocket-1': 20010, 'cloudhubHttps-1': 20012, 'cloudcoreMetrics-1': 20092 };
  writeState({
    apiVersion: 'edgemark.io/v1alpha1',
    kind: 'LocalCluster',
    stateDir,
    ports,
    versions: {},
    nodeLimit: 500,
    cloudcores: 2,
    kubeconfig: '/k',
    components: {},
  });
  const t = resolveTarget({}, stateDir);
  assert.deepEqual(t.cloudcore, [
    { websocket: '127.0.0.1:10000', https: 'https://127.0.0.1:10002' },
    { websocket: '127.0.0.1:20010', https: 'https://127.0.0.1:20012' },
  ]);
  assert.equal(t.nodeLimit, 1000);
  refused(() => checkNodeLimit(t, 1001, 'nodes'), 'EM_NODE_LIMIT', /nodeLimit 500 for each of 2.*--node-limit 501/);
});
