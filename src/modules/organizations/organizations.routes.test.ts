import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../platform/ids.js';
import {
  buildIdentityTestApp,
  identityFixtures,
  type IdentityTestApp,
} from '../memberships/memberships.test-support.js';

const slug = (p = 'h') => `${p}-${randomBytes(5).toString('hex')}`;

describe('organizations routes', () => {
  let t: IdentityTestApp;
  let fx: ReturnType<typeof identityFixtures>;
  const call = (token: string, method: string, url: string, payload?: unknown, headers = {}) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  beforeAll(async () => {
    t = await buildIdentityTestApp();
    fx = identityFixtures(t.tenancy);
  });
  afterAll(async () => {
    await t.close();
  });

  it('a signed-in user creates an organization (idempotently) and finds it in their list as owner', async () => {
    const u = await fx.user();
    const tok = t.token(null, u);
    const s = slug('mine');
    const headers = { 'idempotency-key': `k-${uuidv7()}` };
    const first = await call(tok, 'POST', '/v1/organizations', { slug: s, name: 'Mine' }, headers);
    expect(first.statusCode).toBe(201);
    const again = await call(tok, 'POST', '/v1/organizations', { slug: s, name: 'Mine' }, headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const org = first.json<{ id: string; slug: string }>();
    // The list is a privileged read: a credential that proves no live session or token family is refused.
    expect((await call(tok, 'GET', '/v1/organizations')).json()).toMatchObject({
      error: { code: 'FORBIDDEN' },
    });
    const list = await call(await t.sessionToken(u), 'GET', '/v1/organizations');
    expect(list.json()).toEqual({
      data: [{ id: org.id, slug: s, name: 'Mine', personal: false, role: 'owner' }],
      nextCursor: null,
    });
    const taken = await call(tok, 'POST', '/v1/organizations', { slug: s, name: 'Dup' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: 'ORGANIZATION_SLUG_TAKEN' } });
    const invalid = await call(tok, 'POST', '/v1/organizations', { slug: 'no spaces', name: 'x' });
    expect(invalid.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect((await t.app.inject({ method: 'GET', url: '/v1/organizations' })).statusCode).toBe(401);
  });

  it('limits organization creation per user: 10 an hour, then 429 with Retry-After; a replay does not count', async () => {
    const u = await fx.user();
    const tok = t.token(null, u);
    const headers = { 'idempotency-key': `k-${uuidv7()}` };
    const s0 = slug('many');
    expect(
      (await call(tok, 'POST', '/v1/organizations', { slug: s0, name: 'Many' }, headers)).statusCode,
    ).toBe(201);
    for (let i = 0; i < 3; i++) {
      const replay = await call(tok, 'POST', '/v1/organizations', { slug: s0, name: 'Many' }, headers);
      expect(replay.headers['idempotent-replayed']).toBe('true');
    }
    for (let i = 1; i < 10; i++) {
      const res = await call(tok, 'POST', '/v1/organizations', { slug: slug('many'), name: `Many ${i}` });
      expect(res.statusCode).toBe(201);
    }
    const over = await call(tok, 'POST', '/v1/organizations', { slug: slug('many'), name: 'One more' });
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: { code: 'ORGANIZATION_CREATE_THROTTLED' } });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(3500);
    // Another user is not affected.
    const other = t.token(null, await fx.user());
    expect(
      (await call(other, 'POST', '/v1/organizations', { slug: slug('else'), name: 'Else' })).statusCode,
    ).toBe(201);
  });

  it('GET /v1/organizations paginates', async () => {
    const u = await fx.user();
    const tok = t.token(null, u);
    for (let i = 0; i < 5; i++) {
      expect(
        (await call(tok, 'POST', '/v1/organizations', { slug: slug(), name: `Org ${i}` })).statusCode,
      ).toBe(201);
    }
    const names: string[] = [];
    const listing = await t.sessionToken(u);
    let url = '/v1/organizations?limit=2';
    for (;;) {
      const page = (await call(listing, 'GET', url)).json<{
        data: { name: string }[];
        nextCursor: string | null;
      }>();
      names.push(...page.data.map((o) => o.name));
      if (!page.nextCursor) break;
      url = `/v1/organizations?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    expect(names).toEqual(['Org 0', 'Org 1', 'Org 2', 'Org 3', 'Org 4']);
  });

  it('the current organization: read, update with org:update, deletion by the owner only', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('cur');
    const admin = await fx.member(orgId, { role: 'admin' });
    const viewer = await fx.member(orgId, { role: 'viewer' });
    const owner = t.token(orgId, ownerId);
    // The caller's own role and permissions come with it (what a console hides or disables).
    expect((await call(t.token(orgId, viewer), 'GET', '/v1/organization')).json()).toMatchObject({
      id: orgId,
      role: 'viewer',
      permissions: ['members:read', 'org:read', 'projects:read'],
    });
    const denied = await call(t.token(orgId, viewer), 'PATCH', '/v1/organization', { name: 'x' });
    expect(denied.statusCode).toBe(403);
    const s = slug('new');
    const patched = await call(t.token(orgId, admin), 'PATCH', '/v1/organization', {
      name: 'New name',
      slug: s,
      settings: { locale: 'fr' },
    });
    expect(patched.json()).toMatchObject({ name: 'New name', slug: s, settings: { locale: 'fr' } });
    expect((await call(owner, 'PATCH', '/v1/organization', {})).statusCode).toBe(400);
    expect((await call(owner, 'PATCH', '/v1/organization', { settings: [1] })).statusCode).toBe(400);
    expect((await call(t.token(orgId, admin), 'DELETE', '/v1/organization')).statusCode).toBe(403);
    const del = await call(owner, 'DELETE', '/v1/organization');
    expect(del.statusCode).toBe(202);
    expect(del.json()).toMatchObject({ lifecycleState: 'pending_deletion' });
    expect(del.json<{ deletionDueAt: string | null }>().deletionDueAt).not.toBeNull();
    // Members still enter it and it stays listed (its writes are refused by tenant resolution, which this
    // file's test authenticator leaves out: test/e2e/organization-deletion.test.ts); owners cancel.
    expect((await call(owner, 'GET', '/v1/organization')).statusCode).toBe(200);
    expect((await call(t.token(orgId, admin), 'GET', '/v1/organization')).statusCode).toBe(200);
    const mine = await call(await t.sessionToken(ownerId), 'GET', '/v1/organizations');
    expect(mine.json<{ data: { id: string }[] }>().data.map((o) => o.id)).toContain(orgId);
    expect((await call(t.token(orgId, admin), 'POST', '/v1/organization/cancel-deletion')).statusCode).toBe(
      403,
    );
    const cancel = await call(owner, 'POST', '/v1/organization/cancel-deletion');
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json()).toMatchObject({ lifecycleState: 'active', deletionDueAt: null });
    expect((await call(owner, 'POST', '/v1/organization/cancel-deletion')).statusCode).toBe(409);
  });

  it('another organization answers 404 on every tenant route, exactly like a missing one', async () => {
    const a = await fx.orgWithOwner('xa');
    const b = await fx.orgWithOwner('xb');
    const pending = await fx.member(a.orgId, { role: 'owner', status: 'pending' });
    const routes = [
      ['GET', undefined],
      ['PATCH', { name: 'pwned' }],
      ['DELETE', undefined],
    ] as const;
    for (const [method, payload] of routes) {
      const missing = await call(t.token(uuidv7(), a.ownerId), method, '/v1/organization', payload);
      expect(missing.statusCode).toBe(404);
      for (const tok of [t.token(b.orgId, a.ownerId), t.token(a.orgId, pending)]) {
        const res = await call(tok, method, '/v1/organization', payload);
        expect(res.statusCode).toBe(404);
        expect(res.body).toBe(missing.body);
      }
      expect((await t.app.inject({ method, url: '/v1/organization' })).statusCode).toBe(401);
    }
    const bNow = await call(t.token(b.orgId, b.ownerId), 'GET', '/v1/organization');
    expect(bNow.json()).toMatchObject({ id: b.orgId, deletionRequestedAt: null });
    expect(bNow.json<{ name: string }>().name).not.toBe('pwned');
  });
});
