import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSecretBox, SecretBoxError } from './secret-box.js';

const kek = randomBytes(32);
const box = createSecretBox(kek);

/** Flips one bit of the decoded part `index` (1 = iv, 2 = tag, 3 = ciphertext) and re-encodes. */
function flip(sealed: string, index: number, byte = 0): string {
  const parts = sealed.split('.');
  const buf = Buffer.from(parts[index]!, 'base64url');
  buf[byte] = buf[byte]! ^ 0x01;
  parts[index] = buf.toString('base64url');
  return parts.join('.');
}

describe('secret box (AES-256-GCM under the KEK)', () => {
  it('round-trips and writes v1.<iv>.<tag>.<ciphertext> in base64url', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'users.totp:u1');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'users.totp:u1').toString()).toBe('JBSWY3DPEHPK3PXP');
  });

  it('uses a fresh IV per seal', () => {
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
  });

  it('any plaintext round-trips (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.string({ maxLength: 40 }), (bytes, context) => {
        const data = Buffer.from(bytes);
        expect(box.open(box.seal(data, context), context).equals(data)).toBe(true);
      }),
    );
  });

  it('a tampered iv, tag or ciphertext fails', () => {
    const sealed = box.seal('a secret of some length', 'ctx');
    for (const index of [1, 2, 3]) {
      expect(() => box.open(flip(sealed, index), 'ctx')).toThrow(SecretBoxError);
    }
    const parts = sealed.split('.');
    const truncated = [
      ...parts.slice(0, 3),
      Buffer.from(parts[3]!, 'base64url').subarray(1).toString('base64url'),
    ];
    expect(() => box.open(truncated.join('.'), 'ctx')).toThrow(SecretBoxError);
  });

  it('any single-bit flip anywhere in the payload fails (property)', () => {
    const sealed = box.seal('0123456789abcdef0123', 'ctx');
    const sizes = sealed.split('.').map((p) => Buffer.from(p, 'base64url').length);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.nat(), (index, n) => {
        expect(() => box.open(flip(sealed, index, n % sizes[index]!), 'ctx')).toThrow(SecretBoxError);
      }),
    );
  });

  it('another key or another context fails', () => {
    const sealed = box.seal('secret', 'users.totp:u1');
    expect(() => createSecretBox(randomBytes(32)).open(sealed, 'users.totp:u1')).toThrow(SecretBoxError);
    expect(() => box.open(sealed, 'users.totp:u2')).toThrow(SecretBoxError);
    expect(() => box.open(sealed)).toThrow(SecretBoxError);
  });

  it('malformed strings and unknown versions fail without echoing the input', () => {
    const sealed = box.seal('secret');
    const [, iv, tag, ct] = sealed.split('.');
    for (const bad of [
      '',
      'v1',
      `v2.${iv}.${tag}.${ct}`,
      `v1.${iv}.${tag}`,
      `v1.${iv}.${tag}.${ct}.x`,
      `v1.${iv}=.${tag}.${ct}`,
      `v1.${iv!.slice(1)}.${tag}.${ct}`,
      `v1.${iv}.${tag}.${ct}!`,
    ]) {
      let err: unknown;
      try {
        box.open(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SecretBoxError);
      if (bad.length > 8) expect((err as Error).message).not.toContain(bad);
    }
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(RangeError);
    expect(() => createSecretBox(randomBytes(33))).toThrow(RangeError);
  });

  it('keeps its own copy of the key', () => {
    const k = randomBytes(32);
    const b = createSecretBox(k);
    const sealed = b.seal('x');
    k.fill(0);
    expect(b.open(sealed).toString()).toBe('x');
  });

  it('after a KEK rotation, the previous KEK still opens what it sealed (never seals), and only that', () => {
    const next = randomBytes(32);
    const sealedBefore = box.seal('totp seed', 'users.totp_secret:u1');
    expect(() => createSecretBox(next).open(sealedBefore, 'users.totp_secret:u1')).toThrow(SecretBoxError);
    const rotated = createSecretBox(next, [kek]);
    expect(rotated.open(sealedBefore, 'users.totp_secret:u1').toString()).toBe('totp seed');
    // New seals use the new KEK alone.
    expect(createSecretBox(next).open(rotated.seal('y'), undefined).toString()).toBe('y');
    expect(() => box.open(rotated.seal('y'))).toThrow(SecretBoxError);
    // The context still binds, whichever key opens.
    expect(() => rotated.open(sealedBefore, 'users.totp_secret:u2')).toThrow(SecretBoxError);
    expect(() => createSecretBox(next, [randomBytes(16)])).toThrow(RangeError);
  });
});
