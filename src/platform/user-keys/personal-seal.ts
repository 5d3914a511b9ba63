import { createCipheriv, createDecipheriv } from 'node:crypto';
import { pooledRandomBytes } from '../ids.js';

/**
 * Personal fields sealed under a person's key (AES-256-GCM): `pd1.<subjectId>.<iv>.<tag>.<ciphertext>`,
 * each binary part base64url. The subject id (a user id, or the keyed hash of an e-mail address) says
 * whose key opens it; the associated data binds the chain
 * (organization id, or `platform`), the entry id and the field, so a sealed value copied to another
 * entry, field or organization does not open. Once the user's key is destroyed nothing opens it.
 */
export const SEALED_PREFIX = 'pd1.';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Where a sealed personal field lives. */
export interface PersonalBinding {
  /** The organization whose chain holds the entry; null: the platform chain. */
  readonly organizationId: string | null;
  readonly entryId: string;
  /** `ip`, `user_agent`, or `metadata.<key>`. */
  readonly field: string;
}

const aad = (userId: string, b: PersonalBinding) =>
  Buffer.from(`pd1|${b.organizationId ?? 'platform'}|${b.entryId}|${b.field}|${userId}`, 'utf8');

/** Seals `plaintext` (UTF-8) for `userId` under `key` (32 bytes). */
export function sealPersonal(
  key: Buffer,
  userId: string,
  binding: PersonalBinding,
  plaintext: string,
): string {
  // Random 96-bit IV per value, drawn from a pooled CSPRNG buffer (never handed out twice).
  const iv = pooledRandomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(userId, binding));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${SEALED_PREFIX}${userId}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${ct.toString('base64url')}`;
}

/** True for a string in the sealed form (it may still fail to open). */
export const isSealedPersonal = (v: unknown): v is string =>
  typeof v === 'string' && v.startsWith(SEALED_PREFIX);

/** The user whose key seals `sealed`, or null when it is not in the sealed form. */
export function sealedFor(sealed: string): string | null {
  if (!sealed.startsWith(SEALED_PREFIX)) return null;
  const userId = sealed.slice(SEALED_PREFIX.length, SEALED_PREFIX.length + 36);
  return UUID.test(userId) && sealed[SEALED_PREFIX.length + 36] === '.' ? userId : null;
}

/** Opens a sealed personal field; null when it is malformed, altered, moved, or `key` is not its key. */
export function openPersonal(key: Buffer, binding: PersonalBinding, sealed: string): string | null {
  const userId = sealedFor(sealed);
  if (!userId) return null;
  const parts = sealed.slice(SEALED_PREFIX.length + 37).split('.');
  if (parts.length !== 3) return null;
  const [iv, tag, ct] = parts.map((p) => Buffer.from(p ?? '', 'base64url')) as [Buffer, Buffer, Buffer];
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(userId, binding));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** `s` cut to at most `maxBytes` octets of UTF-8 without splitting a character. */
export function clipUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = Buffer.from(s, 'utf8').subarray(0, maxBytes).toString('utf8');
  // A cut inside a character leaves U+FFFD at the end: drop it.
  while (out.endsWith('\uFFFD') && Buffer.byteLength(out, 'utf8') > maxBytes - 3) out = out.slice(0, -1);
  return out;
}
