import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { citusTenantSetter } from '../../src/platform/tenancy/citus-setter.js';
import {
  createOrg,
  createProject,
  inOrg,
  ORG_NOT_FOUND,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';

/**
 * The application built on the Citus tenant setter (TENANT_SETTER=citus: SET LOCAL in explicit
 * transactions, each read BEGIN READ ONLY … COMMIT), run here on plain PostgreSQL: sign-up, an
 * organization and its project, and an owner of another organization reaching for them, answered 404
 * as for what does not exist (test/e2e/cross-tenant.test.ts runs every route so with the pooled setter).
 */
describe('e2e: the app on the Citus tenant setter keeps tenants apart', () => {
  let c: E2eApp;
  let owner: User;
  let attacker: User;
  let b: { id: string; slug: string };
  let projectB: string;

  beforeAll(async () => {
    c = await startApp({ tenantSetter: 'citus' });
    owner = await signUp(c, 'cs-owner');
    attacker = await signUp(c, 'cs-attacker');
    b = await createOrg(owner.browser, 'cs-b');
    projectB = await createProject(owner.browser, b.id, 'secret plans');
  });
  afterAll(async () => {
    await stopApp(c);
  });

  it('is built on the Citus setter', () => {
    expect(c.tenancy.control.setter).toBe(citusTenantSetter);
  });

  it("the owner reads and lists the organization's project", async () => {
    const one = await owner.browser.get(`/v1/projects/${projectB}`, inOrg(b.id));
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json<{ name: string }>().name).toBe('secret plans');
    const list = await owner.browser.get('/v1/projects', inOrg(b.slug));
    expect(list.json<{ data: { id: string }[] }>().data.map((p) => p.id)).toEqual([projectB]);
  });

  it('another organization’s owner: 404 by its header, and by its project id from their own organization', async () => {
    for (const org of [b.id, b.slug]) {
      const res = await attacker.browser.get(`/v1/projects/${projectB}`, inOrg(org));
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual(ORG_NOT_FOUND);
    }
    const own = attacker.personalOrgId;
    const theirs = await attacker.browser.get(`/v1/projects/${projectB}`, inOrg(own));
    const missing = await attacker.browser.get(`/v1/projects/${randomUUID()}`, inOrg(own));
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json()).toEqual(missing.json());
    const patched = await attacker.browser.patch(`/v1/projects/${projectB}`, { name: 'pwned' }, inOrg(own));
    expect(patched.statusCode).toBe(404);
    const list = await attacker.browser.get('/v1/projects', inOrg(own));
    expect(list.json<{ data: { id: string }[] }>().data.map((p) => p.id)).not.toContain(projectB);
    const still = await owner.browser.get(`/v1/projects/${projectB}`, inOrg(b.id));
    expect(still.json<{ name: string }>().name).toBe('secret plans');
  });
});
