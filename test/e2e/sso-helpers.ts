/**
 * What the SSO end-to-end tests set up alike: a DNS whose TXT answers the test publishes, an owner with a
 * verified address, an organization on a plan that allows SSO, a verified domain, an OIDC connection to
 * the in-process OpenID provider, and a sign-in through it. Each step asserts its own answers.
 */
import { expect } from 'vitest';
import { Browser, ORIGIN, createOrg, inOrg, newPassword, nextMailedToken, type E2eApp } from './helpers.js';
import type { FakeIdp } from '../support/oidc-fake-idp.js';
import { connect, testDb } from '../support/tenancy.js';

/** TXT records the test publishes; `resolveTxt` is what the app's SSO options take. */
export interface FakeDns {
  readonly txt: Map<string, string>;
  readonly resolveTxt: (name: string) => Promise<string[][]>;
}

export function fakeDns(): FakeDns {
  const txt = new Map<string, string>();
  const resolveTxt = (name: string): Promise<string[][]> => {
    const v = txt.get(name);
    if (v === undefined) return Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
    return Promise.resolve([[v]]);
  };
  return { txt, resolveTxt };
}

/** Registers `email` and proves it with the mailed link: a signed-in owner-to-be, their address,
 *  password and user id. */
export async function verifiedAccount(
  c: E2eApp,
  email: string,
): Promise<{ browser: Browser; email: string; password: string; userId: string }> {
  const browser = new Browser(c);
  const password = newPassword();
  expect((await browser.post('/v1/auth/register', { email, password })).statusCode).toBe(202);
  const verified = await browser.post('/v1/auth/verify-email', {
    token: await nextMailedToken(email, 'verify-email'),
  });
  expect(verified.statusCode, verified.body).toBe(200);
  return { browser, email, password, userId: verified.json<{ user: { id: string } }>().user.id };
}

/** An organization of `owner` on the enterprise plan (SSO needs a plan that allows it). */
export async function enterpriseOrg(owner: Browser, prefix: string): Promise<{ id: string; slug: string }> {
  const org = await createOrg(owner, prefix);
  const su = await connect(testDb().adminUrl);
  try {
    await su.query(`update organizations set plan = 'enterprise' where id = $1`, [org.id]);
  } finally {
    await su.end();
  }
  return org;
}

/** Adds `domain` to the organization, publishes its TXT record and verifies it. */
export async function verifyDomain(
  owner: Browser,
  dns: FakeDns,
  orgId: string,
  domain: string,
): Promise<void> {
  const added = await owner.post('/v1/sso/domains', { domain }, inOrg(orgId));
  expect(added.statusCode, added.body).toBe(201);
  const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
  dns.txt.set(rec.name, rec.value);
  const verified = await owner.post(`/v1/sso/domains/${domain}/verify`, {}, inOrg(orgId));
  expect(verified.statusCode, verified.body).toBe(200);
}

/** An active OIDC connection of the organization to `idp` (default role member); its id. */
export async function oidcConnection(
  owner: Browser,
  orgId: string,
  idp: FakeIdp,
  name: string,
): Promise<string> {
  const created = await owner.post(
    '/v1/sso/connections',
    {
      kind: 'oidc',
      name,
      defaultRole: 'member',
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
    },
    inOrg(orgId),
  );
  expect(created.statusCode, created.body).toBe(201);
  return created.json<{ id: string }>().id;
}

/**
 * Signs `email` in through discovery and the IdP (which asserts `sub` and `email`, verified): the browser
 * and the app's answer to the IdP's redirect (a 302 to the console when the sign-in succeeded).
 */
export async function ssoSignIn(
  c: E2eApp,
  idp: FakeIdp,
  sub: string,
  email: string,
): Promise<{ b: Browser; res: Awaited<ReturnType<Browser['get']>> }> {
  idp.nextUser = { sub, email, email_verified: true };
  const b = new Browser(c);
  const d = await b.post('/v1/auth/sso/discover', { email, returnTo: '/' });
  expect(d.statusCode, d.body).toBe(200);
  const at = await fetch(d.json<{ redirectUrl: string }>().redirectUrl, { redirect: 'manual' });
  const back = new URL(at.headers.get('location')!);
  return { b, res: await b.get(`${back.pathname}${back.search}`) };
}

/** {@link ssoSignIn} that must succeed: the signed-in browser. */
export async function ssoSignedIn(c: E2eApp, idp: FakeIdp, sub: string, email: string): Promise<Browser> {
  const { b, res } = await ssoSignIn(c, idp, sub, email);
  expect(res.statusCode, res.body).toBe(302);
  expect(res.headers.location).toBe(`${ORIGIN}/`);
  return b;
}
