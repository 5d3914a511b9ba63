import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrg,
  inOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  uniqueEmail,
  type E2eApp,
  type User,
} from './helpers.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  mintScimToken,
  scimClient,
  verifySuiteDomain,
  SCIM_ERROR as ERROR,
  SCIM_PATCH as PATCH,
  SCIM_USER as USER,
  type ScimClient as Scim,
} from './scim-directory.js';

const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

type Json = Record<string, unknown>;

const q = (filter: string) => `/Users?filter=${encodeURIComponent(filter)}`;
const patchOps = (...Operations: Json[]) => ({ schemas: [PATCH], Operations });

async function newToken(owner: User, orgId: string): Promise<{ id: string; secret: string }> {
  const token = await mintScimToken(owner, orgId);
  expect(token.secret).toMatch(/^scim_[0-9a-f]{16}_/);
  return token;
}

async function createUser(scim: Scim, email: string, extra: Json = {}): Promise<Json> {
  const res = await scim.post('/Users', {
    schemas: [USER],
    userName: email,
    name: { givenName: 'Ada', familyName: 'Lovelace' },
    emails: [{ value: email, type: 'work', primary: true }],
    active: true,
    ...extra,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<Json>();
}

describe('e2e: SCIM 2.0 directory sync', () => {
  let c: E2eApp;
  let owner: User;
  let ownerB: User;
  let orgA: { id: string; slug: string };
  let orgB: { id: string; slug: string };
  let tokenA: { id: string; secret: string };
  let scim: Scim;
  let scimB: Scim;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'scim-owner');
    ownerB = await signUp(c, 'scim-owner-b');
    orgA = await createOrg(owner.browser, 'scim-a');
    orgB = await createOrg(ownerB.browser, 'scim-b');
    // A's directory links the existing accounts of its verified domain (the suite's addresses), and its
    // plan has no seat limit (the limit and foreign addresses: scim-provisioning.test.ts).
    const su = await connect(testDb().adminUrl);
    await verifySuiteDomain(su, orgA.id);
    await su.query(`update organizations set plan = 'enterprise' where id = $1`, [orgA.id]);
    await su.end();
    tokenA = await newToken(owner, orgA.id);
    scim = scimClient(c, tokenA.secret);
    scimB = scimClient(c, (await newToken(ownerB, orgB.id)).secret);
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  it('serves the discovery endpoints as application/scim+json', async () => {
    for (const url of ['/ServiceProviderConfig', '/ResourceTypes', '/Schemas']) {
      const res = await scim.get(url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
    }
    const config = (await scim.get('/ServiceProviderConfig')).json<Json>();
    expect(config).toMatchObject({ patch: { supported: true }, etag: { supported: true } });
    const types = (await scim.get('/ResourceTypes')).json<{ Resources: Json[] }>();
    expect(types.Resources.map((r) => r.name)).toEqual(['User', 'Group']);
  });

  it('Okta: create, get by filter, replace, deactivate, reactivate, delete', async () => {
    const email = uniqueEmail('okta');
    expect((await scim.get(q(`userName eq "${email}"`))).json()).toMatchObject({ totalResults: 0 });
    const created = await createUser(scim, email, { externalId: 'okta-1' });
    const id = created.id as string;
    expect(created).toMatchObject({
      schemas: [USER],
      userName: email,
      active: true,
      meta: { resourceType: 'User', location: `http://app.saasready.test/scim/v2/Users/${id}` },
    });
    const found = (await scim.get(q(`userName eq "${email.toUpperCase()}"`))).json<Json>();
    expect(found).toMatchObject({ totalResults: 1, startIndex: 1, Resources: [{ id }] });

    const put = await scim.put(`/Users/${id}`, {
      schemas: [USER],
      userName: email,
      name: { givenName: 'Augusta', familyName: 'King' },
      emails: [{ value: email, type: 'work', primary: true }],
      active: true,
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ name: { givenName: 'Augusta', familyName: 'King' } });

    const off = await scim.patch(`/Users/${id}`, patchOps({ op: 'replace', value: { active: false } }));
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toMatchObject({ active: false });
    expect(await membership(id)).toBeUndefined();

    const on = await scim.patch(`/Users/${id}`, patchOps({ op: 'replace', value: { active: true } }));
    expect(on.json()).toMatchObject({ active: true });
    expect(await membership(id)).toMatchObject({ role: 'member', status: 'active' });

    expect((await scim.delete(`/Users/${id}`)).statusCode).toBe(204);
    expect(await membership(id)).toBeUndefined();
    const gone = await scim.get(`/Users/${id}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ schemas: [ERROR], status: '404', detail: 'User not found' });
  });

  it('Entra ID: capitalized ops, string booleans, paths with filters', async () => {
    const email = uniqueEmail('entra');
    const id = (await createUser(scim, email)).id as string;
    const res = await scim.patch(
      `/Users/${id}`,
      patchOps(
        { op: 'Replace', path: 'emails[type eq "work"].value', value: `new.${email}` },
        { op: 'Replace', path: 'name.givenName', value: 'Grace' },
        { op: 'Replace', path: 'externalId', value: 'entra-42' },
        { op: 'Add', path: 'displayName', value: 'Grace H' },
      ),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      externalId: 'entra-42',
      displayName: 'Grace H',
      name: { givenName: 'Grace' },
      emails: [{ value: `new.${email}`, type: 'work' }],
    });
    const off = await scim.patch(`/Users/${id}`, patchOps({ op: 'Replace', path: 'active', value: 'False' }));
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toMatchObject({ active: false });
    expect(await membership(id)).toBeUndefined();
    const byExternal = (await scim.get(q('externalId eq "entra-42"'))).json<Json>();
    expect(byExternal).toMatchObject({ totalResults: 1, Resources: [{ id, active: false }] });
  });

  it('filters with and/or, emails.value; unsupported filters are 400 invalidFilter', async () => {
    const a = uniqueEmail('fa');
    const b = uniqueEmail('fb');
    const idA = (await createUser(scim, a, { externalId: 'f-a' })).id;
    const idB = (await createUser(scim, b, { externalId: 'f-b' })).id;
    const ids = async (filter: string) =>
      (await scim.get(q(filter)))
        .json<{ Resources: Json[] }>()
        .Resources.map((r) => r.id)
        .sort();
    expect(await ids(`userName eq "${a}" or userName eq "${b}"`)).toEqual([idA, idB].sort());
    expect(await ids(`userName eq "${a}" and externalId eq "f-a"`)).toEqual([idA]);
    expect(await ids(`userName eq "${a}" and externalId eq "f-b"`)).toEqual([]);
    expect(await ids(`emails.value eq "${b}"`)).toEqual([idB]);
    const bad = await scim.get(q('nickName co "x"'));
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ schemas: [ERROR], scimType: 'invalidFilter' });
  });

  it('paginates with startIndex (1-based) and count', async () => {
    const all = (await scim.get('/Users?count=200')).json<{ totalResults: number; Resources: Json[] }>();
    expect(all.totalResults).toBeGreaterThanOrEqual(3);
    const p1 = (await scim.get('/Users?startIndex=1&count=2')).json<Json>();
    const p2 = (await scim.get('/Users?startIndex=3&count=2')).json<{ Resources: Json[] }>();
    expect(p1).toMatchObject({ startIndex: 1, itemsPerPage: 2, totalResults: all.totalResults });
    expect((p1.Resources as Json[]).map((r) => r.id)).toEqual(all.Resources.slice(0, 2).map((r) => r.id));
    expect(p2.Resources.map((r) => r.id)).toEqual(all.Resources.slice(2, 4).map((r) => r.id));
  });

  it('ETags: meta.version, If-Match honoured on PUT, PATCH and DELETE (412 on mismatch)', async () => {
    const created = await createUser(scim, uniqueEmail('etag'));
    const id = created.id as string;
    const v1 = (created.meta as Json).version as string;
    expect(v1).toMatch(/^W\/"\d+"$/);
    const stale = { 'if-match': 'W/"999"' };
    const body = { ...created, name: { givenName: 'New' } };
    expect((await scim.put(`/Users/${id}`, body, stale)).statusCode).toBe(412);
    expect(
      (await scim.patch(`/Users/${id}`, patchOps({ op: 'replace', path: 'displayName', value: 'x' }), stale))
        .statusCode,
    ).toBe(412);
    expect((await scim.delete(`/Users/${id}`, stale)).statusCode).toBe(412);
    const ok = await scim.put(`/Users/${id}`, body, { 'if-match': v1 });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.headers.etag).not.toBe(v1);
    expect((await scim.put(`/Users/${id}`, body, { 'if-match': v1 })).statusCode).toBe(412);
  });

  it('links an existing account by email; deactivation revokes its session and token on the next request', async () => {
    const member = await signUp(c, 'scim-linked');
    const created = await createUser(scim, member.email);
    expect(created.id).toBe(member.userId);
    const pair = await tokenPair(member.browser, orgA.id);
    expect((await member.browser.get('/v1/projects', inOrg(orgA.id))).statusCode).toBe(200);
    const bearer = () =>
      c.app.inject({
        method: 'GET',
        url: '/v1/projects',
        headers: { authorization: `Bearer ${pair.accessToken}` },
      });
    expect((await bearer()).statusCode).toBe(200);

    const off = await scim.patch(
      `/Users/${member.userId}`,
      patchOps({ op: 'replace', value: { active: false } }),
    );
    expect(off.statusCode, off.body).toBe(200);
    expect((await member.browser.get('/v1/projects', inOrg(orgA.id))).statusCode).toBe(404);
    // The organization's access token is refused (TOKEN_REVOKED, as after any membership removal) and
    // its refresh token no longer mints one.
    const refused = await bearer();
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ error: { code: 'TOKEN_REVOKED' } });
    const refresh = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(refresh.statusCode).toBe(401);
    // Their own account and Personal Organization are untouched.
    expect((await member.browser.get('/v1/projects', inOrg(member.personalOrgId))).statusCode).toBe(200);
  });

  it('never deprovisions the last owner', async () => {
    const created = await createUser(scim, owner.email);
    expect(created.id).toBe(owner.userId);
    const res = await scim.patch(
      `/Users/${owner.userId}`,
      patchOps({ op: 'replace', value: { active: false } }),
    );
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ schemas: [ERROR], scimType: 'mutability' });
    expect((await scim.delete(`/Users/${owner.userId}`)).statusCode).toBe(400);
    expect(await membership(owner.userId)).toMatchObject({ role: 'owner' });
  });

  it('groups: create with members, add and remove as Okta and Entra send them, filter, delete', async () => {
    const u1 = (await createUser(scim, uniqueEmail('g1'))).id as string;
    const u2 = (await createUser(scim, uniqueEmail('g2'))).id as string;
    const u3 = (await createUser(scim, uniqueEmail('g3'))).id as string;
    const res = await scim.post('/Groups', {
      schemas: [GROUP],
      displayName: 'Engineering',
      members: [{ value: u1 }],
    });
    expect(res.statusCode, res.body).toBe(201);
    const gid = res.json<Json>().id as string;
    const members = async () =>
      (
        (await scim.get(`/Groups/${gid}`)).json<{ members: Json[] }>().members.map((m) => m.value) as string[]
      ).sort();
    // Entra: Add with a value array.
    const add = await scim.patch(
      `/Groups/${gid}`,
      patchOps({ op: 'Add', path: 'members', value: [{ value: u2 }, { value: u3 }] }),
    );
    expect(add.statusCode, add.body).toBe(200);
    expect(await members()).toEqual([u1, u2, u3].sort());
    // Okta/Entra: remove by value filter.
    const rm = await scim.patch(
      `/Groups/${gid}`,
      patchOps({ op: 'remove', path: `members[value eq "${u2}"]` }),
    );
    expect(rm.statusCode, rm.body).toBe(200);
    expect(await members()).toEqual([u1, u3].sort());
    // Okta: rename by replace with a value object.
    await scim.patch(`/Groups/${gid}`, patchOps({ op: 'replace', value: { id: gid, displayName: 'Eng' } }));
    const byName = (
      await scim.get(`/Groups?filter=${encodeURIComponent('displayName eq "Eng"')}`)
    ).json<Json>();
    expect(byName).toMatchObject({ totalResults: 1, Resources: [{ id: gid, displayName: 'Eng' }] });
    expect((await scim.delete(`/Groups/${gid}`)).statusCode).toBe(204);
    expect((await scim.get(`/Groups/${gid}`)).statusCode).toBe(404);
  });

  it('group → role mapping: members get the highest mapped role, and lose it with the group', async () => {
    const u = (await createUser(scim, uniqueEmail('mapped'))).id as string;
    const admins = (
      await scim.post('/Groups', { schemas: [GROUP], displayName: 'Admins', members: [{ value: u }] })
    ).json<Json>().id as string;
    expect(await membership(u)).toMatchObject({ role: 'member' });
    const set = (id: string, role: string | null) =>
      owner.browser.put(`/v1/scim/groups/${id}/role`, { role }, inOrg(orgA.id));
    expect((await set(admins, 'owner')).statusCode).toBe(400);
    const mapped = await set(admins, 'admin');
    expect(mapped.statusCode, mapped.body).toBe(200);
    expect(mapped.json()).toEqual({ id: admins, displayName: 'Admins', role: 'admin' });
    expect(await membership(u)).toMatchObject({ role: 'admin' });
    // Removed from the group by the directory: back to the default role.
    const rm = await scim.patch(
      `/Groups/${admins}`,
      patchOps({ op: 'remove', path: `members[value eq "${u}"]` }),
    );
    expect(rm.statusCode, rm.body).toBe(200);
    expect(await membership(u)).toMatchObject({ role: 'member' });
    // Back in: admin again; deactivated and reactivated: the mapped role is restored with the membership.
    await scim.patch(`/Groups/${admins}`, patchOps({ op: 'add', path: 'members', value: [{ value: u }] }));
    expect(await membership(u)).toMatchObject({ role: 'admin' });
    await scim.patch(`/Users/${u}`, patchOps({ op: 'replace', value: { active: false } }));
    await scim.patch(`/Users/${u}`, patchOps({ op: 'replace', value: { active: true } }));
    expect(await membership(u)).toMatchObject({ role: 'admin', status: 'active' });
    // The owner is never changed by a mapping; unmapping leaves roles to administrators again.
    expect(await membership(owner.userId)).toMatchObject({ role: 'owner' });
    expect((await set(admins, null)).json()).toMatchObject({ role: null });
    expect(
      (await ownerB.browser.put(`/v1/scim/groups/${admins}/role`, { role: 'admin' }, inOrg(orgB.id)))
        .statusCode,
    ).toBe(404);
  });

  it('cross-tenant: a token of B never reads or changes A’s users or groups', async () => {
    const email = uniqueEmail('xt');
    const idA = (await createUser(scim, email)).id as string;
    const gA = (
      await scim.post('/Groups', { schemas: [GROUP], displayName: 'A-only', members: [{ value: idA }] })
    ).json<Json>().id as string;
    expect((await scimB.get(`/Users/${idA}`)).statusCode).toBe(404);
    expect((await scimB.put(`/Users/${idA}`, { schemas: [USER], userName: email })).statusCode).toBe(404);
    expect(
      (await scimB.patch(`/Users/${idA}`, patchOps({ op: 'replace', value: { active: false } }))).statusCode,
    ).toBe(404);
    expect((await scimB.delete(`/Users/${idA}`)).statusCode).toBe(404);
    expect((await scimB.get(`/Groups/${gA}`)).statusCode).toBe(404);
    expect((await scimB.delete(`/Groups/${gA}`)).statusCode).toBe(404);
    expect((await scimB.get(q(`userName eq "${email}"`))).json()).toMatchObject({ totalResults: 0 });
    expect(
      (await scimB.get(`/Groups?filter=${encodeURIComponent('displayName eq "A-only"')}`)).json(),
    ).toMatchObject({
      totalResults: 0,
    });
    const planted = await scimB.post('/Groups', {
      schemas: [GROUP],
      displayName: 'B',
      members: [{ value: idA }],
    });
    expect(planted.statusCode).toBe(400);
    expect(await membership(idA)).toMatchObject({ status: 'active' });
  });

  it('a SCIM token opens only /scim/v2; sessions and API keys are refused there', async () => {
    const onApi = await c.app.inject({
      method: 'GET',
      url: '/v1/projects',
      headers: { authorization: `Bearer ${tokenA.secret}`, ...inOrg(orgA.id) },
    });
    expect(onApi.statusCode).toBe(401);
    const bySession = await owner.browser.get('/scim/v2/Users', inOrg(orgA.id));
    expect(bySession.statusCode).toBe(401);
    expect(bySession.json()).toMatchObject({ schemas: [ERROR], status: '401' });
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'k', scopes: ['sso:manage'] },
      inOrg(orgA.id),
    );
    expect(key.statusCode, key.body).toBe(201);
    const apiKey = rememberSecret(key.json<{ secret: string }>().secret);
    const byKey = await c.app.inject({
      method: 'GET',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(byKey.statusCode).toBe(401);
    const pair = await tokenPair(owner.browser, orgA.id);
    const byJwt = await c.app.inject({
      method: 'GET',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    expect(byJwt.statusCode).toBe(401);
  });

  it('rotation revokes the old token at once; revocation is effective on the next request', async () => {
    const t = await newToken(owner, orgA.id);
    const before = scimClient(c, t.secret);
    expect((await before.get('/Users?count=1')).statusCode).toBe(200);
    const rotated = await owner.browser.post(`/v1/scim/tokens/${t.id}/rotate`, {}, inOrg(orgA.id));
    expect(rotated.statusCode, rotated.body).toBe(201);
    const next = rotated.json<{ id: string; secret: string }>();
    rememberSecret(next.secret);
    expect((await before.get('/Users?count=1')).statusCode).toBe(401);
    const after = scimClient(c, next.secret);
    expect((await after.get('/Users?count=1')).statusCode).toBe(200);
    expect((await owner.browser.delete(`/v1/scim/tokens/${next.id}`, inOrg(orgA.id))).statusCode).toBe(204);
    expect((await after.get('/Users?count=1')).statusCode).toBe(401);
    // Another organization's token id is not found in A.
    expect((await ownerB.browser.delete(`/v1/scim/tokens/${tokenA.id}`, inOrg(orgB.id))).statusCode).toBe(
      404,
    );
    expect((await scim.get('/Users?count=1')).statusCode).toBe(200);
  });

  it('records every SCIM operation in the sync log and the significant ones in the audit chain', async () => {
    let events: Json[] = [];
    for (let i = 0; i < 50 && !events.some((e) => e.method === 'DELETE'); i++) {
      const res = await owner.browser.get('/v1/scim/events?limit=200', inOrg(orgA.id));
      expect(res.statusCode, res.body).toBe(200);
      events = res.json<{ data: Json[] }>().data;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(events.some((e) => e.method === 'POST' && e.resource === 'Users' && e.status === 201)).toBe(true);
    expect(events.some((e) => e.method === 'DELETE' && e.status === 204)).toBe(true);
    expect(JSON.stringify(events)).not.toContain(tokenA.secret);
    const page = (await owner.browser.get('/v1/scim/events?limit=2', inOrg(orgA.id))).json<Json>();
    expect((page.data as Json[]).length).toBe(2);
    expect(page.nextCursor).toEqual(expect.any(String));
    // Audit events are listed once sealed into the chain (seconds after their commit).
    const names = new Set<string>();
    for (let i = 0; i < 300 && names.size < 6; i++) {
      const res = await owner.browser.get('/v1/audit-logs?limit=200', inOrg(orgA.id));
      expect(res.statusCode, res.body).toBe(200);
      for (const e of res.json<{ data: { action: string }[] }>().data) {
        if (e.action.startsWith('scim')) names.add(e.action);
      }
      if (names.size < 6) await new Promise((r) => setTimeout(r, 100));
    }
    for (const a of [
      'scim_token.created',
      'scim_token.rotated',
      'scim_token.revoked',
      'scim.user_provisioned',
      'scim.user_deprovisioned',
    ]) {
      expect(names, a).toContain(a);
    }
  });

  async function membership(userId: string) {
    return c.tenancy.withTenant(orgA.id, (db) =>
      db
        .selectFrom('memberships')
        .select(['role', 'status'])
        .where('organization_id', '=', orgA.id)
        .where('user_id', '=', userId)
        .executeTakeFirst(),
    );
  }
});
