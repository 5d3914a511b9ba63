/**
 * Hostile review: abuse of the public sign-in and password-reset endpoints by a stranger who knows only
 * a victim's e-mail address. Each test fails while the weakness it names exists.
 */
import { describe, expect, it } from 'vitest';
import { sharedMailbox } from '../support/mailbox.js';
import { nextMailedToken, ORIGIN, signUp, startAppAround, uniqueEmail, type E2eApp } from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

/** A public auth request from a browser on the console's origin, from client address `ip`. */
const post = (url: string, body: object, ip: string) =>
  c.app.inject({ method: 'POST', url, payload: body, remoteAddress: ip, headers: { origin: ORIGIN } });

describe('review4: account lockout and enumeration', () => {
  it('five wrong passwords from a stranger do not lock the owner out of signing in from their own address', async () => {
    const victim = await signUp(c, 'lockout-victim');
    // The attacker knows only the address; each guess is a cheap request from their own address.
    for (let i = 0; i < 5; i++) {
      const res = await post(
        '/v1/auth/login',
        { email: victim.email, password: `guess ${i}` },
        '203.0.113.7',
      );
      expect(res.statusCode, res.body).toBe(401);
    }
    // The owner, from another address, with the right password: refused for 15 minutes on main
    // (429 AUTH_THROTTLED), and again after each new round of 5 requests.
    const owner = await post(
      '/v1/auth/login',
      { email: victim.email, password: victim.password },
      '198.51.100.20',
    );
    expect(owner.statusCode, owner.body).toBe(200);
  });

  it('a password-reset request does the same work for an account and an unknown address; only the account gets a mail', async () => {
    // The request itself only queues a job for the address (the deterministic check of "same statements
    // for both" is in src/modules/auth/password-reset.test.ts); the worker mails the account's owner.
    const known = await signUp(c, 'reset-known');
    const nobody = uniqueEmail('reset-nobody');
    const a = await post('/v1/auth/password-reset', { email: known.email }, '10.41.0.1');
    const b = await post('/v1/auth/password-reset', { email: nobody }, '10.42.0.1');
    expect(a.statusCode, a.body).toBe(202);
    expect(b.statusCode, b.body).toBe(202);
    expect(a.body).toBe(b.body);
    expect(await nextMailedToken(known.email, 'reset-password')).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(
      sharedMailbox()
        .all()
        .filter((m) => m.to.includes(nobody)),
    ).toEqual([]);
  });
});
