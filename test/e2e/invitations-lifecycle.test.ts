/**
 * Hostile review: an invitation issued before the organization was suspended or scheduled for deletion
 * must not add a member afterwards. SSO just-in-time provisioning and SCIM refuse a new member of an
 * organization that is not active (docs/sso.md: "as an accepted invitation does"); accepting an
 * invitation checks no lifecycle today, so a suspended organization and a read-only one pending deletion
 * still gain active members (and audit events).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  createOrg,
  invite,
  newPassword,
  signUp,
  startApp,
  stopApp,
  uniqueEmail,
  inOrg,
  type E2eApp,
  type User,
} from './helpers.js';

describe('invitation acceptance and the organization lifecycle', () => {
  let c: E2eApp;
  let owner: User;
  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'inv-life-owner');
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  const memberCount = (orgId: string) =>
    c.tenancy.withTenant(orgId, async (db) =>
      Number(
        (
          await db
            .selectFrom('memberships')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('organization_id', '=', orgId)
            .where('status', '=', 'active')
            .executeTakeFirstOrThrow()
        ).n,
      ),
    );

  it('a suspended organization gains no member by an invitation accepted after the suspension', async () => {
    const org = await createOrg(owner.browser, 'inv-susp');
    const { token } = await invite(owner.browser, org.id, uniqueEmail('inv-susp-new'), 'member');
    await c.services.platform.setSuspended(owner.userId, org.id, true);
    const before = await memberCount(org.id);
    const res = await new Browser(c).post('/v1/invitations/accept-new', { token, password: newPassword() });
    expect.soft(res.statusCode, res.body).not.toBe(201);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('ORGANIZATION_SUSPENDED');
    expect(res.statusCode).toBe(403);
    expect(await memberCount(org.id)).toBe(before);
  });

  it('an organization pending deletion (read-only) gains no member by an invitation', async () => {
    const org = await createOrg(owner.browser, 'inv-pend');
    const { token } = await invite(owner.browser, org.id, uniqueEmail('inv-pend-new'), 'admin');
    expect((await owner.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(202);
    const before = await memberCount(org.id);
    const res = await new Browser(c).post('/v1/invitations/accept-new', { token, password: newPassword() });
    expect.soft(res.statusCode, res.body).not.toBe(201);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('ORGANIZATION_PENDING_DELETION');
    expect(res.statusCode).toBe(409);
    expect(await memberCount(org.id)).toBe(before);
  });
});
