import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { normalizeRecoveryCode } from './recovery-codes.js';
import { codeFor, fakeClock, insertUser } from './two-factor.test-fixtures.js';
import { createTwoFactorService, type TwoFactorService } from './two-factor.service.js';

const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', status: 0 }),
    (e: { code?: string; status?: number; details?: unknown }) => ({
      code: e.code ?? 'thrown',
      status: e.status ?? 0,
    }),
  );

describe('two-factor service', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let service: TwoFactorService;
  const clock = fakeClock();
  const kek = randomBytes(32);

  /** A user with two-factor enabled: its id, base32 secret and recovery codes. */
  async function enrolledUser() {
    const u = await insertUser(db);
    const { secret } = await service.beginEnrollment(u.id, u.email);
    const { recoveryCodes } = await service.confirmEnrollment(u.id, codeFor(secret, clock.now()));
    return { ...u, secret, recoveryCodes };
  }
  const userRow = (id: string) =>
    db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  beforeAll(() => {
    tenancy = createTestTenancy(4);
    db = createPlatformDb(tenancy.control.pool);
    service = createTwoFactorService({ db, kek, issuer: 'SaaSReady', now: clock.now });
  });
  afterAll(async () => {
    await db.destroy();
    await tenancy.close();
  });

  it('enrolls: pending secret, otpauth URI and QR code, then confirmation with a code from the secret', async () => {
    const u = await insertUser(db);
    const before = await userRow(u.id);
    const e = await service.beginEnrollment(u.id, u.email);
    expect(e.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(e.otpauthUri).toBe(
      `otpauth://totp/SaaSReady:${encodeURIComponent(u.email)}?secret=${e.secret}` +
        '&issuer=SaaSReady&algorithm=SHA1&digits=6&period=30',
    );
    expect(e.qrSvg.startsWith('<svg')).toBe(true);
    expect(await service.isEnabled(u.id)).toBe(false);
    const pending = await userRow(u.id);
    expect(pending.two_factor_pending_secret_enc).toMatch(/^v1\./);
    expect(pending.totp_secret_enc).toBeNull();

    expect(await failure(service.confirmEnrollment(u.id, '000000'))).toEqual({
      code: 'TWO_FACTOR_CODE_INVALID',
      status: 400,
    });

    const { recoveryCodes } = await service.confirmEnrollment(u.id, codeFor(e.secret, clock.now()));
    expect(recoveryCodes).toHaveLength(10);
    expect(await service.isEnabled(u.id)).toBe(true);
    const row = await userRow(u.id);
    expect(row.totp_secret_enc).toMatch(/^v1\./);
    expect(row.totp_secret_enc).not.toContain(e.secret);
    expect(row.two_factor_pending_secret_enc).toBeNull();
    expect(row.totp_enabled_at).toBeInstanceOf(Date);
    expect(row.credentials_changed_at.getTime()).toBeGreaterThanOrEqual(
      before.credentials_changed_at.getTime(),
    );
    expect(row.credentials_changed_at).not.toEqual(before.credentials_changed_at);

    const stored = await db.selectFrom('recovery_codes').selectAll().where('user_id', '=', u.id).execute();
    const expected = recoveryCodes.map((c) =>
      createHash('sha256').update(normalizeRecoveryCode(c)!).digest().toString('hex'),
    );
    expect(stored.map((r) => r.code_hash.toString('hex')).sort()).toEqual(expected.sort());
    expect(stored.every((r) => r.used_at === null)).toBe(true);

    expect(await failure(service.beginEnrollment(u.id))).toEqual({
      code: 'TWO_FACTOR_ALREADY_ENABLED',
      status: 409,
    });
  });

  it('the email defaults to the stored one; restarting enrollment replaces the pending secret', async () => {
    const u = await insertUser(db);
    const first = await service.beginEnrollment(u.id);
    expect(first.otpauthUri).toContain(`SaaSReady:${encodeURIComponent(u.email)}?`);
    const second = await service.beginEnrollment(u.id);
    expect(second.secret).not.toBe(first.secret);
    expect((await failure(service.confirmEnrollment(u.id, codeFor(first.secret, clock.now())))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );
    await service.confirmEnrollment(u.id, codeFor(second.secret, clock.now()));
    expect(await service.isEnabled(u.id)).toBe(true);
  });

  it('a TOTP time step is accepted once, also under concurrent use', async () => {
    const u = await enrolledUser();
    // The step used to confirm enrollment is spent.
    expect((await failure(service.verify(u.id, codeFor(u.secret, clock.now())))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );
    clock.advance(30_000);
    const code = codeFor(u.secret, clock.now());
    expect(await service.verify(u.id, code)).toEqual({ method: 'totp', recoveryCodesRemaining: 10 });
    expect((await failure(service.verify(u.id, code))).code).toBe('TWO_FACTOR_CODE_INVALID');
    // An older step stays refused even inside the ±1 window.
    expect((await failure(service.verify(u.id, codeFor(u.secret, clock.now() - 30_000)))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );

    // Concurrent use of one fresh code (a user with no failures yet, so the throttle stays out of it).
    const v = await enrolledUser();
    clock.advance(30_000);
    const next = codeFor(v.secret, clock.now());
    const results = await Promise.all([0, 1, 2, 3].map(() => failure(service.verify(v.id, next))));
    expect(results.filter((r) => r.code === 'resolved')).toHaveLength(1);
    expect(results.filter((r) => r.code === 'TWO_FACTOR_CODE_INVALID')).toHaveLength(3);
  });

  it('accepts the next step (clock drift) and then refuses the current one', async () => {
    const u = await enrolledUser();
    clock.advance(30_000);
    expect((await service.verify(u.id, codeFor(u.secret, clock.now() + 30_000))).method).toBe('totp');
    expect((await failure(service.verify(u.id, codeFor(u.secret, clock.now())))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );
  });

  it('recovery codes are single use, in any typed form, also under concurrent use', async () => {
    const u = await enrolledUser();
    const [a, b, c] = u.recoveryCodes as [string, string, string];
    expect(await service.verify(u.id, a)).toEqual({ method: 'recovery_code', recoveryCodesRemaining: 9 });
    expect((await failure(service.verify(u.id, a))).code).toBe('TWO_FACTOR_CODE_INVALID');
    expect(
      (await service.verify(u.id, ` ${b.toUpperCase().replace(/-/g, ' ')} `)).recoveryCodesRemaining,
    ).toBe(8);
    const results = await Promise.all([0, 1, 2].map(() => failure(service.verify(u.id, c))));
    expect(results.filter((r) => r.code === 'resolved')).toHaveLength(1);
    // Another user's code is not this user's.
    const other = await enrolledUser();
    expect((await failure(service.verify(u.id, other.recoveryCodes[0]!))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );
  });

  it('throttles after 5 failures in 5 minutes, even for a right code, then lets the user try again', async () => {
    const u = await enrolledUser();
    clock.advance(30_000);
    for (let i = 0; i < 5; i++) {
      expect(await failure(service.verify(u.id, '000000'))).toEqual({
        code: 'TWO_FACTOR_CODE_INVALID',
        status: 400,
      });
    }
    const err = await service.verify(u.id, codeFor(u.secret, clock.now())).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TWO_FACTOR_THROTTLED', status: 429 });
    const retry = (err as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds;
    expect(retry).toBeGreaterThan(290);
    expect(retry).toBeLessThanOrEqual(300);
    // The throttle covers every code check of that user, and not other users.
    expect((await failure(service.disable(u.id, u.recoveryCodes[0]!, { keepSessionId: null }))).code).toBe(
      'TWO_FACTOR_THROTTLED',
    );
    const other = await enrolledUser();
    expect((await failure(service.verify(other.id, '000000'))).code).toBe('TWO_FACTOR_CODE_INVALID');

    clock.advance(5 * 60_000);
    expect((await service.verify(u.id, codeFor(u.secret, clock.now()))).method).toBe('totp');
  });

  it('concurrent wrong guesses cannot exceed the limit', async () => {
    const u = await enrolledUser();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => failure(service.verify(u.id, String(100000 + i)))),
    );
    expect(results.filter((r) => r.code === 'TWO_FACTOR_CODE_INVALID')).toHaveLength(5);
    expect(results.filter((r) => r.code === 'TWO_FACTOR_THROTTLED')).toHaveLength(7);
  });

  it('disable needs a valid code and removes the secret and the recovery codes', async () => {
    const u = await enrolledUser();
    expect((await failure(service.disable(u.id, 'aaaa-bbbb-cccc', { keepSessionId: null }))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );
    expect(await service.isEnabled(u.id)).toBe(true);
    clock.advance(30_000);
    await service.disable(u.id, codeFor(u.secret, clock.now()), { keepSessionId: null });
    expect(await service.isEnabled(u.id)).toBe(false);
    const row = await userRow(u.id);
    expect([row.totp_secret_enc, row.totp_enabled_at, row.totp_last_step]).toEqual([null, null, null]);
    const codes = await db
      .selectFrom('recovery_codes')
      .select('user_id')
      .where('user_id', '=', u.id)
      .execute();
    expect(codes).toHaveLength(0);
    expect(await failure(service.verify(u.id, u.recoveryCodes[1]!))).toEqual({
      code: 'TWO_FACTOR_NOT_ENABLED',
      status: 409,
    });
    // And enrollment can start again.
    await expect(service.beginEnrollment(u.id)).resolves.toHaveProperty('secret');
  });

  it('regenerating recovery codes needs a valid code and invalidates the old ones', async () => {
    const u = await enrolledUser();
    expect((await failure(service.regenerateRecoveryCodes(u.id, '123456'))).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );
    const { recoveryCodes } = await service.regenerateRecoveryCodes(u.id, u.recoveryCodes[0]!);
    expect(recoveryCodes).toHaveLength(10);
    expect(recoveryCodes.some((c) => u.recoveryCodes.includes(c))).toBe(false);
    expect((await failure(service.verify(u.id, u.recoveryCodes[1]!))).code).toBe('TWO_FACTOR_CODE_INVALID');
    expect(await service.verify(u.id, recoveryCodes[0]!)).toEqual({
      method: 'recovery_code',
      recoveryCodesRemaining: 9,
    });
  });

  it('refuses out-of-order calls with clear errors', async () => {
    const u = await insertUser(db);
    expect(await failure(service.confirmEnrollment(u.id, '123456'))).toEqual({
      code: 'TWO_FACTOR_ENROLLMENT_NOT_STARTED',
      status: 409,
    });
    for (const call of [
      () => service.verify(u.id, '123456'),
      () => service.disable(u.id, '123456', { keepSessionId: null }),
      () => service.regenerateRecoveryCodes(u.id, '123456'),
    ]) {
      expect((await failure(call())).code).toBe('TWO_FACTOR_NOT_ENABLED');
    }
    expect(await service.isEnabled('not-a-uuid')).toBe(false);
    expect((await failure(service.verify('not-a-uuid', '123456'))).code).toBe('TWO_FACTOR_NOT_ENABLED');
  });

  it('a sealed secret opens only for its own user and under its own key', async () => {
    const a = await enrolledUser();
    const b = await enrolledUser();
    const sealedA = (await userRow(a.id)).totp_secret_enc;
    await db.updateTable('users').set({ totp_secret_enc: sealedA }).where('id', '=', b.id).execute();
    clock.advance(30_000);
    await expect(service.verify(b.id, codeFor(a.secret, clock.now()))).rejects.toMatchObject({
      name: 'SecretBoxError',
    });
    const otherKey = createTwoFactorService({
      db,
      kek: randomBytes(32),
      issuer: 'SaaSReady',
      now: clock.now,
    });
    await expect(otherKey.verify(a.id, codeFor(a.secret, clock.now()))).rejects.toMatchObject({
      name: 'SecretBoxError',
    });
  });

  it('reports every switch on or off through onChanged', async () => {
    const changed: string[] = [];
    const watched = createTwoFactorService({
      db,
      kek,
      issuer: 'SaaSReady',
      now: clock.now,
      onChanged: (id) => changed.push(id),
    });
    const u = await insertUser(db);
    const { secret } = await watched.beginEnrollment(u.id);
    expect(changed).toEqual([]);
    const { recoveryCodes } = await watched.confirmEnrollment(u.id, codeFor(secret, clock.now()));
    expect(changed).toEqual([u.id]);
    await watched.verify(u.id, recoveryCodes[0]!);
    const fresh = await watched.regenerateRecoveryCodes(u.id, recoveryCodes[1]!);
    expect(changed).toEqual([u.id]);
    await watched.disable(u.id, fresh.recoveryCodes[0]!, { keepSessionId: null });
    expect(changed).toEqual([u.id, u.id]);
  });

  it('refuses a bad issuer or key at construction', () => {
    expect(() => createTwoFactorService({ db, kek, issuer: 'a:b' })).toThrow(RangeError);
    expect(() => createTwoFactorService({ db, kek: randomBytes(16), issuer: 'x' })).toThrow(RangeError);
  });

  it('a KEK rotation keeps two-factor working: secrets sealed under the previous KEK (KEK_PREVIOUS) still open', async () => {
    const u = await enrolledUser();
    const next = randomBytes(32);
    const rotated = createTwoFactorService({
      db,
      kek: next,
      previousKeks: [kek],
      issuer: 'SaaSReady',
      now: clock.now,
    });
    clock.advance(30_000);
    expect(await rotated.verify(u.id, codeFor(u.secret, clock.now()))).toMatchObject({ method: 'totp' });
    // Without the previous KEK the same user could not sign in with a code any more.
    const withoutPrevious = createTwoFactorService({ db, kek: next, issuer: 'SaaSReady', now: clock.now });
    clock.advance(30_000);
    await expect(withoutPrevious.verify(u.id, codeFor(u.secret, clock.now()))).rejects.toThrow();
  });
});
