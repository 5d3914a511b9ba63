import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { AuthError } from './auth.errors.js';
import {
  buildAuthHarness,
  countRows,
  oneRow,
  freshEmail,
  GOOD_PASSWORD,
  lastMailTo,
  sessionCookieOf,
  tokenInMail,
  type AuthHarness,
} from './auth.test-helpers.js';

describe('POST /v1/auth/register', () => {
  let h: AuthHarness;
  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates the user, a personal organization owned by them, a session and a verification mail', async () => {
    const email = freshEmail('reg');
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email: `  ${email.toUpperCase()} `, password: GOOD_PASSWORD, name: 'Ada' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json<{
      user: { id: string; email: string; emailVerified: boolean };
      organization: { id: string; slug: string; name: string; personal: boolean };
    }>();
    expect(body.user).toMatchObject({
      email: email.toUpperCase(),
      emailVerified: false,
      twoFactorEnabled: false,
    });
    expect(body.organization).toMatchObject({ name: "Ada's organization", personal: true });
    expect(body.organization.slug).toMatch(/^reg-[0-9a-f]{12}-[0-9a-f]{8}$/);

    const user = await oneRow<{
      email_normalized: string;
      last_organization_id: string;
      password_hash: string;
    }>(h.admin, 'select email_normalized, last_organization_id, password_hash from users where id = $1', [
      body.user.id,
    ]);
    expect(user).toMatchObject({ email_normalized: email, last_organization_id: body.organization.id });
    expect(user.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const { rows: members } = await h.admin.query(
      'select role, status from memberships where organization_id = $1 and user_id = $2',
      [body.organization.id, body.user.id],
    );
    expect(members).toEqual([{ role: 'owner', status: 'active' }]);
    const { rows: placements } = await h.admin.query(
      'select kind from tenant_placements where organization_id = $1',
      [body.organization.id],
    );
    expect(placements).toEqual([{ kind: 'pooled' }]);
    // The organization's audit chain starts with its creation, by the new user, in the same transaction.
    const { rows: audit } = await h.admin.query(
      `select seq::int, action, actor_type, actor_id, target_type, target_id, ip, metadata, e::text as row
         from audit_events e where organization_id = $1 order by seq`,
      [body.organization.id],
    );
    expect(audit).toMatchObject([
      {
        seq: 1,
        action: 'organization.created',
        actor_type: 'user',
        actor_id: body.user.id,
        target_type: 'organization',
        target_id: body.organization.id,
        metadata: { personal: true, owner: body.user.id, slug: body.organization.slug },
      },
    ]);
    expect((audit[0] as { ip: string | null }).ip).toBeTruthy();
    expect((audit[0] as { row: string }).row).not.toContain(GOOD_PASSWORD);

    const mail = await lastMailTo(h.admin, email.toUpperCase());
    expect(mail?.subject).toBe('Verify your email address');
    expect(mail?.html).toContain('/verify-email?token=');
    tokenInMail(mail, '/verify-email');

    const cookie = sessionCookieOf(res);
    expect(cookie).toBeTruthy();
    const me = await h.app.inject({ url: '/v1/auth/me', headers: { cookie: `sr_session=${cookie}` } });
    expect(me.json()).toEqual({
      user: { id: body.user.id, email: email.toUpperCase(), emailVerified: false, twoFactorEnabled: false },
      currentOrganizationId: body.organization.id,
    });
  });

  it('names the organization after the local part when no name is given', async () => {
    const email = freshEmail('noname');
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email, password: GOOD_PASSWORD },
    });
    expect(res.json<{ organization: { name: string } }>().organization.name).toBe(
      `${email.split('@')[0]}'s organization`,
    );
  });

  it('refuses a duplicate email in any case with 409 AUTH_EMAIL_TAKEN and writes nothing', async () => {
    const email = freshEmail('dup');
    const first = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email, password: GOOD_PASSWORD },
    });
    expect(first.statusCode).toBe(201);
    const orgsOf = () => countRows(h.admin, 'organizations where slug like $1', [`${email.split('@')[0]}-%`]);
    expect(await orgsOf()).toBe(1);
    const again = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email: ` ${email.toUpperCase()}`, password: 'another fine password' },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({
      error: { code: 'AUTH_EMAIL_TAKEN', message: 'an account with this email already exists' },
    });
    expect(sessionCookieOf(again)).toBeUndefined();
    expect(await orgsOf()).toBe(1);
  });

  it('concurrent sign-ups with one email: exactly one succeeds', async () => {
    const email = freshEmail('race');
    const results = await Promise.all(
      [email, email.toUpperCase(), ` ${email}`].map((e) =>
        h.app.inject({
          method: 'POST',
          url: '/v1/auth/register',
          payload: { email: e, password: GOOD_PASSWORD },
        }),
      ),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
    expect(await countRows(h.admin, 'users where email_normalized = $1', [email])).toBe(1);
    expect(await countRows(h.admin, 'organizations where slug like $1', [`${email.split('@')[0]}-%`])).toBe(
      1,
    );
  });

  it('validates the email and the password', async () => {
    const cases = [
      [{ email: 'not-an-email', password: GOOD_PASSWORD }, 'AUTH_EMAIL_INVALID', undefined],
      [{ email: freshEmail(), password: 'short1!' }, 'AUTH_PASSWORD_WEAK', 'too_short'],
      [{ email: freshEmail(), password: 'Password2024!' }, 'AUTH_PASSWORD_WEAK', 'common'],
      [{ email: freshEmail(), password: 'qwertyuiop' }, 'AUTH_PASSWORD_WEAK', 'sequential'],
      [{ email: freshEmail(), password: 'x'.repeat(257) }, 'AUTH_PASSWORD_WEAK', 'too_long'],
      [
        { email: 'someone.long-name@example.com', password: 'Someone.Long-Name' },
        'AUTH_PASSWORD_WEAK',
        'matches_email',
      ],
      [{ email: freshEmail(), password: GOOD_PASSWORD, extra: 1 }, 'VALIDATION_FAILED', undefined],
    ] as const;
    for (const [payload, code, reason] of cases) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/auth/register', payload });
      expect(res.statusCode).toBe(400);
      const err = res.json<{ error: { code: string; details?: { reason?: string } } }>().error;
      expect(err.code).toBe(code);
      if (reason) expect(err.details?.reason).toBe(reason);
    }
  });

  it('refuses a browser request from a foreign origin (no cross-site sign-up)', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      headers: { origin: 'https://evil.example' },
      payload: { email: freshEmail(), password: GOOD_PASSWORD },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'CSRF_ORIGIN_MISMATCH' } });
  });

  it('is one transaction: a failure after the user insert leaves no user, organization, placement or mail', async () => {
    // A trigger makes the membership insert (after the user, organization and placement) fail for this test's users.
    await h.admin
      .query(`create or replace function test_fail_membership() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from users where id = new.user_id and email_normalized like 'fail-after-user-%') then
          raise exception 'simulated failure after the user insert';
        end if;
        return new;
      end $$`);
    await h.admin.query(`create trigger test_fail_membership before insert on memberships
      for each row execute function test_fail_membership()`);
    try {
      const email = freshEmail('fail-after-user');
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/register',
        payload: { email, password: GOOD_PASSWORD },
      });
      expect(res.statusCode).toBe(500);
      expect(sessionCookieOf(res)).toBeUndefined();
      // The membership insert did run (and fail) after the user, organization and placement inserts…
      expect(res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
      // …and none of them, nor the token or the mail job, survived.
      expect(await countRows(h.admin, 'users where email_normalized = $1', [email])).toBe(0);
      const slugs = [`${email.split('@')[0]}-%`];
      expect(await countRows(h.admin, 'organizations where slug like $1', slugs)).toBe(0);
      expect(
        await countRows(
          h.admin,
          'tenant_placements p where not exists (select 1 from organizations o where o.id = p.organization_id)',
        ),
      ).toBe(0);
      expect(await lastMailTo(h.admin, email)).toBeUndefined();
      expect(
        await countRows(
          h.admin,
          'email_tokens t where not exists (select 1 from users u where u.id = t.user_id)',
        ),
      ).toBe(0);
    } finally {
      await h.admin.query('drop trigger test_fail_membership on memberships');
      await h.admin.query('drop function test_fail_membership()');
    }
  });

  it('registerUser without a personal organization composes into a caller transaction (invitations)', async () => {
    const orgId = await createTestOrg(h.tenancy, 'inviter');
    const email = freshEmail('invitee');
    const { user, organization } = await h.tenancy.withTenant(orgId, async (db) => {
      const r = await h.auth.registerUser(
        { email, password: GOOD_PASSWORD },
        { createPersonalOrganization: false, db, emailVerified: true },
      );
      await db
        .insertInto('memberships')
        .values({ organization_id: orgId, user_id: r.user.id, role: 'member', status: 'active' })
        .execute();
      return r;
    });
    expect(organization).toBeNull();
    expect(user.emailVerified).toBe(true);
    expect(await lastMailTo(h.admin, email)).toBeUndefined();
    expect(await countRows(h.admin, 'memberships where user_id = $1', [user.id])).toBe(1);

    // A duplicate sign-up through the invitation path accepts nothing: the caller's transaction rolls back.
    const other = await createTestOrg(h.tenancy, 'inviter2');
    let accepted = false;
    await expect(
      h.tenancy.withTenant(other, async (db) => {
        await h.auth.registerUser(
          { email: email.toUpperCase(), password: GOOD_PASSWORD },
          { createPersonalOrganization: false, db, emailVerified: true },
        );
        accepted = true;
      }),
    ).rejects.toSatisfy((e) => e instanceof AuthError && e.code === 'AUTH_EMAIL_TAKEN');
    expect(accepted).toBe(false);
    expect(await countRows(h.admin, 'memberships where user_id = $1', [user.id])).toBe(1);
  });
});
