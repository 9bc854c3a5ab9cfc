/**
 * The one CSR shape a hollow edge node sends: PKCS#10 for an ECDSA P-256 key,
 * subject C, ST, L, O, CN as edgecore writes it, no attributes, signed with
 * ecdsa-with-SHA256. It is encoded here with a few DER rules instead of a
 * general ASN.1 library because it is made once per joining node and the
 * general path costs ten times more CPU (about 1.3 ms against 0.15 ms, key
 * included). csr.test.ts checks the result with @peculiar/x509 and openssl.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/** DER type-length-value. */
function tlv(tag: number, ...body: Buffer[]): Buffer {
  const len = body.reduce((a, b) => a + b.length, 0);
  let head: Buffer;
  if (len < 0x80) head = Buffer.from([tag, len]);
  else if (len < 0x100) head = Buffer.from([tag, 0x81, len]);
  else if (len < 0x10000) head = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  else throw new RangeError(`DER value of ${len} bytes is too long for a CSR`);
  return Buffer.concat([head, ...body]);
}

const SEQUENCE = 0x30;
const SET = 0x31;
const UTF8_STRING = 0x0c;
const BIT_STRING = 0x03;
const CONTEXT_0 = 0xa0;

/** Attribute type OIDs 2.5.4.x (id-at), DER-encoded. */
const idAt = (n: number) => Buffer.from([0x06, 0x03, 0x55, 0x04, n]);
const AT = { C: idAt(6), ST: idAt(8), L: idAt(7), O: idAt(10), CN: idAt(3) } as const;

/** version INTEGER 0 */
const VERSION_0 = Buffer.from([0x02, 0x01, 0x00]);
/** attributes [0] IMPLICIT SET OF Attribute, empty */
const NO_ATTRIBUTES = Buffer.from([CONTEXT_0, 0x00]);
/** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters */
const ECDSA_SHA256 = Buffer.from([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);

export type SubjectPart = [keyof typeof AT, string];

function name(parts: SubjectPart[]): Buffer {
  return tlv(SEQUENCE, ...parts.map(([k, v]) => tlv(SET, tlv(SEQUENCE, AT[k], tlv(UTF8_STRING, Buffer.from(v, 'utf8'))))));
}

/** The subject edgecore puts in its CSR; CloudCore copies only CN and O into the certificate. */
export function edgeSubject(nodeName: string): SubjectPart[] {
  return [
    ['C', 'CN'],
    ['ST', 'Zhejiang'],
    ['L', 'Hangzhou'],
    ['O', 'system:nodes'],
    ['CN', `system:node:${nodeName}`],
  ];
}

export interface EdgeKeyAndCsr {
  privateKey: KeyObject;
  /** PKCS#10 DER. */
  csr: Buffer;
}

/** A fresh P-256 key and a CSR for it with this subject. */
export function makeCsr(subject: SubjectPart[]): EdgeKeyAndCsr {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = tlv(SEQUENCE, VERSION_0, name(subject), spki, NO_ATTRIBUTES);
  // Node signs ECDSA as a DER Ecdsa-Sig-Value, which is what the BIT STRING holds.
  const signature = sign('sha256', info, privateKey);
  return { privateKey, csr: tlv(SEQUENCE, info, ECDSA_SHA256, tlv(BIT_STRING, Buffer.from([0]), signature)) };
}
