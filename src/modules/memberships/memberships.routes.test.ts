import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../platform/ids.js';
import { buildIdentityTestApp, identityFixtures, type IdentityTestApp } from './memberships.test-support.js';

const ROUTES = [
  ['GET', '/v1/members', undefined],
  ['PATCH', '/v1/members/00000000-0000-7000-8000-000000000000', { role: 'viewer' }],
  ['DELETE', '/v1/members/00000000-0000-7000-8000-000000000000', undefined],
  ['POST', '/v1/members/leave', undefined],
  ['POST', '/v1/members/transfer-ownership', { userId: '00000000-0000-7000-8000-000000000000' }],
  ['GET', '/v1/roles', undefined],
  ['POST', '/v1/roles', { key: 'abc', name: 'x', permissions: [] }],
  ['PATCH', '/v1/roles/abc', { name: 'x' }],
  ['DELETE', '/v1/roles/abc', undefined],
] as const;

describe('members and roles routes', () => {
  let t: IdentityTestApp;
  let fx: ReturnType<typeof identityFixtures>;
  let a: { orgId: string; ownerId: string };
  let b: { orgId: string; ownerId: string };
  const call = (token: string, method: string, url: string, payload?: unknown) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  beforeAll(async () => {
    t = await buildIdentityTestApp();
    fx = identityFixtures(t.tenancy);
    a = await fx.orgWithOwner('ra');
    b = await fx.orgWithOwner('rb');
  });
  afterAll(async () => {
    await t.close();
  });

  it('every route: 401 without a principal; 404 (organization) for a non-member, a pending member, an unknown org', async () => {
    const pending = await fx.member(a.orgId, { role: 'owner', status: 'pending' });
    for (const [method, url, payload] of ROUTES) {
      const anon = await t.app.inject({ method, url, ...(payload ? { payload } : {}) });
      expect({ url, status: anon.statusCode }).toEqual({ url, status: 401 });
      const unknown = await call(t.token(uuidv7(), a.ownerId), method, url, payload);
      expect({ method, url, status: unknown.statusCode }).toEqual({ method, url, status: 404 });
      for (const token of [t.token(b.orgId, a.ownerId), t.token(a.orgId, pending)]) {
        const res = await call(token, method, url, payload);
        expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 404 });
        expect(res.body).toBe(unknown.body);
      }
    }
  });

  it('a user or role of another organization answers 404 exactly like a missing one, on every route', async () => {
    const bMember = await fx.member(b.orgId, { role: 'member' });
    await fx.role(b.orgId, 'b_only', ['org:read']);
    const tok = t.token(a.orgId, a.ownerId);
    const cases: [string, (id: string) => [string, string, unknown]][] = [
      ['PATCH member', (id) => ['PATCH', `/v1/members/${id}`, { role: 'viewer' }]],
      ['DELETE member', (id) => ['DELETE', `/v1/members/${id}`, undefined]],
      ['transfer', (id) => ['POST', '/v1/members/transfer-ownership', { userId: id }]],
    ];
    for (const [name, build] of cases) {
      const missing = await call(tok, ...build(uuidv7()));
      expect({ name, status: missing.statusCode }).toEqual({ name, status: 404 });
      for (const foreign of [bMember, b.ownerId, 'garbage']) {
        const res = await call(tok, ...build(foreign));
        expect({ name, status: res.statusCode }).toEqual({ name, status: 404 });
        expect(res.body).toBe(missing.body);
      }
    }
    for (const method of ['PATCH', 'DELETE']) {
      const payload = method === 'PATCH' ? { name: 'x' } : undefined;
      const missing = await call(tok, method, '/v1/roles/never_was', payload);
      const foreign = await call(tok, method, '/v1/roles/b_only', payload);
      expect(missing.statusCode).toBe(404);
      expect(foreign.body).toBe(missing.body);
    }
    expect(await fx.membership(b.orgId, bMember)).toMatchObject({ role: 'member', permissions_version: 1 });
  });

  it('lists members paginated, with pending members and their status', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rp');
    const ids = [ownerId];
    for (let i = 0; i < 4; i++) ids.push(await fx.member(orgId, { status: i === 0 ? 'pending' : 'active' }));
    const tok = t.token(orgId, ownerId);
    const seen: { userId: string; status: string }[] = [];
    let url = '/v1/members?limit=2';
    for (;;) {
      const res = await call(tok, 'GET', url);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ data: { userId: string; status: string }[]; nextCursor: string | null }>();
      seen.push(...page.data);
      if (!page.nextCursor) break;
      url = `/v1/members?limit=2&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    expect(seen.map((m) => m.userId)).toEqual([...ids].sort());
    expect(seen.filter((m) => m.status === 'pending')).toHaveLength(1);
    expect((await call(tok, 'GET', '/v1/members?limit=0')).json()).toMatchObject({
      error: { code: 'VALIDATION_FAILED' },
    });
  });

  it('a role change takes effect on the very next request (lookup invalidated)', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rc');
    const u = await fx.member(orgId, { role: 'viewer' });
    const owner = t.token(orgId, ownerId);
    const user = t.token(orgId, u);
    expect((await call(user, 'GET', '/v1/members')).statusCode).toBe(200); // now cached
    expect((await call(user, 'PATCH', `/v1/members/${ownerId}`, { role: 'admin' })).statusCode).toBe(403);
    const promoted = await call(owner, 'PATCH', `/v1/members/${u}`, { role: 'admin' });
    expect(promoted.json()).toMatchObject({ userId: u, role: 'admin' });
    const created = await call(user, 'POST', '/v1/roles', {
      key: 'reader',
      name: 'R',
      permissions: ['org:read'],
    });
    expect(created.statusCode).toBe(201);
    await call(owner, 'PATCH', `/v1/members/${u}`, { role: 'reader' });
    const denied = await call(user, 'GET', '/v1/members');
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    // Editing the custom role reaches its holder at once too.
    await call(owner, 'PATCH', '/v1/roles/reader', { permissions: ['org:read', 'members:read'] });
    expect((await call(user, 'GET', '/v1/members')).statusCode).toBe(200);
    // Removal: the next request finds no organization.
    expect((await call(owner, 'DELETE', `/v1/members/${u}`)).statusCode).toBe(204);
    expect((await call(user, 'GET', '/v1/members')).statusCode).toBe(404);
  });

  it('escalation, outranking and the last owner over HTTP', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('re');
    const admin = await fx.member(orgId, { role: 'admin' });
    const m = await fx.member(orgId, { role: 'member' });
    const adminTok = t.token(orgId, admin);
    const grant = await call(adminTok, 'PATCH', `/v1/members/${m}`, { role: 'owner' });
    expect(grant.statusCode).toBe(403);
    expect(grant.json()).toMatchObject({ error: { code: 'MEMBERSHIP_ESCALATION' } });
    const biller = await call(adminTok, 'POST', '/v1/roles', {
      key: 'biller',
      name: 'B',
      permissions: ['billing:manage'],
    });
    expect(biller.json()).toMatchObject({ error: { code: 'MEMBERSHIP_ESCALATION' } });
    const demoteOwner = await call(adminTok, 'PATCH', `/v1/members/${ownerId}`, { role: 'member' });
    expect(demoteOwner.json()).toMatchObject({ error: { code: 'MEMBERSHIP_OUTRANKED' } });
    const transfer = await call(adminTok, 'POST', '/v1/members/transfer-ownership', { userId: m });
    expect(transfer.statusCode).toBe(403);
    const ownerTok = t.token(orgId, ownerId);
    for (const [method, url, payload] of [
      ['POST', '/v1/members/leave', undefined],
      ['DELETE', `/v1/members/${ownerId}`, undefined],
      ['PATCH', `/v1/members/${ownerId}`, { role: 'admin' }],
    ] as const) {
      const res = await call(ownerTok, method, url, payload);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: { code: 'MEMBERSHIP_LAST_OWNER' } });
    }
    const moved = await call(ownerTok, 'POST', '/v1/members/transfer-ownership', { userId: m });
    expect(moved.json()).toMatchObject({
      newOwner: { userId: m, role: 'owner' },
      previousOwner: { role: 'admin' },
    });
    // The former owner is an admin from the very next request: org:delete-level actions are gone.
    expect((await call(ownerTok, 'POST', '/v1/members/leave')).statusCode).toBe(204);
    expect((await call(ownerTok, 'GET', '/v1/members')).statusCode).toBe(404);
  });

  it('custom roles over HTTP: create, list, update, delete; built-in keys are reserved; input is validated', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rr');
    const tok = t.token(orgId, ownerId);
    const created = await call(tok, 'POST', '/v1/roles', {
      key: 'qa',
      name: 'QA',
      permissions: ['projects:read'],
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ key: 'qa', builtIn: false, permissions: ['projects:read'] });
    const list = await call(tok, 'GET', '/v1/roles?limit=10');
    expect(list.json<{ data: { key: string }[] }>().data.map((r) => r.key)).toEqual([
      'owner',
      'admin',
      'member',
      'viewer',
      'qa',
    ]);
    expect((await call(tok, 'PATCH', '/v1/roles/qa', { name: 'Quality' })).json()).toMatchObject({
      name: 'Quality',
    });
    expect(
      (await call(tok, 'POST', '/v1/roles', { key: 'owner', name: 'x', permissions: [] })).json(),
    ).toMatchObject({
      error: { code: 'ROLE_KEY_RESERVED' },
    });
    const bad = await call(tok, 'POST', '/v1/roles', { key: 'zz', name: 'x', permissions: ['nope'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'ROLE_PERMISSIONS_INVALID' } });
    const missing = await call(tok, 'POST', '/v1/roles', { key: 'zz', permissions: [] });
    expect(missing.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect((await call(tok, 'PATCH', '/v1/roles/qa', {})).statusCode).toBe(400);
    expect((await call(tok, 'DELETE', '/v1/roles/qa')).statusCode).toBe(204);
  });
});
