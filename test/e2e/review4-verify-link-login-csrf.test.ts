/**
 * Hostile review: login CSRF through the verification link. `POST /v1/auth/verify-email` signs a browser
 * without a session into the account the token belongs to, and the console's `/verify-email?token=` page
 * posts the token as soon as it opens (same origin, so the Origin check passes). An attacker signs up with
 * an address of their own, keeps the link, and sends it to a victim ("confirm to see the shared file"):
 * the victim's browser is now signed in to the attacker's account, where whatever the victim enters
 * (projects, API keys, uploaded data, a linked identity) is the attacker's to read.
 */
import { describe, expect, it } from 'vitest';
import {
  Browser,
  newPassword,
  nextMailedToken,
  startAppAround,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

describe('review4: verification link login CSRF', () => {
  it('a verification link opened in a browser that did not sign up does not sign that browser in', async () => {
    // The attacker signs up from their own browser and reads the link from their own mailbox.
    const attacker = new Browser(c);
    const email = uniqueEmail('attacker');
    const reg = await attacker.post('/v1/auth/register', { email, password: newPassword() });
    expect(reg.statusCode, reg.body).toBe(202);
    const token = await nextMailedToken(email, 'verify-email');

    // The victim's browser (no session) opens the link: the console posts the token from its own origin.
    const victim = new Browser(c);
    const res = await victim.post('/v1/auth/verify-email', { token });
    expect(res.statusCode, res.body).toBe(200);
    // On main: signedIn true, a session cookie for the attacker's account, and `me` answers the attacker.
    expect(res.json<{ signedIn: boolean }>().signedIn).toBe(false);
    expect(victim.cookie).toBeNull();
  });
});
