import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url without padding: always 43 characters of [A-Za-z0-9_-]. */
const OPAQUE_RE = /^[A-Za-z0-9_-]{43}$/;

/** A new opaque refresh token and the SHA-256 digest stored in its place. */
export function newOpaqueToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashOpaqueToken(token)! };
}

/**
 * SHA-256 of a presented token, or undefined when it cannot be one of ours (wrong length or alphabet),
 * so garbage never reaches the database. Only the digest is stored: a database leak yields no usable token.
 */
export function hashOpaqueToken(token: unknown): Buffer | undefined {
  if (typeof token !== 'string' || !OPAQUE_RE.test(token)) return undefined;
  return createHash('sha256').update(token, 'utf8').digest();
}
