import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HOTP (RFC 4226) and TOTP (RFC 6238) with node:crypto: HMAC-SHA1, 6 digits, 30-second steps. The
 * verifier accepts the current step and one step either side (clock drift) and reports which step
 * matched, so the caller can refuse any step not newer than the last one accepted (no replay).
 */

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted either side of the current one. */
export const TOTP_WINDOW = 1;

/**
 * RFC 4226 HOTP value for `counter`: HMAC-SHA1 over the 8-byte big-endian counter, dynamic truncation,
 * modulo 10^digits, left-padded with zeros.
 */
export function hotp(secret: Uint8Array, counter: number, digits = TOTP_DIGITS): string {
  if (!Number.isSafeInteger(counter) || counter < 0)
    throw new RangeError('HOTP counter must be a safe non-negative integer');
  if (!Number.isInteger(digits) || digits < 6 || digits > 10)
    throw new RangeError('HOTP digits must be 6 to 10');
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The RFC 6238 time step containing `unixMs` (T0 = 0). */
export function timeStep(unixMs: number, period = TOTP_PERIOD_SECONDS): number {
  return Math.floor(unixMs / 1000 / period);
}

/** The TOTP value at `unixMs`. */
export function totp(secret: Uint8Array, unixMs: number, digits = TOTP_DIGITS): string {
  return hotp(secret, timeStep(unixMs), digits);
}

/** True when `code` has the form of a TOTP value (6 digits, spaces allowed: "123 456"). */
export function looksLikeTotp(code: string): boolean {
  return /^\d{6}$/.test(code.replace(/\s/g, ''));
}

/**
 * The earliest time step newer than `afterStep` whose code equals `code`, searching the current step and
 * {@link TOTP_WINDOW} either side, or null. Every candidate is computed and compared in constant time.
 */
export function matchTotpStep(
  secret: Uint8Array,
  code: string,
  unixMs: number,
  afterStep: number | null = null,
): number | null {
  const given = Buffer.from(code.replace(/\s/g, ''), 'utf8');
  if (given.length !== TOTP_DIGITS) return null;
  const now = timeStep(unixMs);
  let matched: number | null = null;
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    if (step < 0) continue;
    const expected = Buffer.from(hotp(secret, step), 'utf8');
    const equal = timingSafeEqual(expected, given);
    if (equal && matched === null && (afterStep === null || step > afterStep)) matched = step;
  }
  return matched;
}
