import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { AuthError } from './auth.errors.js';
import {
  buildAuthHarness,
  countRows,
  oneRow,
  freshEmail,
  GOOD_PASSWORD,
  lastMailTo,
  PUBLIC_URL,
  sessionCookieOf,
  tokenInMail,
  type AuthHarness,
} from './auth.test-helpers.js';
import { sealAudit } from '../../../test/support/audit.js';
import { notOnCitus } from '../../../test/support/citus.js';

describe('POST /v1/auth/register', () => {
  let h: AuthHarness;
  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  /** A fresh client address per call, so the per-address sign-up throttle of one test touches no other. */
  let ipSeq = 1;
  const newIp = () => `10.7.${Math.floor(ipSeq / 250)}.${(ipSeq++ % 250) + 1}`;
  const register = (payload: Record<string, unknown>, opts: { ip?: string } = {}) =>
    h.app.inject({ method: 'POST', url: '/v1/auth/register', remoteAddress: opts.ip ?? newIp(), payload });
  const userOf = (email: string) =>
    oneRow<{ id: string; last_organization_id: string; password_hash: string; email_normalized: string }>(
      h.admin,
      'select id, last_organization_id, password_hash, email_normalized from users where email_normalized = $1',
      [email.toLowerCase()],
    );

  it('creates the user, a personal organization owned by them and a verification mail; answers 202 and sets no session', async () => {
    const email = freshEmail('reg');
    const res = await register({ email: `  ${email.toUpperCase()} `, password: GOOD_PASSWORD, name: 'Ada' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'verification_sent' });
    expect(sessionCookieOf(res)).toBeUndefined();
    // Only the sign-up cookie, which binds the verification link's sign-in to this browser.
    const signUpCookie = String([res.headers['set-cookie']].flat()[0]);
    expect(signUpCookie).toMatch(
      /^sr_signup=[A-Za-z0-9_-]{43}; Max-Age=172800; Path=\/v1\/auth\/verify-email; HttpOnly; Secure; SameSite=Lax$/,
    );

    const user = await userOf(email);
    expect(user.email_normalized).toBe(email);
    expect(user.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const organization = await oneRow<{ id: string; slug: string; name: string; personal: boolean }>(
      h.admin,
      'select id, slug, name, personal from organizations where id = $1',
      [user.last_organization_id],
    );
    expect(organization).toMatchObject({ name: "Ada's organization", personal: true });
    expect(organization.slug).toMatch(/^reg-[0-9a-f]{12}-[0-9a-f]{8}$/);
    const { rows: members } = await h.admin.query(
      'select role, status from memberships where organization_id = $1 and user_id = $2',
      [organization.id, user.id],
    );
    expect(members).toEqual([{ role: 'owner', status: 'active' }]);
    const { rows: placements } = await h.admin.query(
      'select kind from tenant_placements where organization_id = $1',
      [organization.id],
    );
    expect(placements).toEqual([{ kind: 'pooled' }]);
    // The organization's audit chain starts with its creation, by the new user, in the same transaction.
    await sealAudit(h.tenancy.withTenant, organization.id);
    const { rows: audit } = await h.admin.query(
      `select seq::int, action, actor_type, actor_id, target_type, target_id, ip, metadata, e::text as row
         from audit_events e where organization_id = $1 order by seq`,
      [organization.id],
    );
    expect(audit).toMatchObject([
      {
        seq: 1,
        action: 'organization.created',
        actor_type: 'user',
        actor_id: user.id,
        target_type: 'organization',
        target_id: organization.id,
        metadata: { personal: true, owner: user.id, slug: organization.slug },
      },
    ]);
    expect((audit[0] as { ip: string | null }).ip).toBeTruthy();
    expect((audit[0] as { row: string }).row).not.toContain(GOOD_PASSWORD);

    const mail = await lastMailTo(h.admin, email.toUpperCase());
    expect(mail?.subject).toBe('Verify your email address');
    expect(mail?.html).toContain('/verify-email?token=');
    const token = tokenInMail(mail, '/verify-email');

    // Following the link signs the new user in, in their Personal Organization.
    const verified = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/verify-email',
      payload: { token },
      headers: { cookie: signUpCookie.split(';')[0]! },
    });
    expect(verified.statusCode).toBe(200);
    const cookie = sessionCookieOf(verified);
    expect(cookie).toBeTruthy();
    const me = await h.app.inject({ url: '/v1/auth/me', headers: { cookie: `sr_session=${cookie}` } });
    expect(me.json()).toEqual({
      user: {
        id: user.id,
        email: email.toUpperCase(),
        name: null,
        emailVerified: true,
        twoFactorEnabled: false,
        isPlatformAdmin: false,
      },
      currentOrganizationId: organization.id,
    });
  });

  it('names the organization after the local part when no name is given', async () => {
    const email = freshEmail('noname');
    expect((await register({ email, password: GOOD_PASSWORD })).statusCode).toBe(202);
    const org = await oneRow<{ name: string }>(
      h.admin,
      'select o.name from organizations o join users u on u.last_organization_id = o.id where u.email_normalized = $1',
      [email],
    );
    expect(org.name).toBe(`${email.split('@')[0]}'s organization`);
  });

  it('answers an existing email (any case) exactly like a new one, writes nothing, and mails its owner', async () => {
    const email = freshEmail('dup');
    const first = await register({ email, password: GOOD_PASSWORD });
    expect(first.statusCode).toBe(202);
    const owner = await userOf(email);
    const orgsOf = () => countRows(h.admin, 'organizations where slug like $1', [`${email.split('@')[0]}-%`]);
    expect(await orgsOf()).toBe(1);

    const again = await register({ email: ` ${email.toUpperCase()}`, password: 'another fine password' });
    const fresh = await register({ email: freshEmail('dupnew'), password: 'another fine password' });
    expect(again.statusCode).toBe(202);
    expect(again.body).toBe(fresh.body);
    // The same sign-up cookie shape (a random value: a taken address has no link to bind), no session.
    const shape = (r: typeof again) =>
      String(r.headers['set-cookie']).replace(/^sr_signup=[A-Za-z0-9_-]{43};/, 'v;');
    expect(shape(again)).toBe(shape(fresh));
    expect(shape(again)).toMatch(/^v; /);
    expect(await orgsOf()).toBe(1);
    expect(await countRows(h.admin, 'users where email_normalized = $1', [email])).toBe(1);
    expect(await countRows(h.admin, "users where email_normalized like 'rehearsal-%'")).toBe(0);
    const password = await userOf(email);
    expect(password.password_hash).toBe(owner.password_hash);
    const mail = await lastMailTo(h.admin, email);
    expect(mail?.subject).toBe('You already have an account');
    expect(mail?.text).toContain(`${PUBLIC_URL}/login`);
    expect(mail?.text).toContain(`${PUBLIC_URL}/reset-password`);
    expect(mail?.text).not.toMatch(/token=/);
  });

  it('hashes the password for an existing address too (similar time either way)', async () => {
    const email = freshEmail('timing');
    await register({ email, password: GOOD_PASSWORD });
    const time = async (e: string) => {
      const t0 = performance.now();
      await register({ email: e, password: GOOD_PASSWORD });
      return performance.now() - t0;
    };
    const existing: number[] = [];
    const created: number[] = [];
    for (let i = 0; i < 3; i++) {
      existing.push(await time(email));
      created.push(await time(freshEmail('timing-new')));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
    // Both paths hash the password and make the same writes (a taken address's are rolled back).
    expect(median(existing)).toBeGreaterThan(median(created) * 0.6);
  });

  it('concurrent sign-ups with one email: one account, the same answer to all', async () => {
    const email = freshEmail('race');
    const results = await Promise.all(
      [email, email.toUpperCase(), ` ${email}`].map((e) => register({ email: e, password: GOOD_PASSWORD })),
    );
    expect(results.map((r) => r.statusCode)).toEqual([202, 202, 202]);
    expect(await countRows(h.admin, 'users where email_normalized = $1', [email])).toBe(1);
    expect(await countRows(h.admin, 'organizations where slug like $1', [`${email.split('@')[0]}-%`])).toBe(
      1,
    );
  });

  it('throttles sign-ups per client address: 20 an hour, then 429 with Retry-After', async () => {
    const ip = newIp();
    for (let i = 0; i < 20; i++) {
      const res = await register({ email: freshEmail('flood'), password: GOOD_PASSWORD }, { ip });
      expect(res.statusCode).toBe(202);
    }
    const over = await register({ email: freshEmail('flood'), password: GOOD_PASSWORD }, { ip });
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(3500);
    expect((await register({ email: freshEmail('other'), password: GOOD_PASSWORD })).statusCode).toBe(202);
  });

  it('throttles sign-ups per IPv6 /64, not per address: rotating inside one /64 does not dodge it', async () => {
    const net = `2001:db8:${(ipSeq++).toString(16)}:2`;
    for (let i = 0; i < 20; i++) {
      const ip = `${net}:${(i + 1).toString(16)}::1`;
      expect((await register({ email: freshEmail('v6'), password: GOOD_PASSWORD }, { ip })).statusCode).toBe(
        202,
      );
    }
    const over = await register({ email: freshEmail('v6'), password: GOOD_PASSWORD }, { ip: `${net}::ffff` });
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
  });

  it('throttles the mails to one address: 5 an hour, whether or not it has an account', async () => {
    for (const email of [freshEmail('target'), freshEmail('target-new')]) {
      const answers = [];
      for (let i = 0; i < 6; i++)
        answers.push((await register({ email, password: GOOD_PASSWORD })).statusCode);
      expect(answers).toEqual([202, 202, 202, 202, 202, 429]);
    }
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
      const res = await register(payload);
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

/**
 * A database of its own: the failure is a trigger added to memberships (CREATE TRIGGER, then DROP TRIGGER:
 * locks every other file's membership reads and writes queued behind, and deadlocked with them), and the
 * checks count orphans over whole tables.
 */
describe('POST /v1/auth/register: one transaction', () => {
  let own: ProvisionedDatabase;
  let h: AuthHarness;
  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_register_tx');
    h = await buildAuthHarness({ database: own });
  });
  afterAll(async () => {
    await h?.close();
    if (own) await dropProvisioned(own);
  });

  const register = (payload: Record<string, unknown>) =>
    h.app.inject({ method: 'POST', url: '/v1/auth/register', remoteAddress: '10.7.200.1', payload });

  it('is one transaction: a failure after the user insert leaves no user, organization, placement or mail', async (ctx) => {
    await notOnCitus(
      ctx,
      'adds a trigger to memberships to fail its insert: Citus refuses triggers on distributed tables',
    );
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
      const res = await register({ email, password: GOOD_PASSWORD });
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
});
