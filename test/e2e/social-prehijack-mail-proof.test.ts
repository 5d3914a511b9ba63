/**
 * Hostile review: an identity linked while the address was unproven (a provider that does not verify
 * addresses created the account) must stop signing in once the address's owner proves it. A proof by a
 * verifying provider drops it (social-sign-in.test.ts); a proof by mail (the password reset link, or the
 * verification link the provider's sign-up mailed to the owner) leaves it linked today, and its holder
 * keeps signing in to the owner's account.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInAtIdp, startOidcIdp, type OidcIdp } from '../support/oidc-idp.js';
import {
  Browser,
  ORIGIN,
  newPassword,
  nextMailedToken,
  rememberSecret,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';

const ACME_CALLBACK = `${ORIGIN}/v1/auth/social/oidc:acme-sso/callback`;

describe('social sign-in: an unproven identity after a proof by mail', () => {
  let c: E2eApp;
  let idp: OidcIdp;

  beforeAll(async () => {
    idp = await startOidcIdp({ redirectUris: [ACME_CALLBACK] });
    rememberSecret(idp.clientSecret);
    c = await startApp({
      socialSignIn: {
        providers: [
          {
            kind: 'oidc',
            id: 'oidc:acme-sso',
            label: 'Acme',
            clientId: idp.clientId,
            clientSecret: idp.clientSecret,
            scopes: ['openid', 'email'],
            issuer: idp.issuer,
          },
        ],
      },
    });
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
    await idp?.close();
  });

  /** Someone who merely typed `email` at a provider that does not verify it: a browser signed in through it. */
  function squatter(email: string) {
    const login = `user-${randomBytes(6).toString('hex')}`;
    idp.accounts.set(login, { email, email_verified: false });
    return async () => {
      const b = new Browser(c);
      const start = await b.get('/v1/auth/social/oidc:acme-sso/start');
      const flow = /sr_social=([^;]+)/.exec(String(start.headers['set-cookie']))![1]!;
      const back = await signInAtIdp(String(start.headers.location), login, ACME_CALLBACK);
      await b.get(back.slice(ORIGIN.length), { cookie: `sr_social=${flow}` });
      return b;
    };
  }

  it('after the owner resets the password (the link proves the address), the squatter’s identity signs in no more', async () => {
    const email = uniqueEmail('social-prehijack-reset');
    const viaAcme = squatter(email);
    const first = await viaAcme();
    const me = await first.get('/v1/auth/me');
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({ user: { email, emailVerified: false } });
    const userId = me.json<{ user: { id: string } }>().user.id;

    // The owner of the mailbox claims the account with a password reset.
    const owner = new Browser(c);
    expect((await owner.post('/v1/auth/password-reset', { email })).statusCode).toBe(202);
    const token = await nextMailedToken(email, 'reset-password');
    const password = newPassword();
    const confirm = await owner.post('/v1/auth/password-reset/confirm', { token, password });
    expect(confirm.statusCode, confirm.body).toBe(204);
    const login = await owner.post('/v1/auth/login', { email, password });
    expect(login.statusCode, login.body).toBe(200);
    expect((await owner.get('/v1/auth/me')).json()).toMatchObject({
      user: { id: userId, emailVerified: true },
    });

    // The identity linked while the address was unproven no longer signs in to the owner's account.
    const again = await viaAcme();
    const who = await again.get('/v1/auth/me');
    expect(who.statusCode, `the squatter is signed in to the owner's account: ${who.body}`).toBe(401);
  }, 60_000);

  it('after the owner opens the verification link the sign-up mailed, the squatter’s identity signs in no more', async () => {
    const email = uniqueEmail('social-prehijack-verify');
    const viaAcme = squatter(email);
    const first = await viaAcme();
    expect((await first.get('/v1/auth/me')).statusCode).toBe(200);

    // The owner opens the verification link that reached their mailbox.
    const owner = new Browser(c);
    const token = await nextMailedToken(email, 'verify-email');
    const verified = await owner.post('/v1/auth/verify-email', { token });
    expect(verified.statusCode, verified.body).toBe(200);
    // The squatter's earlier session ended (a first proof ends them)...
    expect((await first.get('/v1/auth/me')).statusCode).toBe(401);

    // ...and the identity linked while the address was unproven must not start a new one.
    const again = await viaAcme();
    const who = await again.get('/v1/auth/me');
    expect(who.statusCode, `the squatter is signed in to the owner's account: ${who.body}`).toBe(401);
  }, 60_000);
});
