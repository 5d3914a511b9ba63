/** RFC 4648 base32 (the alphabet authenticator apps read secrets in). */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/**
 * Encodes bytes as RFC 4648 base32.
 * @param opts - `padding`: append `=` to a multiple of 8 characters (default false, as otpauth URIs use).
 */
export function base32Encode(data: Uint8Array, opts: { padding?: boolean } = {}): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  if (opts.padding) while (out.length % 8 !== 0) out += '=';
  return out;
}

/**
 * Decodes RFC 4648 base32. Case, spaces, dashes and trailing `=` padding are tolerated (people type
 * secrets by hand); any other character, or a length no encoder produces, is refused.
 * @throws TypeError on invalid input (the message does not contain it).
 */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s-]/g, '').replace(/=+$/, '').toUpperCase();
  // Lengths 1, 3 and 6 (mod 8) cannot come from whole bytes.
  if ([1, 3, 6].includes(clean.length % 8)) throw new TypeError('invalid base32 length');
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const c of clean) {
    const v = VALUES.get(c);
    if (v === undefined) throw new TypeError('invalid base32 character');
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}
