/**
 * Certificate and key helpers over @peculiar/x509 and WebCrypto. All keys are
 * ECDSA P-256: they generate in microseconds and every peer (Kubernetes,
 * CloudCore, Node's TLS) accepts them.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { toPem } from './pem.js';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyPair {
  keys: CryptoKeyPair;
  /** PKCS#8 PEM ("PRIVATE KEY"). */
  privatePem: string;
  /** SPKI PEM ("PUBLIC KEY"). */
  publicPem: string;
  /** SEC1 DER of the private key (what Go's x509.MarshalECPrivateKey writes). */
  sec1Der: Buffer;
}

export async function generateKeyPair(): Promise<KeyPair> {
  const keys = (await webcrypto.subtle.generateKey(ecdsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  return exportKeyPair(keys);
}

async function exportKeyPair(keys: CryptoKeyPair): Promise<KeyPair> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return {
    keys,
    privatePem: toPem('PRIVATE KEY', pkcs8),
    publicPem: toPem('PUBLIC KEY', spki),
    sec1Der: pkcs8ToSec1(pkcs8),
  };
}

/** Loads a PKCS#8 PEM or SEC1 ("EC PRIVATE KEY") PEM P-256 key. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKeyPair> {
  const priv = createPrivateKey(pem);
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, ecdsa, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, ecdsa, true, ['verify']);
  return { privateKey, publicKey } as CryptoKeyPair;
}

/** PKCS#8 DER to SEC1 DER, re-encoded by Node rather than by hand. */
function pkcs8ToSec1(pkcs8: Buffer): Buffer {
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
    type: 'sec1',
    format: 'der',
  });
}

export interface Issued {
  cert: x509.X509Certificate;
  certPem: string;
  key: KeyPair;
}

export interface Subject {
  cn: string;
  o?: string[];
}

function subjectString(s: Subject): string {
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [...(s.o ?? []).map((o) => `O=${esc(o)}`), `CN=${esc(s.cn)}`].join(', ');
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive
  return b.toString('hex');
}

const day = 24 * 3600 * 1000;

export async function createCa(subject: Subject, validDays = 3650): Promise<Issued> {
  const key = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subjectString(subject),
    // Back-dated a day, so skewed clocks in tests still accept it.
    notBefore: new Date(Date.now() - day),
    notAfter: new Date(Date.now() + validDays * day),
    keys: key.keys,
    signingAlgorithm: ecdsa,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ],
  });
  return { cert, certPem: `${cert.toString('pem')}\n`, key };
}

export interface LeafOptions {
  subject: Subject;
  server?: { ips: string[]; dns: string[] };
  client?: boolean;
  validDays?: number;
}

export async function issueLeaf(ca: Issued, o: LeafOptions): Promise<Issued> {
  const key = await generateKeyPair();
  const usages: string[] = [];
  if (o.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (o.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.AuthorityKeyIdentifierExtension.create(ca.key.keys.publicKey),
  ];
  if (o.server) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...o.server.ips.map((v) => ({ type: 'ip' as const, value: v })),
        ...o.server.dns.map((v) => ({ type: 'dns' as const, value: v })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subjectString(o.subject),
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - day),
    notAfter: new Date(Date.now() + (o.validDays ?? 3650) * day),
    signingKey: ca.key.keys.privateKey,
    publicKey: key.keys.publicKey,
    signingAlgorithm: ecdsa,
    extensions,
  });
  return { cert, certPem: `${cert.toString('pem')}\n`, key };
}
export { x509 };
