import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuedJobs } from '../../../test/support/jobs.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { testDb } from '../../../test/support/tenancy.js';
import { eventually } from '../../../test/support/polling.js';
import { uuidv7 } from '../../platform/ids.js';
import {
  buildAuthHarness,
  clientAddresses,
  countRows,
  oneRow,
  freshEmail,
  GOOD_PASSWORD,
  lastMailTo,
  runPasswordResetJobs,
  ORIGIN,
  PUBLIC_URL,
  sessionCookieOf,
  tokenInMail,
  type AuthHarness,
} from './auth.test-helpers.js';
import { hashToken } from './tokens.js';
import { signUpBrowserCookiePair } from './signup-browser.js';

const NEW_PASSWORD = 'a brand new passphrase';
const cookie = (token: string) => ({ cookie: `sr_session=${token}` });

/** Records the text of every statement run on `pool`'s clients until the returned function is called. */
function captureStatements(pool: pg.Pool, seen: string[]): () => void {
  const connect = pool.connect.bind(pool);
  const patched = (async () => {
    const client = await connect();
    // Kept to be put back and called on the client itself (`.call(client, …)`).
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const query = client.query;
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const release = client.release;
    client.query = ((text: string | { text: string }, ...rest: unknown[]) => {
      seen.push(typeof text === 'string' ? text : text.text);
      return (query as (...a: unknown[]) => unknown).call(client, text, ...rest);
    }) as typeof client.query;
    client.release = (err?: Error | boolean) => {
      client.query = query;
      client.release = release;
      return release.call(client, err);
    };
    return client;
  }) as unknown as typeof pool.connect;
  pool.connect = patched;
  return () => {
    pool.connect = connect;
  };
}

/**
 * A database of its own: the tests run the queued password-reset jobs themselves and list them, and in the
 * suite's database that queue is every file's (other files' apps took these jobs first, and these tests
 * ran and counted theirs).
 */
describe('email verification, password reset and change', () => {
  let own: ProvisionedDatabase;
  let h: AuthHarness;
  /** A fresh client address per test, so the per-address throttle of one test does not touch another. */
  const newIp = clientAddresses(9);
  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_password_reset');
    h = await buildAuthHarness({ database: own });
  });
  afterAll(async () => {
    await h?.close();
    if (own) await dropProvisioned(own);
  });

  /** An unverified account (signed up, link not followed) signed in with its password. */
  async function register() {
    const email = freshEmail('pw');
    const r = await h.auth.registerUser(
      { email, password: GOOD_PASSWORD },
      { createPersonalOrganization: true },
    );
    const token = sessionCookieOf(await login(email, GOOD_PASSWORD))!;
    return {
      email,
      userId: r.user.id,
      orgId: r.organization!.id,
      token,
      verificationToken: r.verificationToken!,
    };
  }
  const login = (email: string, password: string) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      remoteAddress: newIp(),
      payload: { email, password },
    });
  const me = (token: string) => h.app.inject({ url: '/v1/auth/me', headers: cookie(token) });
  const post = (url: string, payload?: object, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'POST', url, payload, headers, remoteAddress: newIp() });

  describe('verify email', () => {
    it('verifies once with the mailed link; reuse, garbage and expiry answer the same 400', async () => {
      const u = await register();
      const token = tokenInMail(await lastMailTo(h.admin, u.email), '/verify-email');
      expect(token).toBe(u.verificationToken);
      expect((await me(u.token)).json()).toMatchObject({ user: { emailVerified: false } });
      // The first verification ends the sessions from before it (this one included) and signs in afresh.
      const verified = await post('/v1/auth/verify-email', { token }, { ...cookie(u.token), ...ORIGIN });
      expect(verified.statusCode).toBe(200);
      expect(verified.json()).toMatchObject({ signedIn: true, twoFactorRequired: false });
      expect((await me(u.token)).statusCode).toBe(401);
      expect((await me(sessionCookieOf(verified)!)).json()).toMatchObject({ user: { emailVerified: true } });

      const reused = await post('/v1/auth/verify-email', { token });
      const garbage = await post('/v1/auth/verify-email', { token: 'x'.repeat(43) });
      const malformed = await post('/v1/auth/verify-email', { token: 'short' });
      expect(reused.statusCode).toBe(400);
      expect(reused.json()).toEqual({
        error: { code: 'AUTH_TOKEN_INVALID', message: 'this link is invalid or has expired' },
      });
      expect(garbage.body).toBe(reused.body);
      expect(malformed.body).toBe(reused.body);

      const v = await register();
      const vToken = tokenInMail(await lastMailTo(h.admin, v.email), '/verify-email');
      await h.admin.query(
        `update email_tokens set expires_at = now() - interval '1 second' where token_hash = $1`,
        [hashToken(vToken)],
      );
      expect((await post('/v1/auth/verify-email', { token: vToken })).body).toBe(reused.body);
    });

    it('verification links last 48 hours; resending replaces the link; verified users get 409', async () => {
      const u = await register();
      const first = tokenInMail(await lastMailTo(h.admin, u.email), '/verify-email');
      const { rows } = await h.admin.query<{ s: number }>(
        `select extract(epoch from expires_at - created_at)::int as s from email_tokens where token_hash = $1`,
        [hashToken(first)],
      );
      expect(Math.abs(rows[0]!.s - 48 * 3600)).toBeLessThan(5);

      const resend = await post('/v1/auth/verify-email/resend', undefined, { ...cookie(u.token), ...ORIGIN });
      expect(resend.statusCode).toBe(202);
      const second = tokenInMail(await lastMailTo(h.admin, u.email), '/verify-email');
      expect(second).not.toBe(first);
      expect((await post('/v1/auth/verify-email', { token: first })).statusCode).toBe(400);
      expect((await post('/v1/auth/verify-email', { token: second })).statusCode).toBe(200);
      const fresh = sessionCookieOf(await login(u.email, GOOD_PASSWORD))!;
      const again = await post('/v1/auth/verify-email/resend', undefined, { ...cookie(fresh), ...ORIGIN });
      expect(again.statusCode).toBe(409);
      expect(again.json()).toMatchObject({ error: { code: 'AUTH_EMAIL_ALREADY_VERIFIED' } });
      const anonymous = await post('/v1/auth/verify-email/resend', undefined, ORIGIN);
      expect(anonymous.statusCode).toBe(401);
    });
  });

  describe('verification resend throttles', () => {
    it('per client address (20 per 15 min) and per account (3 per 15 min), 429 with Retry-After', async () => {
      const ip = '10.99.0.1';
      const resend = (token: string) =>
        h.app.inject({
          method: 'POST',
          url: '/v1/auth/verify-email/resend',
          remoteAddress: ip,
          headers: { ...cookie(token), ...ORIGIN },
        });
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) statuses.push((await resend((await register()).token)).statusCode);
      expect(statuses.slice(0, 20).every((s) => s === 202)).toBe(true);
      expect(statuses[20]).toBe(429);

      // One account from many addresses: 3 per account per 15 min.
      const u = await register();
      const fromAnywhere = () =>
        post('/v1/auth/verify-email/resend', undefined, { ...cookie(u.token), ...ORIGIN });
      for (let i = 0; i < 3; i++) expect((await fromAnywhere()).statusCode).toBe(202);
      const over = await fromAnywhere();
      expect(over.statusCode).toBe(429);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    });
  });

  describe('verification link signs in', () => {
    it('without a session, in the browser that signed up: verifies and signs in like login, in the Personal Organization', async () => {
      const u = await register();
      const res = await post(
        '/v1/auth/verify-email',
        { token: u.verificationToken },
        { cookie: signUpBrowserCookiePair(u.verificationToken), ...ORIGIN },
      );
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        signedIn: true,
        twoFactorRequired: false,
        user: {
          id: u.userId,
          email: u.email,
          name: null,
          emailVerified: true,
          twoFactorEnabled: false,
          isPlatformAdmin: false,
        },
        currentOrganizationId: u.orgId,
      });
      const session = sessionCookieOf(res)!;
      expect(session).not.toBe(u.token);
      expect((await me(session)).json()).toEqual({
        user: {
          id: u.userId,
          email: u.email,
          name: null,
          emailVerified: true,
          twoFactorEnabled: false,
          isPlatformAdmin: false,
        },
        currentOrganizationId: u.orgId,
      });
      // A foreign page cannot make a browser follow it (login CSRF).
      const v = await register();
      const other = await register();
      const foreign = await post(
        '/v1/auth/verify-email',
        { token: v.verificationToken },
        { origin: 'https://evil.example' },
      );
      expect(foreign.statusCode).toBe(403);
      expect(sessionCookieOf(foreign)).toBeUndefined();
      // Nor can someone send their link to another browser (login CSRF through the link): without the
      // sign-up cookie of THIS link (another sign-up's does not do), the address is verified, no session.
      const elsewhere = await post(
        '/v1/auth/verify-email',
        { token: v.verificationToken },
        { cookie: signUpBrowserCookiePair(other.verificationToken), ...ORIGIN },
      );
      expect(elsewhere.json()).toEqual({ signedIn: false, twoFactorRequired: false });
      expect(sessionCookieOf(elsewhere)).toBeUndefined();
      expect(
        await oneRow<{ v: boolean }>(
          h.admin,
          'select email_verified_at is not null as v from users where id = $1',
          [v.userId],
        ),
      ).toEqual({ v: true });
    });

    it('the first verification ends every earlier session (pre-hijack); from the account’s own session it signs in afresh', async () => {
      // An attacker signed up with the victim's address and their own password, and signed in (allowed).
      const u = await register();
      const before = await oneRow<{ at: Date }>(
        h.admin,
        'select credentials_changed_at as at from users where id = $1',
        [u.userId],
      );
      expect((await me(u.token)).statusCode).toBe(200);
      // The victim follows the link from their mailbox (no session, and not the browser that signed up):
      // the address is verified and the attacker's session ends; the victim is not signed in (they set
      // their own password with a reset link).
      const res = await post('/v1/auth/verify-email', { token: u.verificationToken }, ORIGIN);
      expect(res.json()).toEqual({ signedIn: false, twoFactorRequired: false });
      expect(sessionCookieOf(res)).toBeUndefined();
      expect((await me(u.token)).statusCode).toBe(401);
      const after = await oneRow<{ at: Date }>(
        h.admin,
        'select credentials_changed_at as at from users where id = $1',
        [u.userId],
      );
      expect(after.at.getTime()).toBeGreaterThan(before.at.getTime());
      expect(await countRows(h.admin, 'sessions where user_id = $1 and revoked_at is null', [u.userId])).toBe(
        0,
      );

      // Verifying from the account's own (pre-verification) session ends it too and signs in afresh.
      const v = await register();
      const own = await post(
        '/v1/auth/verify-email',
        { token: v.verificationToken },
        { ...cookie(v.token), ...ORIGIN },
      );
      expect(own.json()).toMatchObject({ signedIn: true });
      expect(sessionCookieOf(own)).not.toBe(v.token);
      expect((await me(v.token)).statusCode).toBe(401);
      expect((await me(sessionCookieOf(own)!)).statusCode).toBe(200);
    });

    it('an unverified account can still sign in with its password and resend the link', async () => {
      const u = await register();
      const res = await login(u.email, GOOD_PASSWORD);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ user: { emailVerified: false } });
      const resend = await post('/v1/auth/verify-email/resend', undefined, {
        ...cookie(sessionCookieOf(res)!),
        ...ORIGIN,
      });
      expect(resend.statusCode).toBe(202);
    });
  });

  describe('password reset', () => {
    it('answers 202 alike for known and unknown addresses, and mails only the known one', async () => {
      const u = await register();
      const known = await post('/v1/auth/password-reset', { email: ` ${u.email.toUpperCase()} ` });
      const unknownEmail = freshEmail('nobody');
      const unknown = await post('/v1/auth/password-reset', { email: unknownEmail });
      expect(known.statusCode).toBe(202);
      expect(unknown.statusCode).toBe(202);
      expect(known.body).toBe(unknown.body);
      expect(known.json()).toEqual({ status: 'accepted' });
      await runPasswordResetJobs(h);
      const mail = await lastMailTo(h.admin, u.email);
      expect(mail?.subject).toBe('Reset your password');
      expect(mail?.text).toContain(`${PUBLIC_URL}/reset-password?token=`);
      expect(await lastMailTo(h.admin, unknownEmail)).toBeUndefined();
    });

    it('does the same work in the request for a known and an unknown address: one sealed job, nothing looked up', async () => {
      const u = await register();
      const unknownEmail = freshEmail('nobody');
      await runPasswordResetJobs(h);
      // Every statement a request sends, in order (the parameters left out: they hold the address).
      const statements = async (email: string) => {
        const seen: string[] = [];
        const stop = captureStatements(h.tenancy.control.pool, seen);
        try {
          expect((await post('/v1/auth/password-reset', { email })).statusCode).toBe(202);
        } finally {
          stop();
        }
        return seen;
      };
      const known = await statements(u.email);
      const unknown = await statements(unknownEmail);
      expect(known).toEqual(unknown);
      expect(known.join('\n')).not.toMatch(/users|email_tokens/);
      expect(known.filter((q) => q.includes('app_enqueue_job'))).toHaveLength(1);
      // Both requests queued one job for their address (sealed: the address is not readable in the row).
      const jobs = await queuedJobs(h.admin, 'auth.password-reset');
      expect(jobs.map((j) => (j.payload as { email: string }).email).sort()).toEqual(
        [u.email, unknownEmail].sort(),
      );
      const raw = await h.admin.query<{ payload: unknown }>(
        `select j.payload from graphile_worker._private_jobs j
           join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'auth.password-reset'`,
      );
      expect(JSON.stringify(raw.rows)).not.toContain(unknownEmail);
      // Only the known address gets a mail once the jobs ran (this database's queue: no other worker).
      expect(await runPasswordResetJobs(h)).toBe(2);
      const ours = new Set([u.email, unknownEmail]);
      await eventually(
        async () =>
          (await queuedJobs(h.admin, 'auth.password-reset')).filter((j) =>
            ours.has((j.payload as { email: string }).email),
          ),
        (left) => left.length === 0,
      );
      const mail = await eventually(
        () => lastMailTo(h.admin, u.email),
        (m) => m !== undefined,
      );
      expect(mail?.subject).toBe('Reset your password');
      expect(await lastMailTo(h.admin, unknownEmail)).toBeUndefined();
    });

    it('resets with a single-use, one-hour link and revokes every session and refresh token', async () => {
      const u = await register();
      const second = sessionCookieOf(await login(u.email, GOOD_PASSWORD))!;
      await h.admin.query(
        `insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at)
          values ($1, $1, $2, $3, now() + interval '30 days')`,
        [uuidv7(), u.userId, hashToken(`refresh-${u.userId}`)],
      );
      const before = await oneRow<{ credentials_changed_at: Date }>(
        h.admin,
        'select credentials_changed_at from users where id = $1',
        [u.userId],
      );

      expect((await post('/v1/auth/password-reset', { email: u.email })).statusCode).toBe(202);
      await runPasswordResetJobs(h);
      const token = tokenInMail(await lastMailTo(h.admin, u.email), '/reset-password');
      const { rows: ttl } = await h.admin.query<{ s: number }>(
        `select extract(epoch from expires_at - created_at)::int as s from email_tokens where token_hash = $1`,
        [hashToken(token)],
      );
      expect(Math.abs(ttl[0]!.s - 3600)).toBeLessThan(5);

      // A refused password does not use up the link.
      const weak = await post('/v1/auth/password-reset/confirm', { token, password: 'password123' });
      expect(weak.statusCode).toBe(400);
      expect(weak.json()).toMatchObject({ error: { code: 'AUTH_PASSWORD_WEAK' } });
      // (this one is refused inside the transaction that consumed the token, which rolls back)
      const local = await post('/v1/auth/password-reset/confirm', { token, password: u.email.split('@')[0] });
      expect(local.json()).toMatchObject({
        error: { code: 'AUTH_PASSWORD_WEAK', details: { reason: 'matches_email' } },
      });
      expect((await me(u.token)).statusCode).toBe(200);

      const ok = await post('/v1/auth/password-reset/confirm', { token, password: NEW_PASSWORD });
      expect(ok.statusCode).toBe(204);
      expect((await me(u.token)).statusCode).toBe(401);
      expect((await me(second)).statusCode).toBe(401);
      expect(await countRows(h.admin, 'sessions where user_id = $1 and revoked_at is null', [u.userId])).toBe(
        0,
      );
      expect(
        await countRows(h.admin, 'refresh_tokens where user_id = $1 and revoked_at is null', [u.userId]),
      ).toBe(0);
      expect(await countRows(h.admin, 'refresh_tokens where user_id = $1', [u.userId])).toBe(1);
      const after = await oneRow<{ credentials_changed_at: Date; email_verified_at: Date | null }>(
        h.admin,
        'select credentials_changed_at, email_verified_at from users where id = $1',
        [u.userId],
      );
      expect(after.credentials_changed_at.getTime()).toBeGreaterThan(before.credentials_changed_at.getTime());
      expect(after.email_verified_at).not.toBeNull();

      const reused = await post('/v1/auth/password-reset/confirm', {
        token,
        password: 'yet another passphrase',
      });
      expect(reused.statusCode).toBe(400);
      expect(reused.json()).toMatchObject({ error: { code: 'AUTH_TOKEN_INVALID' } });
      expect((await login(u.email, GOOD_PASSWORD)).statusCode).toBe(401);
      expect((await login(u.email, NEW_PASSWORD)).statusCode).toBe(200);
    });

    it('an expired link, and an older link after a newer one, are refused', async () => {
      const u = await register();
      await post('/v1/auth/password-reset', { email: u.email });
      await runPasswordResetJobs(h);
      const older = tokenInMail(await lastMailTo(h.admin, u.email), '/reset-password');
      await post('/v1/auth/password-reset', { email: u.email });
      await runPasswordResetJobs(h);
      const newer = tokenInMail(await lastMailTo(h.admin, u.email), '/reset-password');
      expect(newer).not.toBe(older);
      expect(
        (await post('/v1/auth/password-reset/confirm', { token: older, password: NEW_PASSWORD })).statusCode,
      ).toBe(400);
      await h.admin.query(
        `update email_tokens set expires_at = now() - interval '1 second' where token_hash = $1`,
        [hashToken(newer)],
      );
      const expired = await post('/v1/auth/password-reset/confirm', { token: newer, password: NEW_PASSWORD });
      expect(expired.statusCode).toBe(400);
      expect(expired.json()).toMatchObject({ error: { code: 'AUTH_TOKEN_INVALID' } });
      expect((await me(u.token)).statusCode).toBe(200);
    });

    it('sign-up attempts at an address spend their own budget, not its reset or verification mails', async () => {
      const u = await register();
      const signUps = [];
      for (let i = 0; i < 6; i++) {
        signUps.push(
          (await post('/v1/auth/register', { email: u.email, password: GOOD_PASSWORD })).statusCode,
        );
      }
      expect(signUps).toEqual([202, 202, 202, 202, 202, 429]);
      const resend = await post('/v1/auth/verify-email/resend', undefined, { ...cookie(u.token), ...ORIGIN });
      expect(resend.statusCode).toBe(202);
      expect((await post('/v1/auth/password-reset', { email: u.email })).statusCode).toBe(202);
      await runPasswordResetJobs(h);
      expect((await lastMailTo(h.admin, u.email))?.subject).toBe('Reset your password');
    });

    it('mails at most 3 links per address per window, silently', async () => {
      const u = await register();
      const tokens: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await post('/v1/auth/password-reset', { email: u.email });
        expect(res.statusCode).toBe(202);
        await runPasswordResetJobs(h);
        tokens.push(tokenInMail(await lastMailTo(h.admin, u.email), '/reset-password'));
      }
      expect(new Set(tokens.slice(0, 3)).size).toBe(3);
      expect(tokens[3]).toBe(tokens[2]);
    });
  });

  describe('password change', () => {
    it('needs the current password, rotates this session and revokes the others', async () => {
      const u = await register();
      const other = sessionCookieOf(await login(u.email, GOOD_PASSWORD))!;
      const change = (body: object, headers: Record<string, string> = ORIGIN) =>
        h.app.inject({
          method: 'POST',
          url: '/v1/auth/password',
          headers: { ...cookie(u.token), ...headers },
          payload: body,
        });

      const csrf = await change({ currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD }, {});
      expect(csrf.statusCode).toBe(403);
      const wrong = await change({ currentPassword: 'not my password', newPassword: NEW_PASSWORD });
      expect(wrong.statusCode).toBe(403);
      expect(wrong.json()).toMatchObject({ error: { code: 'AUTH_PASSWORD_INCORRECT' } });
      const weak = await change({ currentPassword: GOOD_PASSWORD, newPassword: '1234567890' });
      expect(weak.json()).toMatchObject({
        error: { code: 'AUTH_PASSWORD_WEAK', details: { reason: 'sequential' } },
      });

      const ok = await change({ currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD });
      expect(ok.statusCode).toBe(204);
      const rotated = sessionCookieOf(ok)!;
      expect(rotated).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(rotated).not.toBe(u.token);
      expect((await me(u.token)).statusCode).toBe(401);
      expect((await me(other)).statusCode).toBe(401);
      expect((await me(rotated)).statusCode).toBe(200);
      expect((await login(u.email, GOOD_PASSWORD)).statusCode).toBe(401);
      expect((await login(u.email, NEW_PASSWORD)).statusCode).toBe(200);
    });

    it('refuses the current password as the new one (400 AUTH_PASSWORD_UNCHANGED), changing nothing', async () => {
      const u = await register();
      const other = sessionCookieOf(await login(u.email, GOOD_PASSWORD))!;
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/password',
        headers: { ...cookie(u.token), ...ORIGIN },
        payload: { currentPassword: GOOD_PASSWORD, newPassword: GOOD_PASSWORD },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: {
          code: 'AUTH_PASSWORD_UNCHANGED',
          message: 'the new password must differ from the current one',
        },
      });
      expect((await me(u.token)).statusCode).toBe(200);
      expect((await me(other)).statusCode).toBe(200);
      // The hasher NFKC-normalizes: a fullwidth spelling of the current password is the same password.
      const fullwidth = GOOD_PASSWORD.replace(/[a-z]/g, (c) =>
        String.fromCodePoint(c.charCodeAt(0) + 0xfee0),
      );
      expect(fullwidth).not.toBe(GOOD_PASSWORD);
      const variant = await h.app.inject({
        method: 'POST',
        url: '/v1/auth/password',
        headers: { ...cookie(u.token), ...ORIGIN },
        payload: { currentPassword: GOOD_PASSWORD, newPassword: fullwidth },
      });
      expect(variant.statusCode).toBe(400);
      expect(variant.json()).toMatchObject({ error: { code: 'AUTH_PASSWORD_UNCHANGED' } });
      expect((await me(other)).statusCode).toBe(200);
    });

    it("wrong current passwords count against the signed-in user's own budget (5 per 15 min)", async () => {
      const u = await register();
      const change = () =>
        h.app.inject({
          method: 'POST',
          url: '/v1/auth/password',
          headers: { ...cookie(u.token), ...ORIGIN },
          payload: { currentPassword: 'guessing wrong', newPassword: NEW_PASSWORD },
        });
      for (let i = 0; i < 5; i++) expect((await change()).statusCode).toBe(403);
      const blocked = await change();
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    });
  });
});
