import { createHash, randomInt } from 'node:crypto';

/**
 * Recovery codes: 10 per user, `xxxx-xxxx-xxxx` from a 32-letter alphabet without look-alikes (60 bits
 * each), shown once and stored only as SHA-256 hashes. High-entropy random values need no slow hash: a
 * leaked table of SHA-256 digests of 60-bit random strings cannot be reversed by guessing.
 */

export const RECOVERY_CODE_COUNT = 10;
// Crockford's base32 alphabet: no i, l, o, u.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const GROUPS = 3;
const GROUP_LENGTH = 4;
const LENGTH = GROUPS * GROUP_LENGTH;

/** One fresh code, `xxxx-xxxx-xxxx`. */
export function generateRecoveryCode(): string {
  let raw = '';
  for (let i = 0; i < LENGTH; i++) raw += ALPHABET[randomInt(ALPHABET.length)];
  return raw.match(new RegExp(`.{${GROUP_LENGTH}}`, 'g'))!.join('-');
}

/** `RECOVERY_CODE_COUNT` distinct fresh codes. */
export function generateRecoveryCodes(): string[] {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) codes.add(generateRecoveryCode());
  return [...codes];
}

/**
 * The canonical form of a typed code (lowercase, no spaces or dashes, Crockford's look-alikes mapped:
 * i/l → 1, o → 0), or null when it cannot be a recovery code.
 */
export function normalizeRecoveryCode(input: string): string | null {
  const s = input.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0');
  if (s.length !== LENGTH) return null;
  for (const c of s) if (!ALPHABET.includes(c)) return null;
  return s;
}

/** The stored digest of a code (given in any accepted form); null when it cannot be a code. */
export function hashRecoveryCode(input: string): Buffer | null {
  const canonical = normalizeRecoveryCode(input);
  return canonical === null ? null : createHash('sha256').update(canonical, 'utf8').digest();
}
