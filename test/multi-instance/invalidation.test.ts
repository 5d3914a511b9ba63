import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { buildTestApp } from '../support/app.js';
import { createTestOrg } from '../support/tenancy.js';
import { identityFixtures, userCtx } from '../../src/modules/memberships/memberships.test-support.js';
import type { Composition } from '../../src/app/compose.js';

/**
 * Two server instances on one database and one Redis: a role change made through instance A takes effect
 * on instance B's very next lookup, although B had the old role cached.
 */
describe('cache invalidation across instances (Redis pub/sub)', () => {
  let a: Composition;
  let b: Composition;
  beforeAll(async () => {
    const redisUrl = inject('redisUrl');
    a = await buildTestApp({ redisUrl });
    b = await buildTestApp({ redisUrl });
  });
  afterAll(async () => {
    for (const c of [a, b]) {
      await c.app.close();
      await c.close();
    }
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
    const reg = await a.app.inject({
      method: 'POST',
      url: '/v1/auth/register',
      headers: origin,
      payload: { email: `bus-${Date.now()}@example.test`, password: 'a long enough passphrase 7' },
    });
    expect(reg.statusCode).toBe(201);
    const cookie = String([reg.headers['set-cookie']].flat()[0]).split(';')[0]!;
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
