/**
 * Hostile review: an admin (any holder of `sso:manage`) of an organization that verified its domain can
 * create a connection to an identity provider they run, and that IdP then signs them in AS any existing
 * account of the domain: the organization's owner included (and whatever other organizations that account
 * belongs to: organization B below). Owners are "named inside the product, never by an IdP group" (docs/sso.md), and a SCIM
 * token needs every permission of admin because it can give roles up to admin; a connection gives the
 * account itself, with no such rule.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  ORIGIN,
  addNewMember,
  createOrg,
  inOrg,
  invite,
  newPassword,
  nextMailedToken,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
} from './helpers.js';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import { connect, testDb } from '../support/tenancy.js';

const txt = new Map<string, string>();
const resolveTxt = async (name: string) => {
  const v = txt.get(name);
  if (v === undefined) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return [[v]];
};

describe('SSO: a connection an admin creates signs in as the owner', () => {
  let c: E2eApp;
  let rogueIdp: FakeIdp;
  let owner: Browser;
  let ownerId: string;
  let ownerEmail: string;
  let org: { id: string; slug: string };
  let domain: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt } });
    rogueIdp = await startFakeIdp();
    domain = `corp-${randomBytes(4).toString('hex')}.test`;
    ownerEmail = `founder@${domain}`;
    owner = new Browser(c);
    expect(
      (await owner.post('/v1/auth/register', { email: ownerEmail, password: newPassword() })).statusCode,
    ).toBe(202);
    const verified = await owner.post('/v1/auth/verify-email', {
      token: await nextMailedToken(ownerEmail, 'verify-email'),
    });
    expect(verified.statusCode, verified.body).toBe(200);
    ownerId = verified.json<{ user: { id: string } }>().user.id;
    org = await createOrg(owner, 'corp');
    const su = await connect(testDb().adminUrl);
    await su.query(`update organizations set plan = 'enterprise' where id = $1`, [org.id]);
    await su.end();
    // The owner verified the company's domain (the first step of setting up SSO).
    const added = await owner.post('/v1/sso/domains', { domain }, inOrg(org.id));
    expect(added.statusCode, added.body).toBe(201);
    const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
    txt.set(rec.name, rec.value);
    expect((await owner.post(`/v1/sso/domains/${domain}/verify`, {}, inOrg(org.id))).statusCode).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await rogueIdp?.close();
    await stopApp(c);
  });

  it("an admin's own IdP does not sign the admin in to the owner's account", async () => {
    const admin = await addNewMember(owner, org.id, 'admin', 'corp-admin');
    // Organization B, of another company: the owner of A is one of its members, the admin is not.
    const bOwner = await signUp(c, 'other-company');
    const orgB = await createOrg(bOwner.browser, 'other-company');
    const { token } = await invite(bOwner.browser, orgB.id, ownerEmail, 'member');
    expect((await owner.post('/v1/invitations/accept', { token })).statusCode).toBe(200);
    expect((await admin.browser.get('/v1/members', inOrg(orgB.id))).statusCode).toBe(404);
    // The admin connects an IdP they run (sso:manage, which admin holds).
    const created = await admin.browser.post(
      '/v1/sso/connections',
      {
        kind: 'oidc',
        name: 'Backup IdP',
        defaultRole: 'member',
        oidc: {
          issuer: rogueIdp.issuer,
          clientId: rogueIdp.clientId,
          clientSecret: rogueIdp.clientSecret,
        },
      },
      inOrg(org.id),
    );
    expect(created.statusCode, created.body).toBe(201);
    const connectionId = created.json<{ id: string }>().id;

    // Their IdP asserts the owner's address.
    rogueIdp.nextUser = { sub: 'anything', email: ownerEmail, email_verified: true };
    const b = new Browser(c);
    const start = await b.get(`/v1/auth/sso/start?connection=${connectionId}&returnTo=/`);
    expect(start.statusCode, start.body).toBe(302);
    const at = await fetch(String(start.headers.location), { redirect: 'manual' });
    const back = new URL(at.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(`${ORIGIN}/v1/auth/sso/oidc/callback`);
    await b.get(`${back.pathname}${back.search}`);

    const me = await b.get('/v1/auth/me');
    // The account is the owner's everywhere: organization B (another company, which the owner joined and
    // the admin never did) answers the admin too.
    expect
      .soft(
        (await b.get('/v1/members', inOrg(orgB.id))).statusCode,
        "the admin of A reads organization B's members as the owner",
      )
      .not.toBe(200);
    expect(
      me.statusCode === 200 ? me.json<{ user: { id: string } }>().user.id : null,
      `the admin is signed in as the owner: ${me.body}`,
    ).not.toBe(ownerId);
  });
});
