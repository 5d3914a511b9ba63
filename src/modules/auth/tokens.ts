import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url without padding: always 43 characters of [A-Za-z0-9_-]. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** A new opaque secret (session or email token) and the SHA-256 hash stored in its place. */
export function newToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** SHA-256 of a token: what the database stores (a leaked table cannot be replayed as cookies/links). */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** True when `value` has the shape of a token made by {@link newToken}. */
export function isTokenFormat(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_RE.test(value);
}
