import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode } from './base32.js';
import { hotp, looksLikeTotp, matchTotpStep, timeStep, totp } from './totp.js';
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
} from './recovery-codes.js';

// The RFC 4226 / RFC 6238 (SHA-1) test key: ASCII "12345678901234567890".
const RFC_KEY = Buffer.from('12345678901234567890', 'ascii');

describe('HOTP (RFC 4226, appendix D)', () => {
  const expected = [
    '755224',
    '287082',
    '359152',
    '969429',
    '338314',
    '254676',
    '287922',
    '162583',
    '399871',
    '520489',
  ];
  it.each(expected.map((code, counter) => [counter, code] as const))('counter %i → %s', (counter, code) => {
    expect(hotp(RFC_KEY, counter)).toBe(code);
  });

  it('refuses bad counters and digit counts', () => {
    expect(() => hotp(RFC_KEY, -1)).toThrow(RangeError);
    expect(() => hotp(RFC_KEY, 1.5)).toThrow(RangeError);
    expect(() => hotp(RFC_KEY, 0, 5)).toThrow(RangeError);
  });
});

describe('TOTP (RFC 6238, appendix B, SHA-1)', () => {
  const vectors = [
    [59, '0000000000000001', '94287082'],
    [1111111109, '00000000023523EC', '07081804'],
    [1111111111, '00000000023523ED', '14050471'],
    [1234567890, '000000000273EF07', '89005924'],
    [2000000000, '0000000003F940AA', '69279037'],
    [20000000000, '0000000027BC86AA', '65353130'],
  ] as const;
  it.each(vectors)('T = %i s (step %s) → %s', (seconds, stepHex, code) => {
    expect(timeStep(seconds * 1000)).toBe(parseInt(stepHex, 16));
    expect(totp(RFC_KEY, seconds * 1000, 8)).toBe(code);
    // The 6-digit value the product uses is the same truncation modulo 10^6.
    expect(totp(RFC_KEY, seconds * 1000)).toBe(code.slice(2));
  });
});

describe('matching a code within ±1 step', () => {
  const t = 1_111_111_111_000;
  const step = timeStep(t);

  it('accepts the previous, current and next step and reports which', () => {
    expect(matchTotpStep(RFC_KEY, hotp(RFC_KEY, step - 1), t)).toBe(step - 1);
    expect(matchTotpStep(RFC_KEY, hotp(RFC_KEY, step), t)).toBe(step);
    expect(matchTotpStep(RFC_KEY, hotp(RFC_KEY, step + 1), t)).toBe(step + 1);
    expect(matchTotpStep(RFC_KEY, hotp(RFC_KEY, step - 2), t)).toBeNull();
    expect(matchTotpStep(RFC_KEY, hotp(RFC_KEY, step + 2), t)).toBeNull();
  });

  it('ignores steps not newer than the last accepted one', () => {
    const code = hotp(RFC_KEY, step);
    expect(matchTotpStep(RFC_KEY, code, t, step - 1)).toBe(step);
    expect(matchTotpStep(RFC_KEY, code, t, step)).toBeNull();
    expect(matchTotpStep(RFC_KEY, code, t + 30_000, step)).toBeNull();
  });

  it('tolerates spaces, refuses other shapes', () => {
    const code = hotp(RFC_KEY, step);
    expect(matchTotpStep(RFC_KEY, `${code.slice(0, 3)} ${code.slice(3)}`, t)).toBe(step);
    expect(matchTotpStep(RFC_KEY, code.slice(1), t)).toBeNull();
    expect(matchTotpStep(RFC_KEY, `${code}0`, t)).toBeNull();
    expect(looksLikeTotp('123 456')).toBe(true);
    expect(looksLikeTotp('12345')).toBe(false);
    expect(looksLikeTotp('abcd-efgh-jkmn')).toBe(false);
  });
});

describe('base32 (RFC 4648)', () => {
  it.each([
    ['', ''],
    ['f', 'MY======'],
    ['fo', 'MZXQ===='],
    ['foo', 'MZXW6==='],
    ['foob', 'MZXW6YQ='],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI======'],
  ])('%j ↔ %s', (text, encoded) => {
    expect(base32Encode(Buffer.from(text), { padding: true })).toBe(encoded);
    expect(base32Encode(Buffer.from(text))).toBe(encoded.replace(/=+$/, ''));
    expect(base32Decode(encoded).toString()).toBe(text);
  });

  it('round-trips any bytes and decodes lowercase with spaces (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const enc = base32Encode(bytes);
        expect(base32Decode(enc).equals(Buffer.from(bytes))).toBe(true);
        expect(base32Decode(enc.toLowerCase().replace(/(.{4})/g, '$1 ')).equals(Buffer.from(bytes))).toBe(
          true,
        );
      }),
    );
  });

  it('refuses characters outside the alphabet and impossible lengths', () => {
    expect(() => base32Decode('MZXW1')).toThrow(TypeError);
    expect(() => base32Decode('A')).toThrow(TypeError);
    expect(() => base32Decode('ABC')).toThrow(TypeError);
  });

  it('a 20-byte secret is 32 characters', () => {
    expect(base32Encode(Buffer.alloc(20, 0xff))).toHaveLength(32);
  });
});

describe('recovery codes', () => {
  it('are 10 distinct xxxx-xxxx-xxxx codes', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(RECOVERY_CODE_COUNT);
    for (const c of codes)
      expect(c).toMatch(/^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$/);
  });

  it('hash the same however they are typed', () => {
    const [code] = generateRecoveryCodes();
    const h = hashRecoveryCode(code!)!;
    expect(h).toHaveLength(32);
    expect(hashRecoveryCode(code!.toUpperCase())!.equals(h)).toBe(true);
    expect(hashRecoveryCode(code!.replace(/-/g, ' '))!.equals(h)).toBe(true);
    expect(hashRecoveryCode(code!.replace(/-/g, ''))!.equals(h)).toBe(true);
  });

  it('map look-alikes and refuse what cannot be a code', () => {
    expect(normalizeRecoveryCode('IL0O-aaaa-bbbb')).toBe('1100aaaabbbb');
    expect(normalizeRecoveryCode('aaaa-bbbb-ccc')).toBeNull();
    expect(normalizeRecoveryCode('aaaa-bbbb-cccu')).toBeNull();
    expect(hashRecoveryCode('123456')).toBeNull();
  });
});
