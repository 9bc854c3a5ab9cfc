/**
 * PEM armour and certificate fingerprints with Node's crypto alone. The edge
 * runner needs only these; the ASN.1 library behind ./x509.ts (used to make
 * the cluster's PKI) stays out of its processes.
 */
import { createHash } from 'node:crypto';

export function toPem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function certSha256Hex(der: ArrayBuffer | Buffer): string {
  return createHash('sha256')
    .update(Buffer.from(der as ArrayBuffer))
    .digest('hex');
}
