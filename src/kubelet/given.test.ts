import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EdgemarkError } from '../core/errors.js';
import { givenIdentityOf, nodeKubeconfigFile, readNodeKubeconfig } from './given.js';

const dir = mkdtempSync(join(tmpdir(), 'em-given-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(file: string, user: Record<string, string>): string {
  const path = join(dir, file);
  const fields = Object.entries(user)
    .map(([k, v]) => `    ${k}: ${v}`)
    .join('\n');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
users:
- name: node
  user:
${fields}
contexts:
- name: ctx
  context: {cluster: c, user: node}
current-context: ctx
`,
  );
  return path;
}

const refused = (re: RegExp) => (e: unknown) => e instanceof EdgemarkError && e.code === 'EM_NODE_KUBECONFIG' && re.test(e.message) && !!e.fix;

test('a node kubeconfig gives its current user: a client certificate and key (inline or as files), or a token', () => {
  const inline = readNodeKubeconfig(kubeconfig('a.kubeconfig', { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY) }));
  assert.deepEqual(inline, { user: 'node', certPem: CERT, keyPem: KEY });
  writeFileSync(join(dir, 'c.pem'), CERT);
  writeFileSync(join(dir, 'k.pem'), KEY);
  const files = readNodeKubeconfig(kubeconfig('f.kubeconfig', { 'client-certificate': join(dir, 'c.pem'), 'client-key': join(dir, 'k.pem') }));
  assert.equal(files.certPem, CERT);
  assert.deepEqual(readNodeKubeconfig(kubeconfig('t.kubeconfig', { token: 'abc' })), { user: 'node', token: 'abc' });
});

test('an unusable node kubeconfig is refused with what is wrong and the fix', () => {
  assert.throws(() => readNodeKubeconfig(kubeconfig('n.kubeconfig', { username: 'x' })), refused(/neither a client certificate nor a token/));
  assert.throws(() => readNodeKubeconfig(kubeconfig('h.kubeconfig', { 'client-certificate-data': b64(CERT) })), refused(/certificate without its key/));
  assert.throws(
    () => readNodeKubeconfig(kubeconfig('p.kubeconfig', { 'client-certificate-data': b64('junk'), 'client-key-data': b64('junk') })),
    refused(/not PEM/),
  );
  assert.throws(
    () => readNodeKubeconfig(kubeconfig('m.kubeconfig', { 'client-certificate': '/nonexistent/c.pem', 'client-key': '/nonexistent/k.pem' })),
    refused(/cannot read/),
  );
  writeFileSync(join(dir, 'bad.kubeconfig'), 'clusters: "unterminated\n');
  assert.throws(() => readNodeKubeconfig(join(dir, 'bad.kubeconfig')), refused(/cannot read node kubeconfig/));
});

test('--node-kubeconfig: a file is shared, a directory holds <node>.kubeconfig; missing ones are named', () => {
  const shared = givenIdentityOf(kubeconfig('s.kubeconfig', { token: 'abc' }));
  assert.ok('shared' in shared && shared.shared.token === 'abc' && shared.source.endsWith('s.kubeconfig'));
  const d = join(dir, 'nodes');
  mkdirSync(d);
  assert.throws(() => givenIdentityOf(d), refused(/holds no \*\.kubeconfig/));
  writeFileSync(join(d, 'n-0.kubeconfig'), 'x');
  assert.deepEqual(givenIdentityOf(d), { dir: d });
  assert.equal(nodeKubeconfigFile(d, 'n-0'), join(d, 'n-0.kubeconfig'));
  assert.throws(() => nodeKubeconfigFile(d, 'n-1'), refused(/no kubeconfig for node n-1/));
  assert.throws(() => givenIdentityOf(join(dir, 'absent')), refused(/does not exist/));
});
