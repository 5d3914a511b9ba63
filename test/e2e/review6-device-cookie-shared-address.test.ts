/**
 * Hostile review of device cookies (src/modules/auth/login.ts): a sign-in presenting a valid device
 * cookie of the account is exempted only from the account-wide rule (`accountTotal`); the per-account-
 * and-address rule (`account`, 5 per 15 minutes) and the per-address rule (`ip`, 20) still apply. Behind
 * a shared IPv4 address (carrier-grade NAT of a mobile network, an office, a campus: the cases where an
 * attacker shares the owner's address at all), anyone there spends the owner's `account` budget with five
 * wrong guesses, and the owner's usual browser, whose cookie proves it signed in before, is refused for
 * 15 minutes, again after every five guesses. The device's own budget (`device`, 5) is the per-client
 * bound device cookies exist to give (OWASP's device cookies lock out untrusted clients, not trusted
 * devices); holding a proven device to the address's budgets too leaves the owner lockable by a neighbour.
 */
import { describe, expect, it } from 'vitest';
import { ORIGIN, signUp, startAppAround, type E2eApp } from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

const post = (body: object, ip: string, cookie?: string) =>
  c.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: body,
    remoteAddress: ip,
    headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
  });

describe('review6: device cookies behind a shared address', () => {
  it("five wrong guesses from the owner's (shared) address do not lock out the owner's usual browser", async () => {
    const victim = await signUp(c, 'device-nat');
    const credentials = { email: victim.email, password: victim.password };
    const nat = '100.64.7.9'; // a carrier-grade NAT address: the owner and the stranger share it
    const before = await post(credentials, nat);
    expect(before.statusCode, before.body).toBe(200);
    const line = ([before.headers['set-cookie']].flat() as string[]).find((l) => l.startsWith('sr_device='));
    const device = /^(sr_device=[^;]+)/.exec(line ?? '')?.[1];
    expect(device).toBeDefined();
    for (let i = 0; i < 5; i++) {
      const res = await post({ ...credentials, password: `neighbour ${i}` }, nat);
      expect(res.statusCode, res.body).toBe(401);
    }
    // On main: 429 AUTH_THROTTLED for 900 s (rule `account` of this address), the right password and a
    // valid device cookie notwithstanding.
    const owner = await post(credentials, nat, device);
    expect(owner.statusCode, owner.body).toBe(200);
  });
});
