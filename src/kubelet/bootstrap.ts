/**
 * The kubelet's TLS bootstrap, for one node: a fresh P-256 key, a CSR for
 * `system:node:<name>` in `system:nodes` with signer
 * `kubernetes.io/kube-apiserver-client-kubelet`, sent with the bootstrap token
 * over a connection of its own; then the CSR is watched until the controller
 * manager's approver and signer have issued the certificate, or denied it.
 * The token never leaves the Authorization header.
 */
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { EdgemarkError } from '../core/errors.js';
import { toPem } from '../core/pem.js';
import { makeCsr } from '../transport/csr.js';
import { ApiConnection, statusOf, type ApiResponse } from './api.js';

export const KUBELET_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
/** What a kubelet asks for with an ECDSA key (RSA keys add "key encipherment"). */
export const KUBELET_USAGES = ['digital signature', 'client auth'];

/** A bootstrap token: <id>.<secret>, [a-z0-9]{6}.[a-z0-9]{16}. */
export const BOOTSTRAP_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export function checkBootstrapToken(token: string): { id: string } {
  const m = BOOTSTRAP_TOKEN.exec(token.trim());
  if (!m) {
    throw new EdgemarkError(
      'EM_BOOTSTRAP_TOKEN_MALFORMED',
      '[kubelet] the bootstrap token is not of the form abcdef.0123456789abcdef (6 and 16 lowercase letters or digits)',
      'pass the token of a secret bootstrap-token-<id> in kube-system, or leave --bootstrap-token out to have one made',
    );
  }
  return { id: m[1]! };
}

export interface NodeIdentityPem {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface BootstrapOptions {
  url: string;
  caPem: string;
  servername?: string;
  token: string;
  name: string;
  localAddress?: string;
  userAgent: string;
  timeoutMs: number;
  /** The CSR is still pending after `csrWarnMs`: say so (the node goes on waiting). */
  csrWarnMs: number;
  onPending(csr: string): void;
  onRequest?(verb: string, resource: string): void;
  signal?: AbortSignal;
}

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function refused(r: ApiResponse, name: string): EdgemarkError {
  const s = statusOf(r);
  if (r.status === 0) {
    return new EdgemarkError(
      'EM_APISERVER_UNREACHABLE',
      `[kubelet] kube-apiserver did not answer node ${name}'s certificate request: ${s.message}`,
      'check the address and that kube-apiserver runs',
    );
  }
  if (r.status === 401) {
    return new EdgemarkError(
      'EM_BOOTSTRAP_TOKEN_REJECTED',
      '[kubelet] kube-apiserver refused the bootstrap token (401): it is wrong, expired, or its secret was deleted',
      'leave --bootstrap-token out to have a fresh one made, or create one: a secret bootstrap-token-<id> of type bootstrap.kubernetes.io/token in kube-system',
    );
  }
  if (r.status === 403) {
    return new EdgemarkError(
      'EM_BOOTSTRAP_FORBIDDEN',
      `[kubelet] the bootstrap token may not create node CSRs (403: ${s.message ?? ''})`,
      "bind ClusterRole system:node-bootstrapper to the token's group (system:bootstrappers or its auth-extra-groups); `edgemark` does this when it makes the token",
    );
  }
  return new EdgemarkError('EM_CSR_DENIED', `[kubelet] node ${name}'s CSR was refused: ${r.status} ${s.reason ?? ''} ${s.message ?? ''}`.trim());
}

/** The CSR's name, as the kubelet digests it from its key, subject and usages. */
export function csrName(spkiDer: Buffer, name: string): string {
  const h = createHash('sha256')
    .update(spkiDer)
    .update(`system:nodes/system:node:${name}/${KUBELET_USAGES.join(',')}`)
    .digest('base64url');
  return `node-csr-${h}`;
}

interface CsrObject {
  metadata?: { name?: string; resourceVersion?: string };
  status?: { certificate?: string; conditions?: { type?: string; reason?: string; message?: string }[] };
}

/** Issued, denied (an error), or still pending (undefined). */
function outcome(csr: CsrObject, name: string): string | EdgemarkError | undefined {
  const bad = csr.status?.conditions?.find((c) => c.type === 'Denied' || c.type === 'Failed');
  if (bad) {
    return new EdgemarkError(
      'EM_CSR_DENIED',
      `[kubelet] node ${name}'s certificate request ${csr.metadata?.name} was ${bad.type === 'Denied' ? 'denied' : 'not signed'}: ${bad.reason ?? ''} ${bad.message ?? ''}`.trim(),
      "check kube-controller-manager's csrapproving and csrsigning controllers (--cluster-signing-cert-file), or approve by hand: kubectl certificate approve <csr>",
    );
  }
  return csr.status?.certificate ? Buffer.from(csr.status.certificate, 'base64').toString('utf8') : undefined;
}

export async function bootstrapNode(o: BootstrapOptions): Promise<NodeIdentityPem> {
  const { privateKey, csr } = makeCsr([
    ['O', 'system:nodes'],
    ['CN', `system:node:${o.name}`],
  ]);
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const name = csrName(spki, o.name);
  const conn = new ApiConnection({
    url: o.url,
    secureContext: createSecureContext({ ca: o.caPem, minVersion: 'TLSv1.2' }),
    ...(o.servername ? { servername: o.servername } : {}),
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    bearer: o.token,
    userAgent: o.userAgent,
    ...(o.onRequest ? { onRequest: o.onRequest } : {}),
  });
  try {
    const body = JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: { request: Buffer.from(toPem('CERTIFICATE REQUEST', csr)).toString('base64'), signerName: KUBELET_SIGNER, usages: KUBELET_USAGES },
    });
    const created = await conn.request('POST', CSR_PATH, body, 'application/json', o.timeoutMs);
    if (created.status !== 201 && created.status !== 409) throw refused(created, o.name);
    const certPem = await waitIssued(conn, name, o);
    return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, notAfter: new Date(new X509Certificate(certPem).validTo) };
  } finally {
    conn.close();
  }
}

/** Lists the CSR and watches it until it is issued or denied, as the kubelet's WaitForCertificate. */
async function waitIssued(conn: ApiConnection, name: string, o: BootstrapOptions): Promise<string> {
  const selector = `fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  const started = Date.now();
  let warned = false;
  for (;;) {
    if (o.signal?.aborted) throw new EdgemarkError('EM_INTERRUPTED', `[kubelet] interrupted while node ${o.name} waited for its certificate`);
    const list = await conn.request('GET', `${CSR_PATH}?${selector}`, undefined, undefined, o.timeoutMs);
    if (list.status !== 200) throw refused(list, o.name);
    const l = JSON.parse(list.body) as { metadata?: { resourceVersion?: string }; items?: CsrObject[] };
    const item = l.items?.[0];
    const got = item ? outcome(item, o.name) : undefined;
    if (got instanceof EdgemarkError) throw got;
    if (got) return got;
    const result = await new Promise<string | EdgemarkError | undefined>((resolve) => {
      const w = conn.watch(`${CSR_PATH}?${selector}&resourceVersion=${l.metadata?.resourceVersion ?? ''}&timeoutSeconds=60&watch=true`, {
        onEvent: (_type, obj) => {
          const r = outcome(obj as CsrObject, o.name);
          if (r) {
            w.close();
            resolve(r);
          }
        },
        onEnd: () => resolve(undefined),
      });
      o.signal?.addEventListener('abort', () => {
        w.close();
        resolve(undefined);
      });
    });
    if (result instanceof EdgemarkError) throw result;
    if (result) return result;
    if (!warned && Date.now() - started > o.csrWarnMs) {
      warned = true;
      o.onPending(name);
    }
  }
}
