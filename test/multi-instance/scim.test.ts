import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTwoInstances, closeInstances } from '../support/instances.js';
import { createTestOrg } from '../support/tenancy.js';
import { identityFixtures, userCtx } from '../../src/modules/memberships/memberships.test-support.js';
import type { Composition } from '../../src/app/compose.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * Two server instances on one database and one Redis: a user deprovisioned over SCIM through instance A
 * loses the organization on instance B's very next lookup, although B had the membership cached; a SCIM
 * token revoked through A is refused by B on its next request.
 */
describe('SCIM deprovisioning and token revocation across instances', () => {
  let a: Composition;
  let b: Composition;
  beforeAll(async () => {
    [a, b] = await buildTwoInstances();
  });
  afterAll(async () => {
    await closeInstances(a, b);
  });

  it('deprovisioned on A: B’s cached membership is gone at once; a revoked token is refused by B', async () => {
    const fx = identityFixtures(a.tenancy);
    const org = await createTestOrg(a.tenancy, 'scim-bus');
    const owner = await fx.member(org, { role: 'owner' });
    const { token } = await a.services.scim.tokens.create(userCtx(org, owner));
    const secret = token.secret!;
    const scim = (app: Composition, method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown) =>
      app.app.inject({
        method,
        url: `/scim/v2${url}`,
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/scim+json' },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });

    const email = `scim-bus-${Date.now()}@example.test`;
    const created = await scim(a, 'POST', '/Users', { schemas: [USER], userName: email });
    expect(created.statusCode, created.body).toBe(201);
    const userId = created.json<{ id: string }>().id;
    const seen = async () => (await b.services.membershipLookup.activeMembership(org, userId))?.role ?? null;
    expect(await seen()).toBe('member'); // cached on B

    const off = await scim(a, 'PATCH', `/Users/${userId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(off.statusCode, off.body).toBe(200);
    const deadline = Date.now() + 2000;
    while ((await seen()) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await seen()).toBeNull();

    expect((await scim(b, 'GET', '/Users')).statusCode).toBe(200);
    await a.services.scim.tokens.revoke(userCtx(org, owner), token.id);
    expect((await scim(b, 'GET', '/Users')).statusCode).toBe(401);
  });
});
