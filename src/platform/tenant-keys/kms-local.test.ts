import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLocalKms, localKekId } from './kms-local.js';

describe('local KMS provider', () => {
  it('wraps fresh 32-byte data keys under the KEK, identified by a fingerprint', async () => {
    const kek = randomBytes(32);
    const kms = createLocalKms(kek);
    expect(kms.name).toBe('local');
    expect(kms.currentKekId).toBe(localKekId(kek));
    expect(kms.currentKekId).toMatch(/^local:[0-9a-f]{32}$/);
    expect(kms.currentKekId).not.toContain(kek.toString('hex').slice(0, 16));
    const dk = await kms.generateDataKey();
    expect(dk.plaintext).toHaveLength(32);
    expect(dk.wrapped.includes(dk.plaintext)).toBe(false);
    expect((await kms.decrypt(dk.wrapped, dk.kekId)).equals(dk.plaintext)).toBe(true);
    const other = await kms.generateDataKey();
    expect(other.plaintext.equals(dk.plaintext)).toBe(false);
  });

  it('refuses tampered wrapped keys and unknown KEKs', async () => {
    const kms = createLocalKms(randomBytes(32));
    const dk = await kms.generateDataKey();
    const bad = Buffer.from(dk.wrapped);
    bad[20] = bad[20]! ^ 1;
    await expect(kms.decrypt(bad, dk.kekId)).rejects.toMatchObject({ code: 'SEALED_VALUE_UNREADABLE' });
    await expect(kms.decrypt(dk.wrapped, 'local:0000')).rejects.toMatchObject({ code: 'KEK_UNKNOWN' });
    await expect(createLocalKms(randomBytes(32)).decrypt(dk.wrapped, dk.kekId)).rejects.toMatchObject({
      code: 'KEK_UNKNOWN',
    });
  });

  it('KEK rotation: previous KEKs unwrap, never wrap; reEncrypt moves a key to the current KEK', async () => {
    const old = randomBytes(32);
    const next = randomBytes(32);
    const before = await createLocalKms(old).generateDataKey();
    const kms = createLocalKms(next, [old]);
    expect((await kms.decrypt(before.wrapped, before.kekId)).equals(before.plaintext)).toBe(true);
    const moved = await kms.reEncrypt(before.wrapped, before.kekId);
    expect(moved.kekId).toBe(localKekId(next));
    expect((await createLocalKms(next).decrypt(moved.wrapped, moved.kekId)).equals(before.plaintext)).toBe(
      true,
    );
    expect((await kms.encrypt(before.plaintext)).kekId).toBe(localKekId(next));
    expect(() => createLocalKms(randomBytes(16))).toThrow(RangeError);
  });
});
