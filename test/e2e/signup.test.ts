import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startApp, stopApp, type E2eApp } from './helpers.js';

describe('e2e: sign-up', () => {
  let c: E2eApp;
  beforeAll(async () => {
    c = await startApp();
  });
  afterAll(() => stopApp(c));

  it('sign-up without invitation creates a Personal Organization owned by the new user', async () => {
    const alice = await signUp(c, 'alice');

    const mine = await alice.browser.get('/v1/organizations');
    expect(mine.statusCode, mine.body).toBe(200);
    expect(mine.json()).toEqual({
      data: [
        {
          id: alice.personalOrgId,
          slug: alice.personalSlug,
          name: expect.any(String) as string,
          personal: true,
          role: 'owner',
        },
      ],
      nextCursor: null,
    });

    // No header, path or subdomain: the session's current organization is the personal one.
    const org = await alice.browser.get('/v1/organization');
    expect(org.statusCode, org.body).toBe(200);
    expect(org.json()).toMatchObject({ id: alice.personalOrgId, slug: alice.personalSlug, personal: true });

    const me = await alice.browser.get('/v1/auth/me');
    expect(me.json()).toMatchObject({
      user: { id: alice.userId, email: alice.email },
      currentOrganizationId: alice.personalOrgId,
    });
    const members = await alice.browser.get('/v1/members');
    expect(members.json()).toMatchObject({
      data: [{ userId: alice.userId, role: 'owner', status: 'active' }],
    });
  });
});
