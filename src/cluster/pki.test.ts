import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { renderKubeconfig, writeKubeconfig } from './kubeconfig.js';
import { clientIdentities, ensurePki, pkiComplete, pkiPaths } from './pki.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

test('the PKI chains to its CAs, carries the right names, and keys are 0600', async () => {
  const dir = tmp('em-pki-');
  assert.deepEqual(await ensurePki(dir, { cloudcoreIps: ['127.0.0.1'] }), { generated: true });
  const p = pkiPaths(dir);
  const ca = new X509Certificate(readFileSync(p.caCert));
  assert.equal(ca.ca, true);

  const api = new X509Certificate(readFileSync(p.apiserverCert));
  assert.ok(api.verify(ca.publicKey));
  assert.ok(api.checkIP('127.0.0.1'));
  assert.ok(api.checkHost('kubernetes.default.svc'));

  for (const id of clientIdentities) {
    const c = new X509Certificate(readFileSync(p.client(id.id).cert));
    assert.ok(c.verify(ca.publicKey), id.id);
    assert.match(c.subject, new RegExp(`CN=${id.cn}`));
    for (const o of id.o ?? []) assert.match(c.subject, new RegExp(`O=${o}`));
    assert.equal(statSync(p.client(id.id).key).mode & 0o777, 0o600, `${id.id}.key mode`);
  }
  for (const key of [p.caKey, p.apiserverKey, p.saKey, p.edgeCaKey, p.cloudcoreServerKey]) {
    assert.equal(statSync(key).mode & 0o777, 0o600, key);
  }
  assert.equal(statSync(p.dir).mode & 0o777, 0o700);

  const edgeCa = new X509Certificate(readFileSync(p.edgeCaCert));
  const server = new X509Certificate(readFileSync(p.cloudcoreServerCert));
  assert.ok(server.verify(edgeCa.publicKey));
  assert.notEqual(server.subject, edgeCa.subject, 'a leaf whose subject equals its issuer looks self-signed');
  assert.equal(server.issuer, edgeCa.subject);
  assert.ok(server.checkIP('127.0.0.1'));
  assert.equal(createPrivateKey(readFileSync(p.edgeCaKey)).asymmetricKeyType, 'ec');
  assert.match(readFileSync(p.edgeCaKey, 'utf8'), /^-----BEGIN EC PRIVATE KEY-----/);

  assert.ok(pkiComplete(dir));
  assert.deepEqual(await ensurePki(dir, { cloudcoreIps: ['127.0.0.1'] }), { generated: false });
});

test('kubeconfigs embed the CA and the client pair and are 0600', async () => {
  const dir = tmp('em-kc-');
  await ensurePki(dir, { cloudcoreIps: ['127.0.0.1'] });
  const path = writeKubeconfig(dir, pkiPaths(dir), 'admin', 'https://127.0.0.1:6443');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const kc = parse(readFileSync(path, 'utf8'));
  assert.equal(kc.clusters[0].cluster.server, 'https://127.0.0.1:6443');
  assert.equal(Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), readFileSync(pkiPaths(dir).caCert, 'utf8'));
  assert.match(Buffer.from(kc.users[0].user['client-key-data'], 'base64').toString(), /PRIVATE KEY/);
  assert.equal(parse(renderKubeconfig({ server: 's', caPem: 'c', certPem: 'x', keyPem: 'k', user: 'u' }))['current-context'], 'edgemark');
});
