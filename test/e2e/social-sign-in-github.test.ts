/**
 * GitHub sign-in (OAuth 2.0, no ID token) against a local stand-in for github.com and api.github.com:
 * the user from `GET /user`, the address from the verified primary of `GET /user/emails`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGithub, type FakeGithub, type FakeGithubUser } from '../support/github-fake.js';
import { Browser, ORIGIN, rememberSecret, startApp, stopApp, uniqueEmail, type E2eApp } from './helpers.js';

interface Body {
  user: { id: string; email: string; emailVerified: boolean };
  data: { provider: string; email: string | null }[];
  error: { code: string };
}

describe('social sign-in: GitHub', () => {
  let c: E2eApp;
  let gh: FakeGithub;

  beforeAll(async () => {
    gh = await startFakeGithub();
    rememberSecret(gh.clientSecret);
    c = await startApp({
      socialSignIn: {
        providers: [
          {
            kind: 'github',
            id: 'github',
            label: 'GitHub',
            clientId: gh.clientId,
            clientSecret: gh.clientSecret,
            scopes: ['read:user', 'user:email'],
            authorizationUrl: `${gh.url}/login/oauth/authorize`,
            tokenUrl: `${gh.url}/login/oauth/access_token`,
            apiUrl: gh.url,
          },
        ],
      },
    });
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
    await gh?.close();
  });

  const ghUser = (emails: FakeGithubUser['emails']): FakeGithubUser => ({
    id: 1_000_000 + Math.floor(Math.random() * 1_000_000_000),
    login: `octo-${randomBytes(4).toString('hex')}`,
    name: 'Octo Cat',
    emails,
  });

  async function signIn(user: FakeGithubUser) {
    gh.signInAs = user;
    const b = new Browser(c);
    const start = await b.get('/v1/auth/social/github/start?returnTo=%2Faccount');
    expect(start.statusCode).toBe(302);
    const flow = /sr_social=([^;]+)/.exec(String(start.headers['set-cookie']))![1]!;
    const at = await fetch(String(start.headers.location), { redirect: 'manual' });
    const back = at.headers.get('location')!;
    expect(back.startsWith(`${ORIGIN}/v1/auth/social/github/callback?`)).toBe(true);
    const res = await b.get(back.slice(ORIGIN.length), { cookie: `sr_social=${flow}` });
    return { b, res };
  }

  it('a verified primary address: a new account, signed in; the numeric id is the subject', async () => {
    const email = uniqueEmail('gh-new');
    const user = ghUser([
      { email: uniqueEmail('gh-secondary'), primary: false, verified: true },
      { email, primary: true, verified: true },
    ]);
    const { b, res } = await signIn(user);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/account');
    const me = (await b.get('/v1/auth/me')).json<Body>();
    expect(me.user).toMatchObject({ email, emailVerified: true });
    expect((await b.get('/v1/auth/identities')).json<Body>().data).toEqual([
      expect.objectContaining({ provider: 'github', email }),
    ]);
    // Signing in again (address changed at GitHub since) finds the same user by the account id.
    user.emails = [{ email: uniqueEmail('gh-changed'), primary: true, verified: true }];
    const again = await signIn(user);
    expect((await again.b.get('/v1/auth/me')).json<Body>().user.id).toBe(me.user.id);
    expect(gh.refusals).toEqual([]);
  }, 60_000);

  it('an unverified primary address of an existing user is refused', async () => {
    const email = uniqueEmail('gh-existing');
    const password = rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
    await c.services.auth.registerUser(
      { email, password },
      { createPersonalOrganization: true, emailVerified: true },
    );
    const { b, res } = await signIn(ghUser([{ email, primary: true, verified: false }]));
    expect(res.statusCode).toBe(403);
    expect(res.json<Body>().error.code).toBe('SOCIAL_EMAIL_UNVERIFIED');
    expect(b.cookie).toBeNull();
  }, 60_000);

  it('a verified primary address of an existing user links to it', async () => {
    const email = uniqueEmail('gh-link');
    const password = rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
    const existing = await c.services.auth.registerUser(
      { email, password },
      { createPersonalOrganization: true, emailVerified: true },
    );
    const { b, res } = await signIn(ghUser([{ email, primary: true, verified: true }]));
    expect(res.statusCode).toBe(303);
    expect((await b.get('/v1/auth/me')).json<Body>().user.id).toBe(existing.user.id);
  }, 60_000);
  it('failed callbacks are throttled per client address: 20 per 15 minutes, then 429', async () => {
    // A client address of its own (the other tests' failures count against theirs).
    const from = (state: string) =>
      c.app.inject({
        url: `/v1/auth/social/github/callback?code=x&state=${state}`,
        remoteAddress: '198.51.100.7',
      });
    for (let i = 0; i < 20; i++) expect((await from(`forged-${i}`)).statusCode).toBe(400);
    const res = await from('forged');
    expect(res.statusCode).toBe(429);
    expect(res.json<Body>().error.code).toBe('AUTH_THROTTLED');
    expect(res.headers['retry-after']).toBeTruthy();
  }, 60_000);
});
