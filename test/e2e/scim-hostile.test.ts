import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  createOrg,
  inOrg,
  signUp,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
  type User,
} from './helpers.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  newScimClient,
  scimClient,
  scimUserBody as userBody,
  verifySuiteDomain as verifySuiteDomainBy,
} from './scim-directory.js';

/** The suite's addresses' domain, verified for `orgId` (a directory links only such existing accounts). */
async function verifySuiteDomain(orgId: string): Promise<void> {
  const su = await connect(testDb().adminUrl);
  await verifySuiteDomainBy(su, orgId);
  await su.end();
}

describe('e2e: SCIM under attack', () => {
  let c: E2eApp;
  let owner: User;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'scim-hostile-owner');
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  it('the organization lifecycle applies: suspended → 403, pending deletion → read-only, being deleted → 401', async () => {
    const org = await createOrg(owner.browser, 'scim-life');
    const scim = await newScimClient(c, owner, org.id);
    expect((await scim.get('/Users?count=1')).statusCode).toBe(200);

    await c.services.platform.setSuspended(owner.userId, org.id, true);
    const suspended = await scim.post('/Users', userBody(uniqueEmail('scim-susp')));
    expect(suspended.statusCode, suspended.body).toBe(403);
    expect((await scim.get('/Users?count=1')).statusCode).toBe(403);
    await c.services.platform.setSuspended(owner.userId, org.id, false);

    expect((await owner.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(202);
    expect((await scim.get('/Users?count=1')).statusCode).toBe(200);
    const write = await scim.post('/Users', userBody(uniqueEmail('scim-pend')));
    expect(write.statusCode, write.body).toBe(409);

    await c.tenancy.withTenant(org.id, (db) =>
      db
        .updateTable('organizations')
        .set({ lifecycle_state: 'suspended', suspension_reason: 'deletion', suspended_at: new Date() })
        .where('id', '=', org.id)
        .execute(),
    );
    c.services.organizationPolicies.invalidate(org.id);
    expect((await scim.get('/Users?count=1')).statusCode).toBe(401);
  });

  it('a token or a mapping never gives more than its creator holds: sso:manage alone is not enough', async () => {
    const org = await createOrg(owner.browser, 'scim-esc');
    const role = await owner.browser.post(
      '/v1/roles',
      { key: 'directory', name: 'Directory', permissions: ['org:read', 'sso:manage'] },
      inOrg(org.id),
    );
    expect(role.statusCode, role.body).toBe(201);
    const dir = await addNewMember(owner.browser, org.id, 'directory', 'scim-dir');
    await verifySuiteDomain(org.id);
    // With a token, this member could provision themselves into a group mapped to admin.
    const created = await dir.browser.post('/v1/scim/tokens', {}, inOrg(org.id));
    expect(created.statusCode, created.body).toBe(403);
    expect(created.json()).toMatchObject({ error: { code: 'SCIM_ESCALATION' } });
    const scim = await newScimClient(c, owner, org.id);
    await scim.post('/Users', userBody(dir.email));
    const group = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Admins',
      members: [],
    });
    expect(group.statusCode, group.body).toBe(201);
    const groupId = group.json<{ id: string }>().id;
    const mapped = await dir.browser.put(`/v1/scim/groups/${groupId}/role`, { role: 'admin' }, inOrg(org.id));
    expect(mapped.statusCode, mapped.body).toBe(403);
    const tokens = await dir.browser.get('/v1/scim/tokens', inOrg(org.id));
    const tokenId = tokens.json<{ data: { id: string }[] }>().data[0]!.id;
    expect((await dir.browser.post(`/v1/scim/tokens/${tokenId}/rotate`, {}, inOrg(org.id))).statusCode).toBe(
      403,
    );
    const me = await c.tenancy.withTenant(org.id, (db) =>
      db
        .selectFrom('memberships')
        .select('role')
        .where('organization_id', '=', org.id)
        .where('user_id', '=', dir.userId)
        .executeTakeFirstOrThrow(),
    );
    expect(me.role).toBe('directory');
  });

  it('a token created by an admin cannot deprovision an owner (an admin cannot remove one either)', async () => {
    const org = await createOrg(owner.browser, 'scim-own');
    const admin = await addNewMember(owner.browser, org.id, 'admin', 'scim-adm');
    const second = await addNewMember(owner.browser, org.id, 'member', 'scim-own2');
    const promoted = await owner.browser.patch(
      `/v1/members/${second.userId}`,
      { role: 'owner' },
      inOrg(org.id),
    );
    expect(promoted.statusCode, promoted.body).toBe(200);
    const byAdmin = await admin.browser.post('/v1/scim/tokens', {}, inOrg(org.id));
    expect(byAdmin.statusCode, byAdmin.body).toBe(201);
    const scim = scimClient(c, byAdmin.json<{ secret: string }>().secret);
    await verifySuiteDomain(org.id);
    const linked = await scim.post('/Users', userBody(second.email));
    expect(linked.statusCode, linked.body).toBe(201);
    const id = linked.json<{ id: string }>().id;
    const off = await scim.patch(`/Users/${id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(off.statusCode, off.body).toBe(400);
    expect((await scim.delete(`/Users/${id}`)).statusCode).toBe(400);
    expect((await second.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(200);
    // An owner's token may: the directory then speaks with an owner's authority.
    const ownerScim = await newScimClient(c, owner, org.id);
    expect((await ownerScim.delete(`/Users/${id}`)).statusCode).toBe(204);
    expect((await second.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(404);
  });

  it('a huge startIndex is an empty page, not a 500', async () => {
    const org = await createOrg(owner.browser, 'scim-page');
    const scim = await newScimClient(c, owner, org.id);
    for (const url of ['/Users?startIndex=100000000000000000000', '/Groups?startIndex=9223372036854775807']) {
      const res = await scim.get(url);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ Resources: [], itemsPerPage: 0 });
    }
  });

  it('control characters are taken out of names (they reach the console, exports and the audit chain)', async () => {
    const org = await createOrg(owner.browser, 'scim-ctl');
    const scim = await newScimClient(c, owner, org.id);
    const res = await scim.post('/Users', {
      ...userBody(uniqueEmail('scim-ctl')),
      displayName: 'Ada\u001b[2J\u0007 Lovelace\u202e',
      name: { givenName: 'A\u0008da', familyName: 'Love\r\nlace' },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      displayName: 'Ada[2J Lovelace',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
    });
    const group = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Eng\u001b[31m',
    });
    expect(group.statusCode, group.body).toBe(201);
    expect(group.json()).toMatchObject({ displayName: 'Eng[31m' });
  });

  it('a PatchOp of thousands of operations is refused before it runs (it held the organization lock for seconds)', async () => {
    const org = await createOrg(owner.browser, 'scim-ops');
    const scim = await newScimClient(c, owner, org.id);
    const u = await scim.post('/Users', userBody(uniqueEmail('scim-ops')));
    const id = u.json<{ id: string }>().id;
    const Operations = Array.from({ length: 20000 }, () => ({
      op: 'replace',
      path: 'displayName',
      value: 'x',
    }));
    const res = await scim.patch(`/Users/${id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations,
    });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
    const few = await scim.patch(`/Users/${id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: Operations.slice(0, 100),
    });
    expect(few.statusCode, few.body).toBe(200);
  });
});
