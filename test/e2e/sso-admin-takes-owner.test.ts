/**
 * Hostile review: an admin (any holder of `sso:manage`) of an organization that verified its domain can
 * create a connection to an identity provider they run, and that IdP then signs them in AS any existing
 * account of the domain: the organization's owner included (and whatever other organizations that account
 * belongs to: organization B below). Owners are "named inside the product, never by an IdP group" (docs/sso.md), and a SCIM
 * token needs every permission of admin because it can give roles up to admin; a connection gives the
 * account itself, with no such rule.
 * The fix: creating a connection and changing what it trusts are an owner's power (docs/sso.md).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  addNewMember,
  createOrg,
  inOrg,
  invite,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
} from './helpers.js';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import { enterpriseOrg, fakeDns, verifiedAccount, verifyDomain } from './sso-helpers.js';

const dns = fakeDns();

describe('SSO: a connection an admin creates signs in as the owner', () => {
  let c: E2eApp;
  let rogueIdp: FakeIdp;
  let owner: Browser;
  let ownerId: string;
  let ownerEmail: string;
  let org: { id: string; slug: string };
  let domain: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt: dns.resolveTxt } });
    rogueIdp = await startFakeIdp();
    domain = `corp-${randomBytes(4).toString('hex')}.test`;
    ownerEmail = `founder@${domain}`;
    ({ browser: owner, userId: ownerId } = await verifiedAccount(c, ownerEmail));
    org = await enterpriseOrg(owner, 'corp');
    // The owner verified the company's domain (the first step of setting up SSO).
    await verifyDomain(owner, dns, org.id, domain);
  }, 60_000);
  afterAll(async () => {
    await rogueIdp?.close();
    await stopApp(c);
  });

  it("an admin cannot connect their own IdP, nor point the owner's connection at it", async () => {
    const admin = await addNewMember(owner, org.id, 'admin', 'corp-admin');
    // Organization B, of another company: the owner of A is one of its members, the admin is not.
    const bOwner = await signUp(c, 'other-company');
    const orgB = await createOrg(bOwner.browser, 'other-company');
    const { token } = await invite(bOwner.browser, orgB.id, ownerEmail, 'member');
    expect((await owner.post('/v1/invitations/accept', { token })).statusCode).toBe(200);
    expect((await admin.browser.get('/v1/members', inOrg(orgB.id))).statusCode).toBe(404);
    const rogue = {
      issuer: rogueIdp.issuer,
      clientId: rogueIdp.clientId,
      clientSecret: rogueIdp.clientSecret,
    };

    // The admin tries to connect an IdP they run (sso:manage, which admin holds): an owner's power only
    // (the fix decides so: the review's version of this test expected the 201 and the take-over after it).
    const created = await admin.browser.post(
      '/v1/sso/connections',
      { kind: 'oidc', name: 'Backup IdP', defaultRole: 'member', oidc: rogue },
      inOrg(org.id),
    );
    expect(created.statusCode, created.body).toBe(403);
    expect(created.json()).toMatchObject({ error: { code: 'SSO_OWNER_REQUIRED' } });

    // The owner's own connection (to the company's IdP; here the same test IdP, inactive).
    const ownerIdp = await startFakeIdp();
    try {
      const mine = await owner.post(
        '/v1/sso/connections',
        {
          kind: 'oidc',
          name: 'Company IdP',
          defaultRole: 'member',
          status: 'inactive',
          oidc: { issuer: ownerIdp.issuer, clientId: ownerIdp.clientId, clientSecret: ownerIdp.clientSecret },
        },
        inOrg(org.id),
      );
      expect(mine.statusCode, mine.body).toBe(201);
      const id = mine.json<{ id: string }>().id;
      const path = `/v1/sso/connections/${id}`;
      // Its trust fields are the owner's too: the admin can neither point it at their IdP nor enable it...
      for (const body of [
        { oidc: rogue },
        { oidc: { clientSecret: 'x'.repeat(24) } },
        { status: 'active' },
      ]) {
        const res = await admin.browser.patch(path, body, inOrg(org.id));
        expect(res.statusCode, `${JSON.stringify(body)}: ${res.body}`).toBe(403);
        expect(res.json()).toMatchObject({ error: { code: 'SSO_OWNER_REQUIRED' } });
      }
      // ...but keeps the rest: reading it, its name and roles (never owner), and deleting it.
      expect((await admin.browser.get(path, inOrg(org.id))).statusCode).toBe(200);
      const renamed = await admin.browser.patch(path, { name: 'Company IdP (EU)' }, inOrg(org.id));
      expect(renamed.statusCode, renamed.body).toBe(200);
      const unchanged = await admin.browser.patch(
        path,
        { oidc: { issuer: ownerIdp.issuer, clientId: ownerIdp.clientId } },
        inOrg(org.id),
      );
      expect(unchanged.statusCode, 'the stored values again are no change').toBe(200);
      expect(renamed.json()).toMatchObject({ status: 'inactive', oidc: { issuer: ownerIdp.issuer } });
      expect((await admin.browser.delete(path, inOrg(org.id))).statusCode).toBe(204);
    } finally {
      await ownerIdp.close();
    }

    // Nothing the admin did signs anyone in as the owner: B stays out of their reach.
    const list = await owner.get('/v1/sso/connections', inOrg(org.id));
    expect(list.json<{ data: unknown[] }>().data).toEqual([]);
    expect(ownerId).toBeTruthy();
    expect((await admin.browser.get('/v1/members', inOrg(orgB.id))).statusCode).toBe(404);
  });
});
