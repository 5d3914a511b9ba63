import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg } from '../../../test/support/tenancy.js';
import {
  buildAuthHarness,
  oneRow,
  freshEmail,
  GOOD_PASSWORD,
  sessionCookieOf,
  signUpAndVerify,
  type AuthHarness,
} from './auth.test-helpers.js';

async function register(h: AuthHarness) {
  const u = await signUpAndVerify(h, { email: freshEmail('sess') });
  return { email: u.email, userId: u.userId, orgId: u.orgId, token: u.token, res: u.res };
}
const cookie = (token: string) => ({ cookie: `sr_session=${token}` });

describe('session service: organization switch and the resolve cache', () => {
  let h: AuthHarness;
  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });
  const me = (token: string) => h.app.inject({ url: '/v1/auth/me', headers: cookie(token) });

  it('setCurrentOrganization checks the membership, rotates the token and remembers the organization', async () => {
    const u = await register(h);
    const sessionId = (await h.sessions.resolve(u.token))!.session.id;
    const foreign = await createTestOrg(h.tenancy, 'switch');
    await expect(h.sessions.setCurrentOrganization(sessionId, foreign, u.token)).rejects.toMatchObject({
      status: 404,
    });
    await h.tenancy.withTenant(foreign, (db) =>
      db
        .insertInto('memberships')
        .values({ organization_id: foreign, user_id: u.userId, role: 'admin', status: 'active' })
        .execute(),
    );
    const switched = await h.sessions.setCurrentOrganization(sessionId, foreign, u.token);
    expect(switched.session).toMatchObject({ id: sessionId, currentOrganizationId: foreign });
    expect(await h.sessions.resolve(u.token)).toBeNull();
    expect((await me(switched.token)).json()).toMatchObject({ currentOrganizationId: foreign });
    const row = await oneRow<{ last_organization_id: string }>(
      h.admin,
      'select last_organization_id from users where id = $1',
      [u.userId],
    );
    expect(row.last_organization_id).toBe(foreign);
  });

  it('answers from memory, and revocation / rotation through the service take effect at once', async () => {
    const u = await register(h);
    const first = await h.sessions.resolve(u.token);
    expect(first).not.toBeNull();
    // Cached: a change made behind the service's back is not seen within the TTL…
    await h.admin.query(`update sessions set user_agent = 'changed' where user_id = $1`, [u.userId]);
    expect((await h.sessions.resolve(u.token))!.session.userAgent).toBe(first!.session.userAgent);
    // …but a revocation through the service is.
    expect(await h.sessions.revoke(first!.session.id)).toBe(true);
    expect(await h.sessions.resolve(u.token)).toBeNull();

    const v = await register(h);
    const sid = (await h.sessions.resolve(v.token))!.session.id;
    const rotated = await h.sessions.rotate(sid);
    expect(await h.sessions.resolve(v.token)).toBeNull();
    expect((await h.sessions.resolve(rotated!.token))!.session.id).toBe(sid);

    const w = await register(h);
    await h.sessions.resolve(w.token);
    expect(await h.sessions.revokeAllForUser(w.userId)).toBe(1);
    expect(await h.sessions.resolve(w.token)).toBeNull();
  });

  it('revokeAllForUser keeps the excepted session', async () => {
    const u = await register(h);
    const other = sessionCookieOf(
      await h.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: u.email, password: GOOD_PASSWORD },
      }),
    )!;
    const keep = (await h.sessions.resolve(u.token))!.session.id;
    await h.sessions.resolve(other);
    expect(await h.sessions.revokeAllForUser(u.userId, keep)).toBe(1);
    expect(await h.sessions.resolve(u.token)).not.toBeNull();
    expect(await h.sessions.resolve(other)).toBeNull();
  });
});

describe('session service: a busy cached session still sees outside revocations', () => {
  it('a cache hit does not extend the entry: a revocation made elsewhere shows within the TTL', async () => {
    const h = await buildAuthHarness({ sessions: { cacheTtlMs: 300 } });
    try {
      const u = await register(h);
      expect(await h.sessions.resolve(u.token)).not.toBeNull();
      // Revoked behind this process's back (another instance, an operator):
      await h.admin.query('update sessions set revoked_at = now() where user_id = $1', [u.userId]);
      const started = Date.now();
      let seen = false;
      while (Date.now() - started < 2_000) {
        if ((await h.sessions.resolve(u.token)) === null) {
          seen = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen).toBe(true);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await h.close();
    }
  });
});
