import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { x509 } from '../core/x509.js';
import { edgeSubject, makeCsr } from './csr.js';

test("the CSR parses and verifies with @peculiar/x509, with edgecore's subject and the key it was made for", async () => {
  for (const node of ['edge-0', `edge-${'x'.repeat(200)}`]) {
    const { privateKey, csr } = makeCsr(edgeSubject(node));
    const parsed = new x509.Pkcs10CertificateRequest(new Uint8Array(csr));
    assert.equal(parsed.subject, `C=CN, ST=Zhejiang, L=Hangzhou, O=system:nodes, CN=system:node:${node}`);
    assert.equal(await parsed.verify(), true);
    assert.equal(parsed.signatureAlgorithm.name, 'ECDSA');
    assert.equal(parsed.attributes.length, 0);
    const spki = Buffer.from(parsed.publicKey.rawData);
    assert.deepEqual(spki, createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  }
});

test('openssl reads the CSR and verifies its signature', (t) => {
  if (spawnSync('openssl', ['version']).status !== 0) return t.skip('no openssl on this machine');
  const { csr } = makeCsr(edgeSubject('edge-7'));
  const r = spawnSync('openssl', ['req', '-inform', 'DER', '-noout', '-verify', '-subject'], { input: csr, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /verify OK/i);
  assert.match(r.stdout, /CN\s*=\s*system:node:edge-7/);
});

test('a tampered CSR no longer verifies', async () => {
  const { csr } = makeCsr(edgeSubject('edge-1'));
  const bad = Buffer.from(csr);
  const at = bad.indexOf(Buffer.from('edge-1'));
  bad[at] = 'f'.charCodeAt(0);
  assert.equal(await new x509.Pkcs10CertificateRequest(new Uint8Array(bad)).verify(), false);
});
