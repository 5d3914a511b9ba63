import { describe, expect, it } from 'vitest';
import { parseOptions } from '@node-rs/argon2';
import { AuthError } from './auth.errors.js';
import { assertPasswordAcceptable, commonPasswords } from './password-policy.js';
import { ARGON2_PARAMS, createPasswordHasher } from './passwords.js';

const reasonOf = (password: string, email?: string) => {
  try {
    assertPasswordAcceptable(password, email);
    return 'ok';
  } catch (err) {
    if (err instanceof AuthError && err.code === 'AUTH_PASSWORD_WEAK') return err.details?.reason;
    throw err;
  }
};

describe('password hashing', () => {
  const hasher = createPasswordHasher();

  it('uses argon2id with at least OWASP’s minimum (m=19456 KiB, t=2, p=1)', async () => {
    const phc = await hasher.hash('some long passphrase');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const o = parseOptions(phc);
    expect(o.memoryCost).toBeGreaterThanOrEqual(19456);
    expect(o.timeCost).toBeGreaterThanOrEqual(2);
    expect(o.parallelism).toBe(1);
    expect(o.saltLen).toBe(16);
    expect(ARGON2_PARAMS).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });

  it('verifies, rejects, normalizes (NFKC) and never throws on a malformed hash', async () => {
    const phc = await hasher.hash('café au lait, très chaud');
    expect(await hasher.verify(phc, 'café au lait, très chaud')).toBe(true);
    expect(await hasher.verify(phc, 'cafe\u0301 au lait, tre\u0300s chaud')).toBe(true); // decomposed accents
    expect(await hasher.verify(phc, 'café au lait, très froid')).toBe(false);
    expect(await hasher.verify('not a hash', 'anything')).toBe(false);
    expect(await hasher.verifyDummy('anything at all')).toBe(false);
    expect(await hasher.hash('same password!')).not.toBe(await hasher.hash('same password!'));
  });

  it('flags hashes made with weaker parameters for re-hashing', async () => {
    const weak = await createPasswordHasher({ ...ARGON2_PARAMS, memoryCost: 4096, timeCost: 1 }).hash(
      'x'.repeat(12),
    );
    expect(hasher.needsRehash(weak)).toBe(true);
    expect(hasher.needsRehash(await hasher.hash('x'.repeat(12)))).toBe(false);
    expect(hasher.needsRehash('garbage')).toBe(true);
  });
});

describe('password policy', () => {
  it('ships a hand-written list of a few hundred well-known passwords', () => {
    const list = commonPasswords();
    expect(list.size).toBeGreaterThan(400);
    for (const p of ['123456', 'password', 'qwerty', 'iloveyou', 'letmein', 'trustno1'])
      expect(list.has(p)).toBe(true);
  });

  it('accepts long unremarkable passwords', () => {
    for (const p of [
      'correct horse battery staple',
      'Tr0ub4dor&3-extended',
      'mañana-sera-otro-día',
      'ぱすわーどではないもの',
      'x9$Lq!2vR#pW',
      'dragonfly-lamp-42',
    ]) {
      expect(reasonOf(p)).toBe('ok');
    }
  });

  it('refuses by length (code points): fewer than 10, more than 256', () => {
    expect(reasonOf('abc123!?x')).toBe('too_short');
    expect(reasonOf('😀😀😀😀😀😀😀😀😀')).toBe('too_short');
    expect(reasonOf('x9$Lq!2vR#')).toBe('ok');
    expect(reasonOf('ab'.repeat(128) + 'c')).toBe('too_long');
  });

  it('refuses common passwords, also dressed up with case, digits, symbols and l33t', () => {
    for (const p of [
      '1234567890',
      'Password123',
      'PASSWORD2024!',
      'P@ssw0rd1234',
      'iloveyou2020',
      '!!Sunshine99',
      'monkey123456',
      'Football#2023',
      'passwordpassword',
    ]) {
      expect(['common', 'sequential', 'repetitive']).toContain(reasonOf(p));
    }
    expect(reasonOf('Password2024!')).toBe('common');
    expect(reasonOf('P@ssw0rd1234')).toBe('common');
  });

  it('refuses one repeated character or short unit', () => {
    for (const p of [
      'aaaaaaaaaa',
      '1111111111111',
      '          ',
      'abababababab',
      'abcabcabcabc',
      'xyz!xyz!xyz!',
    ]) {
      expect(reasonOf(p)).toBe('repetitive');
    }
  });

  it('refuses keyboard and alphabetical/numerical runs, either way', () => {
    for (const p of [
      '1234567890',
      '0987654321',
      'qwertyuiop',
      'poiuytrewq',
      'lkjhgfdsa0'.slice(0, 9) + 'p',
      'abcdefghijkl',
      'zyxwvutsrqpo',
      '1q2w3e4r5t6y',
      '1qaz2wsx3edc',
      '12345678901234',
    ]) {
      expect(['sequential', 'common']).toContain(reasonOf(p));
    }
    expect(reasonOf('qwertyuiop')).toBe('sequential');
    expect(reasonOf('abcdefghijkl')).toBe('sequential');
  });

  it('refuses the email address or its local part, with digits or symbols around it', () => {
    expect(reasonOf('jonathan.smith', 'Jonathan.Smith@example.com')).toBe('matches_email');
    expect(reasonOf('Jonathan.Smith2024', 'jonathan.smith@example.com')).toBe('matches_email');
    expect(reasonOf('jo@example.com', 'jo@example.com')).toBe('matches_email');
    expect(reasonOf('jonathan.smith.is.me', 'jonathan.smith@example.com')).toBe('ok');
  });
});
