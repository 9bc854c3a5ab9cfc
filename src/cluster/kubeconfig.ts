/**
 * Kubeconfigs with embedded certificate data, one per client identity. Embedded
 * data matters: the root-CA publisher of the controller manager and clients
 * elsewhere read the CA from the kubeconfig itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeSecret } from '../core/files.js';
import type { PkiPaths } from './pki.js';

export function renderKubeconfig(o: { server: string; caPem: string; certPem: string; keyPem: string; user: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'edgemark', cluster: { server: o.server, 'certificate-authority-data': b64(o.caPem) } }],
    users: [{ name: o.user, user: { 'client-certificate-data': b64(o.certPem), 'client-key-data': b64(o.keyPem) } }],
    contexts: [{ name: 'edgemark', context: { cluster: 'edgemark', user: o.user } }],
    'current-context': 'edgemark',
  });
}

export function kubeconfigPath(stateDir: string, id: string): string {
  return join(stateDir, 'kubeconfig', `${id}.kubeconfig`);
}

/** Writes the kubeconfig of identity `id` (0600: it holds a private key). */
export function writeKubeconfig(stateDir: string, pki: PkiPaths, id: string, server: string): string {
  const files = pki.client(id);
  const path = kubeconfigPath(stateDir, id);
  writeSecret(
    path,
    renderKubeconfig({
      server,
      caPem: readFileSync(pki.caCert, 'utf8'),
      certPem: readFileSync(files.cert, 'utf8'),
      keyPem: readFileSync(files.key, 'utf8'),
      user: id,
    }),
  );
  return path;
}
