/**
 * Hostile review of the login throttle's held store (src/modules/auth/throttle.ts `createThrottle`): keys
 * of existing accounts and of proven devices live in a Map nothing evicts, documented as "bounded by the
 * number of accounts (its account-wide rules cap how many keys one account has alive)". A SUCCESSFUL
 * sign-in from a proven device acquires `device` (`<user> <device id>`) and `accountDevices`, then
 * releases them (login.ts: `throttle.release([address, ...spent])`): the `device` counter stays in the
 * Map at 0 until its 15-minute window ends. No account-wide rule counts successes, so one account whose
 * password its holder knows (their own) adds one held key per device id: a sign-in without the cookie
 * mints a new device id, a sign-in with it stores its counter. The held store then grows with the
 * sign-in rate (argon2-bound), not with the number of accounts. Shown on the throttle with the exact key
 * sequence login.ts uses (the login throttle is not reachable from the app).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  accountAttemptKeys,
  clientAddress,
  createThrottle,
  deviceAttemptKeys,
  LOGIN_THROTTLE_RULES,
} from '../../src/modules/auth/throttle.js';

describe('review6: held throttle store', () => {
  it('successful sign-ins of one account from ever new proven devices leave the held store bounded', () => {
    const throttle = createThrottle('auth.login', LOGIN_THROTTLE_RULES);
    const email = 'holder@e2e.example.com';
    const userId = '6f1c1a52-8d43-4f4b-9d0e-000000000001';
    const ip = '203.0.113.50';
    for (let i = 0; i < 1000; i++) {
      // login.ts, a right password from a proven device (a device id minted by the sign-in before).
      const account = accountAttemptKeys(email, ip, { exists: true });
      const proven = deviceAttemptKeys(userId, randomBytes(16).toString('base64url'));
      const spent = [proven.device, proven.allDevices];
      const address = clientAddress(ip);
      throttle.acquire([account.fromAddress, ...spent, address]);
      throttle.release([address, ...spent]);
      throttle.reset(account.fromAddress);
    }
    // On main: 1,001 held counters for one account (every device's, each at 0) until the window ends.
    // What its account-wide rules bound: a key per failure (100 without a device cookie, 50 with one),
    // for `account` and for `device`, and the two account-wide counters.
    expect(throttle.size().held).toBeLessThanOrEqual(2 * (100 + 50) + 2);
  });
});
