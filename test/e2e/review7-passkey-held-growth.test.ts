/**
 * Hostile review of passkey sign-in's throttle (src/modules/passkeys/passkeys.service.ts `verifySignIn`)
 * after the account-wide budget (`accountTotal`) was removed. A failure with a known credential counts
 * under `account` = `<user id> <address's key>`, marked `held` (the account exists), so it lives in the
 * throttle's Map that nothing evicts. That store is documented as bounded by the number of accounts
 * because "its account-wide rules stop failures after 100" (throttle.ts `createThrottle`): passkey
 * sign-in has no such rule any more, so every new client address (an IPv6 /64: a /48 holds 65,536 of
 * them) adds a held counter for 15 minutes. Anyone holding one of the user's credential ids (no secret,
 * as the change itself says) grows the never-evicted store with the addresses they can use, and only the
 * per-address rule (`ip`, 20 per 15 minutes per /64) bounds them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../src/platform/db/platform-db.js';
import type { Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createSessionService } from '../../src/modules/auth/sessions.service.js';
import { createThrottle, LOGIN_THROTTLE_RULES, type Throttle } from '../../src/modules/auth/throttle.js';
import { insertUser } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import { createPasskeysService, type PasskeysService } from '../../src/modules/passkeys/passkeys.service.js';
import { SoftwareAuthenticator } from '../../src/modules/passkeys/passkeys.test-authenticator.js';

const ORIGIN = 'https://app.example.test';

let tenancy: Tenancy;
let db: PlatformDb;
let throttle: Throttle;
let passkeys: PasskeysService;

beforeAll(() => {
  tenancy = createTestTenancy(4);
  db = createPlatformDb(tenancy.control.pool);
  // The composition's throttle (app/services/sign-in.ts), held here to read its size.
  throttle = createThrottle('passkeys.sign-in', LOGIN_THROTTLE_RULES);
  passkeys = createPasskeysService({
    db,
    sessions: createSessionService({ db, secureCookies: true }),
    rpId: 'app.example.test',
    rpName: 'SaaSReady',
    origins: [ORIGIN],
    throttle,
    optionsThrottle: createThrottle('passkeys.options', { ip: { limit: 60, windowMs: 60_000 } }),
  });
});
afterAll(async () => {
  await db.destroy();
  await tenancy.close();
});

describe('review7: passkey sign-in failures and the held throttle store', () => {
  it("failures with one user's credential id from ever new /64s leave the held store bounded", async () => {
    const u = await insertUser(db, 'r7-pk');
    const who = { userId: u.id, sessionId: crypto.randomUUID() };
    const key = new SoftwareAuthenticator(ORIGIN);
    const reg = await passkeys.registrationOptions(who);
    await passkeys.verifyRegistration(who, { response: key.register(reg), name: 'Key' });

    // One failure from each of 200 /64 networks of one /48 (any assertion that does not verify: here a
    // wrong origin, as a forged one would be).
    for (let n = 1; n <= 200; n++) {
      const ip = `2001:db8:7:${n.toString(16)}::1`;
      const { options, handle } = await passkeys.signInOptions(ip);
      await expect(
        passkeys.verifySignIn(handle, key.assert(options, { origin: 'https://evil.example' }), { ip }),
      ).rejects.toMatchObject({
        // Refused either way (a bound that answers 429 once reached is one way to fix this).
        code: expect.stringMatching(/^(PASSKEY_SIGN_IN_FAILED|AUTH_THROTTLED)$/) as string,
      });
    }
    // On passkey-budget: 200 held counters for one account (one per /64), growing with every address.
    // What an account-wide rule bounds (password sign-in's `accountTotal`): 100 per account per window,
    // and the account-wide counter itself.
    expect(throttle.size().held).toBeLessThanOrEqual(100 + 1);
  });
});
