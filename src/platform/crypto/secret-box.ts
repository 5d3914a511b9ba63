import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Small secrets at rest (TOTP seeds, provider tokens) sealed with the KEK: AES-256-GCM, a random 12-byte
 * IV per seal, and a versioned text form `v1.<iv>.<tag>.<ciphertext>` (each part base64url), so the
 * format can change later without guessing. An optional `context` is bound as additional authenticated
 * data: a value sealed for one row or purpose (`users.totp:<userId>`) does not open for another, so a
 * ciphertext copied between rows fails instead of decrypting.
 */
export interface SecretBox {
  /** Encrypts `plaintext`; every call gives a different string (fresh IV). */
  seal(plaintext: string | Buffer, context?: string): string;
  /**
   * Decrypts a sealed string.
   * @throws SecretBoxError when the string is malformed, of an unknown version, altered, sealed with
   *   another key or for another context. The message never contains the input.
   */
  open(sealed: string, context?: string): Buffer;
}

/** A sealed value that cannot be opened. Deliberately vague: it says nothing about which check failed. */
export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

function decodePart(part: string | undefined, bytes?: number): Buffer {
  if (part === undefined || !B64URL.test(part)) throw new SecretBoxError('sealed secret is malformed');
  const buf = Buffer.from(part, 'base64url');
  // Reject non-canonical encodings too: the string must round-trip exactly.
  if (buf.toString('base64url') !== part || (bytes !== undefined && buf.length !== bytes)) {
    throw new SecretBoxError('sealed secret is malformed');
  }
  return buf;
}

/**
 * A {@link SecretBox} under `kek`.
 * @param kek - the key-encryption key, exactly 32 bytes (`Secrets['kek']`).
 * @param previous - earlier keys (`KEK_PREVIOUS` after a KEK rotation): they still open what they
 *   sealed, never seal. Without them a KEK change would make every value sealed before it unreadable.
 * @throws RangeError when a key is not 32 bytes.
 */
export function createSecretBox(kek: Buffer, previous: readonly Buffer[] = []): SecretBox {
  for (const k of [kek, ...previous]) {
    if (!Buffer.isBuffer(k) || k.length !== KEY_BYTES) {
      throw new RangeError(`secret box key must be exactly ${KEY_BYTES} bytes`);
    }
  }
  // Private copies: a caller zeroing or reusing its buffer cannot change the key under us.
  const key = Buffer.from(kek);
  const openers = [key, ...previous.map((k) => Buffer.from(k))];
  const aadOf = (context: string | undefined) => Buffer.from(`${VERSION}:${context ?? ''}`, 'utf8');

  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadOf(context));
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, iv, tag, ciphertext]
        .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
        .join('.');
    },

    open(sealed, context) {
      if (typeof sealed !== 'string') throw new SecretBoxError('sealed secret is malformed');
      const parts = sealed.split('.');
      if (parts.length !== 4) throw new SecretBoxError('sealed secret is malformed');
      if (parts[0] !== VERSION) throw new SecretBoxError('sealed secret has an unknown version');
      const iv = decodePart(parts[1], IV_BYTES);
      const tag = decodePart(parts[2], TAG_BYTES);
      const ciphertext = decodePart(parts[3]);
      for (const k of openers) {
        const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aadOf(context));
        decipher.setAuthTag(tag);
        try {
          return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
        } catch {
          // Sealed with another key (or altered): the next key, if any.
        }
      }
      throw new SecretBoxError('sealed secret cannot be opened');
    },
  };
}
