import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTwoInstances, closeInstances } from '../support/instances.js';
import { createTestOrg } from '../support/tenancy.js';
import { identityFixtures, userCtx } from '../../src/modules/memberships/memberships.test-support.js';
import type { Composition } from '../../src/app/compose.js';
import { signUpAndVerify } from '../../src/modules/auth/auth.test-helpers.js';

/**
 * Two server instances on one database and one Redis: a role change made through instance A takes effect
 * on instance B's very next lookup, although B had the old role cached.
 */
describe('cache invalidation across instances (Redis pub/sub)', () => {
  let a: Composition;
  let b: Composition;
  beforeAll(async () => {
    [a, b] = await buildTwoInstances();
  });
  afterAll(async () => {
    await closeInstances(a, b);
  });

  it('a role change on A is seen by B at once; removal too', async () => {
    const fx = identityFixtures(a.tenancy);
    const org = await createTestOrg(a.tenancy, 'bus');
    const owner = await fx.member(org, { role: 'owner' });
    const admin = await fx.member(org, { role: 'admin' });
    expect((await b.services.membershipLookup.activeMembership(org, admin))?.role).toBe('admin'); // cached on B
    await a.services.memberships.changeRole(userCtx(org, owner), admin, 'viewer');
    const seen = async () => (await b.services.membershipLookup.activeMembership(org, admin))?.role ?? null;
    const deadline = Date.now() + 2000;
    while ((await seen()) !== 'viewer' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await seen()).toBe('viewer');
    await a.services.memberships.remove(userCtx(org, owner), admin);
    const gone = Date.now() + 2000;
    while ((await seen()) !== null && Date.now() < gone) await new Promise((r) => setTimeout(r, 5));
    expect(await seen()).toBeNull();
  });

  it('a session revoked on A stops working on B at once, although B had it cached', async () => {
    const origin = { origin: 'http://app.saasready.test' };
    const u = await signUpAndVerify(
      { app: a.app, auth: a.services.auth },
      { email: `bus-${Date.now()}@example.test`, password: 'a long enough passphrase 7', headers: origin },
    );
    const cookie = `sr_session=${u.token}`;
    const me = () => b.app.inject({ url: '/v1/auth/me', headers: { cookie } });
    expect((await me()).statusCode).toBe(200); // cached on B now
    const out = await a.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { ...origin, cookie },
    });
    expect(out.statusCode).toBe(204);
    const deadline = Date.now() + 2000;
    let status = (await me()).statusCode;
    while (status !== 401 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      status = (await me()).statusCode;
    }
    expect(status).toBe(401);
  });

  it("an access token is refused by B on its next request once A revoked its family, or A's user changed password", async () => {
    const origin = { origin: 'http://app.saasready.test' };
    const u = await signUpAndVerify(
      { app: a.app, auth: a.services.auth },
      {
        email: `bus-tok-${Date.now()}@example.test`,
        password: 'a long enough passphrase 8',
        headers: origin,
      },
    );
    const cookie = `sr_session=${u.token}`;
    const mint = async () => {
      const res = await a.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        headers: { ...origin, cookie },
        payload: { organizationId: u.orgId },
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ accessToken: string; refreshToken: string }>();
    };
    const onB = async (token: string) => {
      const res = await b.app.inject({ url: '/v1/projects', headers: { authorization: `Bearer ${token}` } });
      if (res.statusCode !== 200 && res.statusCode !== 401) throw new Error(res.body);
      return res.statusCode;
    };
    const eventually401 = async (token: string) => {
      const deadline = Date.now() + 2000;
      let status = await onB(token);
      while (status !== 401 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
        status = await onB(token);
      }
      return status;
    };
    const first = await mint();
    const second = await mint();
    expect(await onB(first.accessToken)).toBe(200); // cached as live on B now
    expect(await onB(second.accessToken)).toBe(200);
    const revoke = await a.app.inject({
      method: 'POST',
      url: '/v1/auth/token/revoke',
      payload: { refreshToken: first.refreshToken },
    });
    expect(revoke.statusCode).toBe(200);
    expect(await eventually401(first.accessToken)).toBe(401);
    expect(await onB(second.accessToken)).toBe(200);
    const change = await a.app.inject({
      method: 'POST',
      url: '/v1/auth/password',
      headers: { ...origin, cookie },
      payload: { currentPassword: 'a long enough passphrase 8', newPassword: 'another long passphrase 9' },
    });
    expect(change.statusCode, change.body).toBe(204);
    expect(await eventually401(second.accessToken)).toBe(401);
  });

  it('an API key revoked on A is refused by B at once, although B had it cached', async () => {
    const fx = identityFixtures(a.tenancy);
    const org = await createTestOrg(a.tenancy, 'buskey');
    const owner = await fx.member(org, { role: 'owner' });
    const { apiKey } = await a.services.apiKeys.create(
      userCtx(org, owner),
      { name: 'bus', scopes: ['projects:read'] },
      new Set(['projects:read']),
    );
    const use = () =>
      b.app.inject({ url: '/v1/projects', headers: { authorization: `Bearer ${apiKey.secret}` } });
    expect((await use()).statusCode).toBe(200); // cached on B now
    await a.services.apiKeys.revoke(userCtx(org, owner), apiKey.id);
    const deadline = Date.now() + 2000;
    let status = (await use()).statusCode;
    while (status !== 401 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      status = (await use()).statusCode;
    }
    expect(status).toBe(401);
  });
});
