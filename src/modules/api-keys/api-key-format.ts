import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every key starts with this, so scanners and people recognise one (and it never parses as a JWT). */
export const API_KEY_PREFIX = 'srk_';

/**
 * `srk_<key id: 16 hex>_<secret: base64url of 32 random bytes, 43 characters>`. The key id is public
 * (listed, logged); the secret is shown once and only its SHA-256 is stored.
 */
const KEY_RE = /^srk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A new key: the full string to show once, its public key id, and the digest to store. */
export function newApiKey(): { key: string; keyId: string; secretHash: Buffer } {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { key: `${API_KEY_PREFIX}${keyId}_${secret}`, keyId, secretHash: hashSecret(secret) };
}

/** Splits a presented key into its key id and secret; undefined when it cannot be one of ours. */
export function parseApiKey(presented: string): { keyId: string; secret: string } | undefined {
  const m = KEY_RE.exec(presented);
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

/** SHA-256 of a secret (the stored form). */
export function hashSecret(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** Whether `secret` hashes to `stored`, compared in constant time. */
export function secretMatches(secret: string, stored: Buffer): boolean {
  const digest = hashSecret(secret);
  return stored.length === digest.length && timingSafeEqual(digest, stored);
}

const BEARER_KEY = /^\s*Bearer +(srk_.*)$/is;
const MAX_HEADER_LENGTH = 512;

/**
 * The API key of an `Authorization: Bearer srk_…` header, or undefined when the header holds something
 * else (a JWT, another scheme). A malformed `srk_…` value is returned as is, to be refused like a wrong key.
 */
export function bearerApiKey(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const m = BEARER_KEY.exec(authorization.slice(0, MAX_HEADER_LENGTH));
  return m ? m[1]!.trim() : undefined;
}
