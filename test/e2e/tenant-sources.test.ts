import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  api,
  BASE_DOMAIN,
  createOrg,
  createProject,
  inOrg,
  ORG_NOT_FOUND,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  uniqueSlug,
  type Browser,
  type E2eApp,
  type User,
} from './helpers.js';

/**
 * Every way a request names its organization. For each, a member of A naming B (which exists, and
 * where the member is not) gets exactly the answer of an organization that does not exist.
 */
describe('e2e: tenant resolution sources', () => {
  let c: E2eApp;
  let ownerA: User;
  let ownerB: User;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let member: { browser: Browser; userId: string };
  let projectA: string;
  const missingSlug = uniqueSlug('nope');
  const missingId = randomUUID();
  const host = (slug: string) => ({ host: `${slug}.${BASE_DOMAIN}` });
  const projectIds = (res: { json: () => unknown }) =>
    (res.json() as { data: { id: string }[] }).data.map((p) => p.id);

  beforeAll(async () => {
    c = await startApp();
    ownerA = await signUp(c, 'owner-a');
    ownerB = await signUp(c, 'owner-b');
    a = await createOrg(ownerA.browser, 'src-a');
    b = await createOrg(ownerB.browser, 'src-b');
    projectA = await createProject(ownerA.browser, a.id, 'In A');
    await createProject(ownerB.browser, b.id, 'In B');
    member = await addNewMember(ownerA.browser, a.id, 'member');
  });
  afterAll(() => stopApp(c));

  /** Same status and byte-identical body as the answer for an organization that does not exist. */
  function expectLikeMissing(res: { statusCode: number; body: string }, missing: { body: string }) {
    expect(res.statusCode, res.body).toBe(404);
    expect(res.body).toBe(missing.body);
    expect(JSON.parse(res.body)).toEqual(ORG_NOT_FOUND);
  }

  it('path /v1/orgs/:slug/projects', async () => {
    const ok = await member.browser.get(`/v1/orgs/${a.slug}/projects`);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(projectIds(ok)).toEqual([projectA]);
    const missing = await member.browser.get(`/v1/orgs/${missingSlug}/projects`);
    expectLikeMissing(await member.browser.get(`/v1/orgs/${b.slug}/projects`), missing);
    // The path wins over a header naming the member's own organization.
    expectLikeMissing(await member.browser.get(`/v1/orgs/${b.slug}/projects`, inOrg(a.id)), missing);
  });

  it('X-Organization: <slug|id>', async () => {
    for (const ref of [a.slug, a.id, a.slug.toUpperCase()]) {
      const ok = await member.browser.get('/v1/projects', inOrg(ref));
      expect(ok.statusCode, ok.body).toBe(200);
      expect(projectIds(ok)).toEqual([projectA]);
    }
    const missing = await member.browser.get('/v1/projects', inOrg(missingSlug));
    expectLikeMissing(await member.browser.get('/v1/projects', inOrg(missingId)), missing);
    expectLikeMissing(await member.browser.get('/v1/projects', inOrg(b.slug)), missing);
    expectLikeMissing(await member.browser.get('/v1/projects', inOrg(b.id)), missing);
    expectLikeMissing(await member.browser.get('/v1/projects', inOrg('not a slug!')), missing);
  });

  it('subdomain Host: <slug>.<baseDomain>', async () => {
    const ok = await member.browser.get('/v1/projects', host(a.slug));
    expect(ok.statusCode, ok.body).toBe(200);
    expect(projectIds(ok)).toEqual([projectA]);
    const missing = await member.browser.get('/v1/projects', host(missingSlug));
    expectLikeMissing(await member.browser.get('/v1/projects', host(b.slug)), missing);
    // Another domain's subdomain selects nothing: the session's organization (A) answers. Nor does
    // the app's own host (the public URL, app.<baseDomain>), nor www/api.
    for (const other of [`${b.slug}.evil.example`, `app.${BASE_DOMAIN}`, `www.${BASE_DOMAIN}`, BASE_DOMAIN]) {
      const res = await member.browser.get('/v1/projects', { host: other });
      expect({ other, status: res.statusCode }).toEqual({ other, status: 200 });
      expect(projectIds(res)).toEqual([projectA]);
    }
  });

  it('session current organization', async () => {
    const ok = await member.browser.get('/v1/projects');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(projectIds(ok)).toEqual([projectA]);
    // The session cannot be pointed at B, whatever is asked.
    const missing = await member.browser.post('/v1/session/switch', { organization: missingSlug });
    expectLikeMissing(await member.browser.post('/v1/session/switch', { organization: b.slug }), missing);
    expectLikeMissing(await member.browser.post('/v1/session/switch', { organization: b.id }), missing);
    expectLikeMissing(await member.browser.post('/v1/session/switch', { organization: missingId }), missing);
    expect(projectIds(await member.browser.get('/v1/projects'))).toEqual([projectA]);

    // A session whose current organization the user has just left answers like a missing one.
    const leaver = await addNewMember(ownerA.browser, a.id, 'viewer', 'leaver');
    expect((await leaver.browser.post('/v1/members/leave')).statusCode).toBe(204);
    expectLikeMissing(await leaver.browser.get('/v1/projects'), missing);
  });

  it('bearer JWT org claim', async () => {
    const { accessToken } = await tokenPair(member.browser, a.id);
    const client = api(c, accessToken);
    const ok = await client.get('/v1/projects');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(projectIds(ok)).toEqual([projectA]);
    expect((await client.get('/v1/projects', inOrg(a.slug))).statusCode).toBe(200);

    // A token is bound to its organization: naming B by any source finds nothing.
    const missing = await client.get('/v1/projects', inOrg(missingSlug));
    expectLikeMissing(await client.get('/v1/projects', inOrg(b.id)), missing);
    expectLikeMissing(await client.get('/v1/projects', inOrg(b.slug)), missing);
    expectLikeMissing(await client.get(`/v1/orgs/${b.slug}/projects`), missing);
    expectLikeMissing(await client.get('/v1/projects', host(b.slug)), missing);

    // A token for B cannot be obtained: same answer as for an organization that does not exist.
    const forMissing = await member.browser.post('/v1/auth/token', { organizationId: missingId });
    const forB = await member.browser.post('/v1/auth/token', { organizationId: b.id });
    expect(forB.statusCode).toBe(404);
    expect(forB.body).toBe(forMissing.body);
  });
});
