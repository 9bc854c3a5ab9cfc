/**
 * The local cluster's PKI, generated at `cluster up` and reused while the state
 * directory lives: the Kubernetes CA with a serving certificate for the
 * apiserver and one client identity per component, the service-account signing
 * pair, and CloudCore's own CA for the edge. Key files are written 0600.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePublic, writeSecret } from '../core/files.js';
import { toPem } from '../core/pem.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createCa, importPrivateKeyPem, issueLeaf, generateKeyPair, x509, type Issued, type LeafOptions } from '../core/x509.js';

export interface ClientIdentity {
  /** File stem under pki/ and kubeconfig/. */
  id: string;
  cn: string;
  o?: string[];
}

/** One identity per component, as production clusters do, so RBAC and API
 * Priority and Fairness classify each one as it would be classified there. */
export const clientIdentities: ClientIdentity[] = [
  { id: 'admin', cn: 'edgemark-admin', o: ['system:masters'] },
  { id: 'kube-controller-manager', cn: 'system:kube-controller-manager' },
  { id: 'kube-scheduler', cn: 'system:kube-scheduler' },
  { id: 'cloudcore', cn: 'kubeedge:cloudcore' },
];

export const apiserverSans = {
  ips: ['127.0.0.1', '10.96.0.1'],
  dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
};

export interface PkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  saKey: string;
  saPub: string;
  client(id: string): { cert: string; key: string };
  /** kube-apiserver's client certificate towards kubelets (logs, exec, the node proxy). */
  apiserverKubeletClient: { cert: string; key: string };
  edgeCaCert: string;
  edgeCaKey: string;
  cloudcoreServerCert: string;
  cloudcoreServerKey: string;
}

export function pkiPaths(stateDir: string): PkiPaths {
  const dir = join(stateDir, 'pki');
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    apiserverCert: join(dir, 'apiserver.crt'),
    apiserverKey: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    client: (id) => ({ cert: join(dir, `${id}.crt`), key: join(dir, `${id}.key`) }),
    apiserverKubeletClient: { cert: join(dir, 'apiserver-kubelet-client.crt'), key: join(dir, 'apiserver-kubelet-client.key') },
    edgeCaCert: join(dir, 'kubeedge', 'rootCA.crt'),
    edgeCaKey: join(dir, 'kubeedge', 'rootCA.key'),
    cloudcoreServerCert: join(dir, 'kubeedge', 'server.crt'),
    cloudcoreServerKey: join(dir, 'kubeedge', 'server.key'),
  };
}

function allFiles(p: PkiPaths): string[] {
  return [
    p.caCert,
    p.caKey,
    p.apiserverCert,
    p.apiserverKey,
    p.saKey,
    p.saPub,
    p.edgeCaCert,
    p.edgeCaKey,
    p.cloudcoreServerCert,
    p.cloudcoreServerKey,
    ...clientIdentities.flatMap((c) => [p.client(c.id).cert, p.client(c.id).key]),
  ];
}

export function pkiComplete(stateDir: string): boolean {
  return allFiles(pkiPaths(stateDir)).every((f) => existsSync(f));
}

export interface PkiOptions {
  /** Addresses edge nodes dial CloudCore at; they become its serving SANs. */
  cloudcoreIps: string[];
}

/** Generates the whole PKI unless a complete one is already there. */
export async function ensurePki(stateDir: string, o: PkiOptions): Promise<{ generated: boolean }> {
  if (pkiComplete(stateDir)) return { generated: false };
  const p = pkiPaths(stateDir);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  chmodSync(p.dir, 0o700);

  const ca = await createCa({ cn: 'edgemark-ca' });
  saveIssued(ca, p.caCert, p.caKey);
  saveIssued(await issueLeaf(ca, { subject: { cn: 'kube-apiserver' }, server: apiserverSans }), p.apiserverCert, p.apiserverKey);
  for (const id of clientIdentities) {
    const files = p.client(id.id);
    saveIssued(await issueLeaf(ca, { subject: { cn: id.cn, o: id.o }, client: true }), files.cert, files.key);
  }
  const sa = await generateKeyPair();
  writeSecret(p.saKey, sa.privatePem);
  writePublic(p.saPub, sa.publicPem);

  // CloudCore's CA signs the edge nodes' certificates. Names follow what
  // CloudCore generates when it has none: CA "CN=KubeEdge", server
  // "O=KubeEdge, CN=KubeEdge". The two must differ, or TLS stacks that match
  // issuer to subject (OpenSSL, so Node) take the server cert as self-signed.
  const edgeCa = await createCa({ cn: 'KubeEdge' }, 36500);
  writePublic(p.edgeCaCert, edgeCa.certPem);
  writeSecret(p.edgeCaKey, sec1Pem(edgeCa));
  const server = await issueLeaf(edgeCa, {
    subject: { cn: 'KubeEdge', o: ['KubeEdge'] },
    server: { ips: o.cloudcoreIps, dns: ['localhost'] },
    validDays: 36500,
  });
  writePublic(p.cloudcoreServerCert, server.certPem);
  writeSecret(p.cloudcoreServerKey, sec1Pem(server));
  return { generated: true };
}

/** The cluster CA read back from its files, to sign more leaves. */
export async function loadCa(p: PkiPaths): Promise<Issued> {
  const certPem = readFileSync(p.caCert, 'utf8');
  const keyPem = readFileSync(p.caKey, 'utf8');
  const priv = createPrivateKey(keyPem);
  return {
    cert: new x509.X509Certificate(certPem),
    certPem,
    key: {
      keys: await importPrivateKeyPem(keyPem),
      privatePem: keyPem,
      publicPem: createPublicKey(priv).export({ type: 'spki', format: 'pem' }).toString(),
      sec1Der: priv.export({ type: 'sec1', format: 'der' }),
    },
  };
}

/** Issues a leaf signed by the cluster CA into `files` (key 0600). */
export async function issueClusterLeaf(p: PkiPaths, files: { cert: string; key: string }, o: LeafOptions): Promise<void> {
  saveIssued(await issueLeaf(await loadCa(p), o), files.cert, files.key);
}

/**
 * The apiserver's client certificate towards kubelets, added to a PKI that may
 * predate it (an older state directory keeps its CA and every other file).
 * `system:masters`, as kubeadm's `kube-apiserver-kubelet-client` was: the
 * kubelet's Webhook authorization asks the apiserver, which allows it.
 */
export async function ensureApiserverKubeletClient(stateDir: string): Promise<void> {
  const p = pkiPaths(stateDir);
  if (existsSync(p.apiserverKubeletClient.cert) && existsSync(p.apiserverKubeletClient.key)) return;
  await issueClusterLeaf(p, p.apiserverKubeletClient, { subject: { cn: 'kube-apiserver-kubelet-client', o: ['system:masters'] }, client: true });
}

function saveIssued(i: Issued, certPath: string, keyPath: string): void {
  writePublic(certPath, i.certPem);
  writeSecret(keyPath, i.key.privatePem);
}

function sec1Pem(i: Issued): string {
  return toPem('EC PRIVATE KEY', i.key.sec1Der);
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
