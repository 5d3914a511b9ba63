import { hash, randomBytes } from 'node:crypto';

/** Every SCIM token starts with this: it never parses as an API key (`srk_`) or a JWT, so no other
 *  authenticator accepts it, and the SCIM routes accept nothing else. */
export const SCIM_TOKEN_PREFIX = 'scim_';

/** `scim_<token id: 16 hex>_<secret: base64url of 32 random bytes>`; only the secret's SHA-256 is stored. */
const TOKEN_RE = /^scim_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A new token: the string to show once, its public id, the digest to store. */
export function newScimToken(): { token: string; tokenId: string; secretHash: Buffer } {
  const tokenId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { token: `${SCIM_TOKEN_PREFIX}${tokenId}_${secret}`, tokenId, secretHash: hashScimSecret(secret) };
}

export function hashScimSecret(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** The token id and secret of a presented token; undefined when it cannot be one. */
export function parseScimToken(presented: string): { tokenId: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(presented);
  return m ? { tokenId: m[1]!, secret: m[2]! } : undefined;
}

const BEARER = /^\s*Bearer +(\S+)\s*$/i;

/** The bearer value of an Authorization header (at most 512 characters read), or undefined. */
export function bearerValue(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  return BEARER.exec(authorization.slice(0, 512))?.[1];
}
