import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator, type LogLines } from '../../../test/support/app.js';
import type { Composition } from '../../app/compose.js';
import type { Permission } from '../../platform/authz/permissions.js';
import { uuidv7 } from '../../platform/ids.js';
import { freshEmail, invitationFixtures, type InvitationFixtures } from './invitations.test-support.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const password = () => `Pw-${randomBytes(12).toString('base64url')}-inv`;

describe('invitations routes over HTTP (test authenticator carrying real user ids)', () => {
  let c: Composition & { logs: LogLines };
  let fx: InvitationFixtures;
  let issue: ReturnType<typeof createTestAuthenticator>['issue'];
  let org: string;
  let owner: string;

  beforeAll(async () => {
    const auth = createTestAuthenticator();
    issue = auth.issue;
    c = await buildTestApp({ authenticator: auth.authenticator });
    fx = await invitationFixtures(c.tenancy);
    const o = await fx.orgWithMember('owner', 'http');
    org = o.orgId;
    owner = issue(org, { userId: o.userId });
    // Many invitations in one organization: on a plan without a seat limit (src/modules/plans/seats.ts).
    await c.tenancy.withTenant(org, (db) =>
      db.updateTable('organizations').set({ plan: 'enterprise' }).where('id', '=', org).execute(),
    );
  });
  afterAll(async () => {
    await fx.close();
    await c.app.close();
    await c.close();
  });

  const post = (url: string, token: string | null, payload: object = {}) =>
    c.app.inject({ method: 'POST', url, payload, headers: token ? bearer(token) : {} });

  it('invite 201 (no token in the body), list 200, resend 200, revoke 204 then 404', async () => {
    const email = freshEmail('http');
    const created = await post('/v1/invitations', owner, { email: email.toUpperCase(), role: 'member' });
    expect(created.statusCode, created.body).toBe(201);
    const inv = created.json<{ id: string; email: string; role: string; status: string }>();
    expect(inv).toMatchObject({ email, role: 'member', status: 'pending' });
    expect(Object.keys(inv).sort()).toEqual(['createdAt', 'email', 'expiresAt', 'id', 'role', 'status']);
    const token = await fx.nextToken(email);
    expect(created.body).not.toContain(token);

    const list = await c.app.inject({ url: '/v1/invitations?limit=1', headers: bearer(owner) });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ data: [{ id: inv.id }] });

    const resent = await post(`/v1/invitations/${inv.id}/resend`, owner);
    expect(resent.statusCode, resent.body).toBe(200);
    expect(resent.json()).toMatchObject({ id: inv.id, status: 'pending' });
    expect(await fx.nextToken(email, [token])).not.toBe(token);

    const del = () =>
      c.app.inject({ method: 'DELETE', url: `/v1/invitations/${inv.id}`, headers: bearer(owner) });
    const revoked = await del();
    expect(revoked.statusCode).toBe(204);
    expect(revoked.body).toBe('');
    const again = await del();
    expect(again.statusCode).toBe(404);
    expect(again.json()).toEqual({
      error: { code: 'INVITATION_NOT_FOUND', message: 'invitation not found' },
    });
  });

  it('validates input and names the field', async () => {
    const cases: [string, object, string][] = [
      ['/v1/invitations', { email: 'not-an-email', role: 'member' }, 'body.email'],
      ['/v1/invitations', { email: `${'a'.repeat(250)}@x.test`, role: 'member' }, 'body.email'],
      ['/v1/invitations', { email: freshEmail() }, 'body.role'],
      ['/v1/invitations', { email: freshEmail(), role: '' }, 'body.role'],
      ['/v1/invitations', { email: freshEmail(), role: 'member', admin: true }, 'body.admin'],
      ['/v1/invitations/accept', { token: 'short' }, 'body.token'],
      ['/v1/invitations/accept-new', { token: 'x'.repeat(43) }, 'body.password'],
      [
        '/v1/invitations/accept-new',
        { token: 'x'.repeat(43), password: password(), email: 'a@b.test' },
        'body.email',
      ],
    ];
    const user = issue(null, { userId: (await fx.user()).id, sessionId: uuidv7() });
    for (const [url, payload, field] of cases) {
      const res = await post(url, url === '/v1/invitations' ? owner : user, payload);
      expect({ url, payload, status: res.statusCode }).toEqual({ url, payload, status: 400 });
      const body = res.json<{ error: { code: string; message: string } }>();
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.message.startsWith(field)).toBe(true);
    }
    const badLimit = await c.app.inject({ url: '/v1/invitations?limit=0', headers: bearer(owner) });
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json<{ error: { message: string } }>().error.message).toMatch(/^querystring\.limit/);
    const badCursor = await c.app.inject({ url: '/v1/invitations?cursor=zzz', headers: bearer(owner) });
    expect(badCursor.json()).toMatchObject({ error: { code: 'INVALID_CURSOR' } });
    // Service-level refusals keep their codes over HTTP.
    const unknownRole = await post('/v1/invitations', owner, { email: freshEmail(), role: 'wizard' });
    expect(unknownRole.statusCode).toBe(400);
    expect(unknownRole.json()).toMatchObject({ error: { code: 'INVITATION_ROLE_UNKNOWN' } });
  });

  it('members:invite is required on every tenant route; no principal is 401', async () => {
    const viewer = await fx.member(org, { role: 'viewer' });
    const perms = new Set<Permission>(['org:read', 'members:read', 'projects:read']);
    const weak = issue(org, { userId: viewer, role: 'viewer', permissions: perms });
    const id = uuidv7();
    const routes = [
      ['POST', '/v1/invitations', { email: freshEmail(), role: 'viewer' }],
      ['GET', '/v1/invitations', undefined],
      ['DELETE', `/v1/invitations/${id}`, undefined],
      ['POST', `/v1/invitations/${id}/resend`, {}],
    ] as const;
    for (const [method, url, payload] of routes) {
      const res = await c.app.inject({ method, url, payload, headers: bearer(weak) });
      expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 403 });
      expect(res.json()).toEqual({
        error: { code: 'FORBIDDEN', message: 'missing permission members:invite' },
      });
      const anon = await c.app.inject({ method, url, payload });
      expect(anon.statusCode).toBe(401);
    }
    const acceptAnon = await post('/v1/invitations/accept', null, { token: 'x'.repeat(43) });
    expect(acceptAnon.statusCode).toBe(401);
    // Register-and-accept is public: the token is the credential (an unknown one is 404).
    const acceptNew = await post('/v1/invitations/accept-new', null, {
      token: 'x'.repeat(43),
      password: password(),
    });
    expect(acceptNew.statusCode).toBe(404);
    expect(acceptNew.json()).toMatchObject({ error: { code: 'INVITATION_NOT_FOUND' } });
  });

  it('the hourly limit answers 429 with Retry-After', async () => {
    const o = await fx.orgWithMember('owner', 'http-limit');
    // 50 invitation mails this hour (first sends and resends count alike).
    await fx.admin.query(
      `insert into invitation_sends (organization_id, id, invitation_id, email_normalized)
       select $1::uuid, gen_random_uuid(), gen_random_uuid(), 'bulk-' || g || '@example.test'
         from generate_series(1, 50) g`,
      [o.orgId],
    );
    const res = await post('/v1/invitations', issue(o.orgId, { userId: o.userId }), {
      email: freshEmail(),
      role: 'viewer',
    });
    expect(res.statusCode).toBe(429);
    const body = res.json<{ error: { code: string; details: { retryAfterSeconds: number } } }>();
    expect(body.error.code).toBe('INVITATION_RATE_LIMITED');
    expect(res.headers['retry-after']).toBe(String(body.error.details.retryAfterSeconds));
  });

  it('an unverified user may neither invite nor resend: 403 EMAIL_NOT_VERIFIED, no mail', async () => {
    const o = await fx.orgWithMember('owner', 'unverified');
    const verified = issue(o.orgId, { userId: o.userId });
    const unverified = issue(o.orgId, { userId: o.userId, emailVerified: false });
    const email = freshEmail('gate');
    const refused = await post('/v1/invitations', unverified, { email, role: 'viewer' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: { code: 'EMAIL_NOT_VERIFIED' } });
    const inv = (await post('/v1/invitations', verified, { email, role: 'viewer' })).json<{ id: string }>();
    const resend = await post(`/v1/invitations/${inv.id}/resend`, unverified, {});
    expect(resend.statusCode).toBe(403);
    expect(resend.json()).toMatchObject({ error: { code: 'EMAIL_NOT_VERIFIED' } });
    const { rows } = await fx.admin.query<{ n: number }>(
      'select count(*)::int as n from invitation_sends where organization_id = $1',
      [o.orgId],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('accept: the signed-in invited user 200; another address 403; revoked 410', async () => {
    const u = await fx.user();
    const inv = (await post('/v1/invitations', owner, { email: u.email, role: 'viewer' })).json<{
      id: string;
    }>();
    const token = await fx.nextToken(u.email);

    const other = issue(null, { userId: (await fx.user()).id, sessionId: uuidv7() });
    const viaToken = await post('/v1/invitations/accept', issue(null, { userId: (await fx.user()).id }), {
      token,
    });
    expect(viaToken.statusCode).toBe(403); // an API-token principal cannot join organizations
    const mismatch = await post('/v1/invitations/accept', other, { token });
    expect(mismatch.statusCode).toBe(403);
    expect(mismatch.json()).toMatchObject({
      error: { code: 'INVITATION_EMAIL_MISMATCH', details: { invitedEmail: u.email } },
    });

    const accepted = await post(
      '/v1/invitations/accept',
      issue(null, { userId: u.id, sessionId: uuidv7() }),
      { token },
    );
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toEqual({ organizationId: org, role: 'viewer' });
    expect(await fx.membership(org, u.id)).toMatchObject({ status: 'active', role: 'viewer' });
    expect((await post(`/v1/invitations/${inv.id}/resend`, owner)).statusCode).toBe(404);

    const v = await fx.user();
    const inv2 = (await post('/v1/invitations', owner, { email: v.email, role: 'viewer' })).json<{
      id: string;
    }>();
    const token2 = await fx.nextToken(v.email);
    await c.app.inject({ method: 'DELETE', url: `/v1/invitations/${inv2.id}`, headers: bearer(owner) });
    const gone = await post('/v1/invitations/accept', issue(null, { userId: v.id, sessionId: uuidv7() }), {
      token: token2,
    });
    expect(gone.statusCode).toBe(410);
    expect(gone.json()).toMatchObject({ error: { code: 'INVITATION_REVOKED' } });
  });

  it('accept-new is throttled per client address like sign-up: 20 an hour, then 429 with Retry-After', async () => {
    const attempt = () =>
      c.app.inject({
        method: 'POST',
        url: '/v1/invitations/accept-new',
        remoteAddress: '10.66.0.1',
        payload: { token: 'x'.repeat(43), password: 'a long enough passphrase' },
      });
    for (let i = 0; i < 20; i++) expect((await attempt()).statusCode).not.toBe(429);
    const over = await attempt();
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(3500);
  });

  it('accept-new: 201 with a session cookie; a weak password creates nobody; a second time is 409', async () => {
    const email = freshEmail('newbie');
    expect((await post('/v1/invitations', owner, { email, role: 'member' })).statusCode).toBe(201);
    const token = await fx.nextToken(email);

    const weak = await post('/v1/invitations/accept-new', null, { token, password: 'abc' });
    expect(weak.statusCode).toBe(400);
    expect(weak.json()).toMatchObject({ error: { code: 'AUTH_PASSWORD_WEAK' } });
    expect(weak.headers['set-cookie']).toBeUndefined();
    expect(await fx.usersWithEmail(email)).toBe(0);

    const res = await post('/v1/invitations/accept-new', null, { token, password: password() });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ organizationId: org, role: 'member' });
    expect(String(res.headers['set-cookie'])).toMatch(/sr_session=/);
    expect(await fx.usersWithEmail(email)).toBe(1);

    const again = await post('/v1/invitations/accept-new', null, { token, password: password() });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'INVITATION_ALREADY_ACCEPTED' } });
    expect(again.headers['set-cookie']).toBeUndefined();
  });

  it('accept-new refuses a browser request from a foreign origin (it sets a session cookie): 403, nobody created', async () => {
    const email = freshEmail('xsite');
    expect((await post('/v1/invitations', owner, { email, role: 'member' })).statusCode).toBe(201);
    const token = await fx.nextToken(email);
    const res = await c.app.inject({
      method: 'POST',
      url: '/v1/invitations/accept-new',
      headers: { origin: 'https://evil.example' },
      payload: { token, password: password() },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'CSRF_ORIGIN_MISMATCH' } });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await fx.usersWithEmail(email)).toBe(0);
  });

  const lookup = (token: string, remoteAddress = '127.0.0.1') =>
    c.app.inject({
      url: `/v1/invitations/lookup?token=${encodeURIComponent(token)}`,
      remoteAddress,
    });

  it('lookup (public): organization, invited address, role, expiry and status; never the token, nor in logs', async () => {
    const email = freshEmail('peek');
    const inv = (await post('/v1/invitations', owner, { email, role: 'viewer' })).json<{
      id: string;
      expiresAt: string;
    }>();
    const token = await fx.nextToken(email);
    const res = await lookup(token);
    expect(res.statusCode, res.body).toBe(200);
    const orgName = (
      await fx.admin.query<{ name: string }>('select name from organizations where id = $1', [org])
    ).rows[0]!.name;
    expect(res.json()).toEqual({
      organizationName: orgName,
      email,
      role: 'viewer',
      expiresAt: inv.expiresAt,
      status: 'pending',
    });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).not.toContain(token);

    // Expired (still pending in the table), then revoked.
    await fx.expire(org, inv.id);
    expect((await lookup(token)).json()).toMatchObject({ status: 'expired' });
    await c.app.inject({ method: 'DELETE', url: `/v1/invitations/${inv.id}`, headers: bearer(owner) });
    expect((await lookup(token)).json()).toMatchObject({ status: 'revoked', email });

    // Accepted.
    const email2 = freshEmail('peek2');
    await post('/v1/invitations', owner, { email: email2, role: 'member' });
    const token2 = await fx.nextToken(email2);
    expect(
      (await post('/v1/invitations/accept-new', null, { token: token2, password: password() })).statusCode,
    ).toBe(201);
    expect((await lookup(token2)).json()).toMatchObject({ status: 'accepted', role: 'member' });

    // A resend replaces the token: the old one is unknown (404, the body of any unknown token).
    const email3 = freshEmail('peek3');
    const inv3 = (await post('/v1/invitations', owner, { email: email3, role: 'viewer' })).json<{
      id: string;
    }>();
    const old = await fx.nextToken(email3);
    await post(`/v1/invitations/${inv3.id}/resend`, owner);
    const fresh = await fx.nextToken(email3, [old]);
    const stale = await lookup(old);
    expect(stale.statusCode).toBe(404);
    expect(stale.json()).toEqual({
      error: { code: 'INVITATION_NOT_FOUND', message: 'invitation not found' },
    });
    expect((await lookup('x'.repeat(43))).json()).toEqual(stale.json());
    expect((await lookup(fresh)).statusCode).toBe(200);

    // Validation names the query field; the token never reaches a log line.
    const short = await lookup('short');
    expect(short.statusCode).toBe(400);
    expect(short.json<{ error: { message: string } }>().error.message).toMatch(/^querystring\.token/);
    const missing = await c.app.inject({ url: '/v1/invitations/lookup' });
    expect(missing.statusCode).toBe(400);
    const logged = JSON.stringify(c.logs);
    for (const t of [token, token2, old, fresh]) expect(logged).not.toContain(t);
  });

  it('lookup is throttled per client address: 20 unknown tokens per 15 minutes, then 429; found ones neither count nor wait', async () => {
    const email = freshEmail('peek-throttle');
    await post('/v1/invitations', owner, { email, role: 'viewer' });
    const token = await fx.nextToken(email);
    // Found tokens give their attempt back.
    for (let i = 0; i < 25; i++) expect((await lookup(token, '10.77.0.1')).statusCode).toBe(200);
    for (let i = 0; i < 20; i++)
      expect((await lookup(`${'u'.repeat(40)}${i}`, '10.77.0.1')).statusCode).toBe(404);
    const over = await lookup('v'.repeat(43), '10.77.0.1');
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(800);
    // Once throttled, unknown tokens from that address wait; a valid one is never refused (misses by
    // others behind the same address must not lock anyone out of their invitation).
    expect((await lookup('w'.repeat(43), '10.77.0.1')).statusCode).toBe(429);
    expect((await lookup(token, '10.77.0.1')).statusCode).toBe(200);
    expect((await lookup('x'.repeat(43), '10.77.0.2')).statusCode).toBe(404);
  });

  it('another tenant’s invitation answers 404 with the body of a missing one', async () => {
    const b = await fx.orgWithMember('owner', 'http-b');
    const tokenB = issue(b.orgId, { userId: b.userId });
    const inv = (await post('/v1/invitations', owner, { email: freshEmail(), role: 'viewer' })).json<{
      id: string;
    }>();
    for (const url of [
      `/v1/invitations/${inv.id}/resend`,
      `/v1/invitations/${uuidv7()}/resend`,
      '/v1/invitations/nope/resend',
    ]) {
      const res = await post(url, tokenB);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({
        error: { code: 'INVITATION_NOT_FOUND', message: 'invitation not found' },
      });
    }
    const del = await c.app.inject({
      method: 'DELETE',
      url: `/v1/invitations/${inv.id}`,
      headers: bearer(tokenB),
    });
    expect(del.statusCode).toBe(404);
    expect(del.json()).toEqual({ error: { code: 'INVITATION_NOT_FOUND', message: 'invitation not found' } });
  });
});
