import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Kms } from './kms.js';
import { TenantKeyError } from './errors.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** Binds a wrapped key to its purpose: a wrapped data key is not some other value sealed with the KEK. */
const AAD = Buffer.from('saasready:tenant-data-key:v1', 'utf8');

/**
 * The id of a local KEK: `local:` and the first 16 bytes of SHA-256 over a domain-separated input, in
 * hex. It identifies the key (rotation knows which KEK wrapped what) without revealing anything usable.
 */
export function localKekId(kek: Buffer): string {
  return `local:${createHash('sha256').update('saasready:kek-id:v1\0').update(kek).digest('hex').slice(0, 32)}`;
}

function wrap(kek: Buffer, plaintext: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(AAD);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

function unwrap(kek: Buffer, wrapped: Buffer): Buffer {
  if (wrapped.length < IV_BYTES + TAG_BYTES + 1) {
    throw new TenantKeyError('SEALED_VALUE_UNREADABLE', 'a wrapped data key is malformed');
  }
  const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(AAD);
  decipher.setAuthTag(wrapped.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new TenantKeyError('SEALED_VALUE_UNREADABLE', 'a wrapped data key cannot be unwrapped');
  }
}

/**
 * The `local` provider: data keys wrapped (AES-256-GCM) by the process's KEK (`KEK`, or DATA_DIR's
 * secrets.json outside production). `previous` are older KEKs (KEK_PREVIOUS): they still unwrap, never
 * wrap, so a KEK rotation keeps every key readable until the re-wrap job is done.
 */
export function createLocalKms(current: Buffer, previous: readonly Buffer[] = []): Kms {
  for (const k of [current, ...previous]) {
    if (!Buffer.isBuffer(k) || k.length !== KEY_BYTES) throw new RangeError('a KEK must be exactly 32 bytes');
  }
  const keks = new Map<string, Buffer>();
  const currentId = localKekId(current);
  keks.set(currentId, Buffer.from(current));
  for (const k of previous) {
    const id = localKekId(k);
    if (!keks.has(id)) keks.set(id, Buffer.from(k));
  }
  const kekFor = (kekId: string): Buffer => {
    const kek = keks.get(kekId);
    if (!kek)
      throw new TenantKeyError('KEK_UNKNOWN', 'a data key is wrapped by a KEK this process does not hold');
    return kek;
  };
  const currentKek = keks.get(currentId)!;
  return {
    name: 'local',
    currentKekId: currentId,
    async generateDataKey() {
      const plaintext = randomBytes(KEY_BYTES);
      return { plaintext, wrapped: wrap(currentKek, plaintext), kekId: currentId };
    },
    async decrypt(wrapped, kekId) {
      return unwrap(kekFor(kekId), wrapped);
    },
    async encrypt(plaintext) {
      return { wrapped: wrap(currentKek, plaintext), kekId: currentId };
    },
    async reEncrypt(wrapped, kekId) {
      const plaintext = unwrap(kekFor(kekId), wrapped);
      try {
        return { wrapped: wrap(currentKek, plaintext), kekId: currentId };
      } finally {
        plaintext.fill(0);
      }
    },
  };
}
