/**
 * Hostile review: a directory linking an existing account of its verified domain must not hand the
 * organization's membership to whoever registered that address first without owning it (never verified,
 * a password of their choosing). Today the SCIM create links the account as it is: the squatter's password
 * and session then reach the organization.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  createOrg,
  inOrg,
  newPassword,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';
import { connect, testDb } from '../support/tenancy.js';
import { auditEvents } from '../support/audit.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

describe('SCIM create of an address someone registered before its owner (pre-registration)', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let domain: string;
  let scimToken: string;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'scim-prereg-owner');
    org = await createOrg(owner.browser, 'scim-prereg');
    domain = `corp-${randomBytes(4).toString('hex')}.test`;
    const su = await connect(testDb().adminUrl);
    await su.query(`update organizations set plan = 'enterprise' where id = $1`, [org.id]);
    await su.query(
      `insert into organization_domains (organization_id, domain, verification_token, status, verified_at)
       values ($1, $2, 'test', 'verified', now())`,
      [org.id, domain],
    );
    await su.end();
    const res = await owner.browser.post('/v1/scim/tokens', {}, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(201);
    scimToken = rememberSecret(res.json<{ secret: string }>().secret);
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  const createUser = (email: string, active: boolean) =>
    c.app.inject({
      method: 'POST',
      url: '/scim/v2/Users',
      payload: JSON.stringify({
        schemas: [USER],
        userName: email,
        emails: [{ value: email, primary: true }],
        active,
      }),
      headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' },
    });

  /** The organization's SCIM audit events about `userId`: action and metadata. */
  const auditOf = async (userId: string) =>
    (await auditEvents(c.tenancy.withTenant, org.id, 'scim.*'))
      .filter((e) => e.target.id === userId)
      .map((e) => ({ action: e.action, metadata: e.metadata }));

  it("the squatter's password and session do not reach the organization the directory adds the address to", async () => {
    const email = `bob-${randomBytes(3).toString('hex')}@${domain}`;
    // 1. The attacker registers the address first (its mail never reaches them: unverified) and signs in.
    const attacker = new Browser(c);
    const password = newPassword();
    expect((await attacker.post('/v1/auth/register', { email, password })).statusCode).toBe(202);
    expect((await attacker.post('/v1/auth/login', { email, password })).statusCode).toBe(200);
    expect((await attacker.get('/v1/members', inOrg(org.id))).statusCode).toBe(404);

    // 2. The organization's directory provisions its employee's address.
    const created = await createUser(email, true);
    expect(created.statusCode, created.body).toBe(201);
    // The claim is audited with the membership it added.
    expect(await auditOf(created.json<{ id: string }>().id)).toEqual([
      { action: 'scim.user_provisioned', metadata: { role: 'member', address_claimed: true } },
    ]);

    // 3. Neither the attacker's session nor their password may now read the organization.
    const viaOldSession = await attacker.get('/v1/members', inOrg(org.id));
    expect.soft(viaOldSession.statusCode, viaOldSession.body).not.toBe(200);
    const again = new Browser(c);
    const relogin = await again.post('/v1/auth/login', { email, password });
    const members = await again.get('/v1/members', inOrg(org.id));
    expect(
      { login: relogin.statusCode, members: members.statusCode },
      'the squatter signs in with their own password and reads the organization',
    ).not.toEqual({ login: 200, members: 200 });
  });

  it('a claim that adds no membership (the user created inactive) is audited all the same', async () => {
    const email = `carol-${randomBytes(3).toString('hex')}@${domain}`;
    const squatter = new Browser(c);
    const password = newPassword();
    expect((await squatter.post('/v1/auth/register', { email, password })).statusCode).toBe(202);
    const created = await createUser(email, false);
    expect(created.statusCode, created.body).toBe(201);
    const userId = created.json<{ id: string }>().id;
    // Claimed (the squatter's password is gone), no membership, and an audit event saying so.
    expect((await new Browser(c).post('/v1/auth/login', { email, password })).statusCode).not.toBe(200);
    const member = await c.tenancy.withTenant(
      org.id,
      (db) =>
        db
          .selectFrom('memberships')
          .select('user_id')
          .where('organization_id', '=', org.id)
          .where('user_id', '=', userId)
          .executeTakeFirst(),
      { mode: 'read' },
    );
    expect(member).toBeUndefined();
    expect(await auditOf(userId)).toEqual([
      { action: 'scim.user_linked', metadata: { active: false, address_claimed: true } },
    ]);
  });
});
