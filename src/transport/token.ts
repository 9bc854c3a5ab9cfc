/**
 * KubeEdge join tokens: "<caHash>.<jwt header>.<jwt payload>.<jwt signature>".
 * caHash is the lowercase hex SHA-256 of the CA certificate's DER bytes; the
 * JWT (HS256, claim `exp`) is what the certificate server checks. The token
 * itself is a secret: errors describe it, never print it.
 */
import { EdgemarkError } from '../core/errors.js';

export interface JoinToken {
  caHash: string;
  /** The JWT part, sent as the bearer token. */
  jwt: string;
  /** Expiry in ms since the epoch, if the payload carries one. */
  expiresAt?: number;
}

export function parseToken(text: string, now = Date.now()): JoinToken {
  const t = text.trim();
  const parts = t.split('.');
  if (parts.length !== 4 || !/^[0-9a-f]{64}$/.test(parts[0]!)) {
    throw new EdgemarkError(
      'EM_TOKEN_MALFORMED',
      `[bootstrap] the join token is not a KubeEdge token (expected <64 hex CA hash>.<JWT>, got ${parts.length} dot-separated parts)`,
      'copy the whole value of secret kubeedge/tokensecret, key tokendata (base64-decoded), or leave --token out to read it from the local cluster',
    );
  }
  let expiresAt: number | undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[2]!, 'base64url').toString('utf8')) as { exp?: unknown };
    if (typeof payload.exp === 'number' && Number.isFinite(payload.exp)) expiresAt = payload.exp * 1000;
  } catch {
    throw new EdgemarkError('EM_TOKEN_MALFORMED', "[bootstrap] the join token's JWT payload is not JSON", 'copy the token again: it was cut or altered');
  }
  if (expiresAt !== undefined && expiresAt <= now) {
    throw new EdgemarkError(
      'EM_TOKEN_EXPIRED',
      `[bootstrap] the join token expired${Number.isNaN(new Date(expiresAt).getTime()) ? '' : ` at ${new Date(expiresAt).toISOString()}`}`,
      'CloudCore rotates its token every 12 h (each is valid 24 h): read a fresh one from secret kubeedge/tokensecret',
    );
  }
  return { caHash: parts[0]!, jwt: parts.slice(1).join('.'), ...(expiresAt !== undefined ? { expiresAt } : {}) };
}
