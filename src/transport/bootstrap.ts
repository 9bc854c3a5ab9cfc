/**
 * Certificate bootstrap as edgecore does it: fetch CloudCore's CA from
 * /ca.crt (unverified), check it against the CA hash in the join token, make an
 * ECDSA P-256 key and a CSR for system:node:<name>, and exchange it at
 * /edge.crt with the token as bearer. Certificates and keys are kept per node
 * (0600) so that a restart reuses them.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgemarkError, errnoCode } from '../core/errors.js';
import { type GetResult, httpGet } from '../core/http.js';
import { certSha256Hex, toPem } from '../core/pem.js';
import { edgeSubject, makeCsr } from './csr.js';
import { writePublic, writeSecret } from '../core/files.js';
import type { JoinToken } from './token.js';

export interface EdgeIdentity {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface CloudCa {
  der: Buffer;
  pem: string;
}

/** GET /ca.crt and check it against the token's CA hash. */
export async function fetchCloudCa(httpsBase: string, token: JoinToken): Promise<CloudCa> {
  let res: GetResult;
  try {
    res = await httpGet(`${httpsBase}/ca.crt`, { verify: false, timeoutMs: 10_000 });
  } catch (err) {
    throw unreachable(httpsBase, err);
  }
  if (res.status !== 200) {
    throw new EdgemarkError(
      'EM_CA_FETCH',
      `[bootstrap] ${httpsBase}/ca.crt answered ${res.status}`,
      "check that --cloudcore points at CloudCore's HTTPS port (10002)",
    );
  }
  const hash = certSha256Hex(res.body);
  if (hash !== token.caHash) {
    throw new EdgemarkError(
      'EM_CA_HASH_MISMATCH',
      `[bootstrap] the CA served by ${httpsBase} (sha256 ${hash.slice(0, 12)}...) is not the one the join token names (${token.caHash.slice(0, 12)}...)`,
      'the token belongs to another CloudCore, or something else answers at that address: use the token of this CloudCore',
    );
  }
  return { der: res.body, pem: toPem('CERTIFICATE', res.body) };
}

export function unreachable(base: string, err: unknown): EdgemarkError {
  const code = errnoCode(err);
  return new EdgemarkError(
    'EM_CLOUDCORE_UNREACHABLE',
    `[bootstrap] cannot reach CloudCore at ${base}${code ? ` (${code})` : ''}`,
    'start it with `edgemark cluster up`, or pass --cloudcore <host:port> of a running CloudCore',
    { cause: err },
  );
}

const caContexts = new WeakMap<CloudCa, SecureContext>();

function caContext(ca: CloudCa): SecureContext {
  let c = caContexts.get(ca);
  if (!c) {
    c = createSecureContext({ ca: ca.pem, minVersion: 'TLSv1.2' });
    caContexts.set(ca, c);
  }
  return c;
}

export async function requestEdgeCertificate(httpsBase: string, ca: CloudCa, token: JoinToken, nodeName: string): Promise<EdgeIdentity> {
  const { privateKey, csr } = makeCsr(edgeSubject(nodeName));
  let res: GetResult;
  try {
    // Each node makes its own TLS connection, as each edgecore does; only the
    // parsed CA is shared between them.
    res = await httpGet(`${httpsBase}/edge.crt`, {
      secureContext: caContext(ca),
      verify: true,
      headers: { Authorization: `Bearer ${token.jwt}`, NodeName: nodeName },
      body: csr,
      timeoutMs: 30_000,
    });
  } catch (err) {
    throw unreachable(httpsBase, err);
  }
  if (res.status === 401 || res.status === 403) {
    const why = res.body.toString('utf8').trim().slice(0, 200);
    throw new EdgemarkError(
      'EM_TOKEN_REJECTED',
      `[bootstrap] CloudCore refused the join token for node ${nodeName}: ${why || res.status}`,
      'the token is wrong or expired: read the current one from secret kubeedge/tokensecret (or leave --token out on the local cluster)',
    );
  }
  if (res.status !== 200) {
    throw new EdgemarkError(
      'EM_CERT_REQUEST',
      `[bootstrap] ${httpsBase}/edge.crt answered ${res.status} for node ${nodeName}: ${res.body.toString('utf8').slice(0, 200)}`,
    );
  }
  const certPem = toPem('CERTIFICATE', res.body);
  const cert = new X509Certificate(res.body);
  return { certPem, keyPem: privateKey.export({ type: 'sec1', format: 'pem' }) as string, notAfter: new Date(cert.validTo) };
}

/** Per-node certificates on disk: <dir>/<node>.crt and <node>.key (0600). */
export class CertStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private paths(node: string) {
    return { cert: join(this.dir, `${node}.crt`), key: join(this.dir, `${node}.key`) };
  }

  caPath(): string {
    return join(this.dir, 'rootCA.crt');
  }

  saveCa(ca: CloudCa): void {
    writePublic(this.caPath(), ca.pem);
  }

  /** A stored identity that is still valid for a day and names this node. */
  load(node: string, now = Date.now()): EdgeIdentity | undefined {
    const p = this.paths(node);
    if (!existsSync(p.cert) || !existsSync(p.key)) return undefined;
    const certPem = readFileSync(p.cert, 'utf8');
    const cert = new X509Certificate(certPem);
    if (!cert.subject.includes(`CN=system:node:${node}`)) return undefined;
    const notAfter = new Date(cert.validTo);
    if (notAfter.getTime() - now < 24 * 3600 * 1000) return undefined;
    return { certPem, keyPem: readFileSync(p.key, 'utf8'), notAfter };
  }

  save(node: string, id: EdgeIdentity): void {
    const p = this.paths(node);
    writeSecret(p.key, id.keyPem);
    writePublic(p.cert, id.certPem);
  }
}
