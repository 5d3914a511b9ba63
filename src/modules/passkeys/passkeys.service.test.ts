import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createSessionService } from '../auth/sessions.service.js';
import { createThrottle, LOGIN_THROTTLE_RULES } from '../auth/throttle.js';
import { insertUser } from '../two-factor/two-factor.test-fixtures.js';
import { createPasskeysService, type PasskeysService } from './passkeys.service.js';
import { SoftwareAuthenticator } from './passkeys.test-authenticator.js';

const ORIGIN = 'https://app.example.test';

const failure = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? 'thrown',
  );

describe('passkeys service', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let passkeys: PasskeysService;
  let t = Date.now();

  beforeAll(() => {
    tenancy = createTestTenancy(4);
    db = createPlatformDb(tenancy.control.pool);
    passkeys = createPasskeysService({
      db,
      sessions: createSessionService({ db, secureCookies: true }),
      rpId: 'app.example.test',
      rpName: 'SaaSReady',
      origins: [ORIGIN],
      throttle: createThrottle('passkeys.test', LOGIN_THROTTLE_RULES),
      optionsThrottle: createThrottle('passkeys.test.options', { ip: { limit: 1000, windowMs: 60_000 } }),
      now: () => t,
    });
  });
  afterAll(async () => {
    await db.destroy();
    await tenancy.close();
  });

  async function registered() {
    const u = await insertUser(db, 'pk');
    const who = { userId: u.id, sessionId: crypto.randomUUID() };
    const key = new SoftwareAuthenticator(ORIGIN);
    const options = await passkeys.registrationOptions(who);
    await passkeys.verifyRegistration(who, { response: key.register(options), name: 'Key' });
    return { who, key };
  }

  it('an expired challenge is refused (registration, second factor, sign-in)', async () => {
    const { who, key } = await registered();
    const reg = await passkeys.registrationOptions(who);
    const second = await passkeys.secondFactorOptions(who);
    const { options, handle } = await passkeys.signInOptions('192.0.2.10');
    t += 5 * 60_000 + 1;
    expect(
      await failure(
        passkeys.verifyRegistration(who, {
          response: new SoftwareAuthenticator(ORIGIN).register(reg),
          name: 'x',
        }),
      ),
    ).toBe('PASSKEY_INVALID');
    expect(await failure(passkeys.verifySecondFactor(who, key.assert(second)))).toBe(
      'PASSKEY_SIGN_IN_FAILED',
    );
    expect(await failure(passkeys.verifySignIn(handle, key.assert(options), { ip: '192.0.2.10' }))).toBe(
      'PASSKEY_SIGN_IN_FAILED',
    );
  });

  it('second factor: an assertion without user verification is accepted (preferred, not required)', async () => {
    const { who, key } = await registered();
    const options = await passkeys.secondFactorOptions(who);
    await expect(
      passkeys.verifySecondFactor(who, key.assert(options, { uv: false })),
    ).resolves.toBeUndefined();
  });

  it('a name is trimmed and checked; ids of nobody answer 404', async () => {
    const { who } = await registered();
    const [p] = (await passkeys.list(who.userId)).data;
    expect(await failure(passkeys.rename(who.userId, p!.id, '   '))).toBe('PASSKEY_INVALID');
    expect(await failure(passkeys.rename(who.userId, p!.id, 'a\u0007b'))).toBe('PASSKEY_INVALID');
    expect((await passkeys.rename(who.userId, p!.id, '  Desk key ')).name).toBe('Desk key');
    expect(await failure(passkeys.remove(who.userId, 'not-a-uuid'))).toBe('PASSKEY_NOT_FOUND');
    expect(await failure(passkeys.remove(who.userId, crypto.randomUUID()))).toBe('PASSKEY_NOT_FOUND');
  });

  it('too many failed sign-ins from one address: 429', async () => {
    const { key } = await registered();
    let last = '';
    for (let i = 0; i < 21; i++) {
      const { options, handle } = await passkeys.signInOptions('198.51.100.7');
      last = await failure(
        passkeys.verifySignIn(handle, key.assert(options, { origin: 'https://evil.example' }), {
          ip: '198.51.100.7',
        }),
      );
    }
    expect(last).toBe('AUTH_THROTTLED');
  });

  it("failures from many addresses with the user's credential id do not shut the owner out", async () => {
    const { key } = await registered();
    // 40 addresses × 5 failed assertions of the user's credential (200: past a password sign-in's
    // account-wide budget of 100); only each address's own budget is spent.
    for (let a = 1; a <= 40; a++) {
      const ip = `203.0.113.${a}`;
      for (let i = 0; i < 5; i++) {
        const { options, handle } = await passkeys.signInOptions(ip);
        expect(
          await failure(
            passkeys.verifySignIn(handle, key.assert(options, { origin: 'https://evil.example' }), { ip }),
          ),
        ).toBe('PASSKEY_SIGN_IN_FAILED');
      }
    }
    const { options, handle } = await passkeys.signInOptions('192.0.2.99');
    expect(await failure(passkeys.verifySignIn(handle, key.assert(options), { ip: '192.0.2.99' }))).toBe(
      'resolved',
    );
  });
});
