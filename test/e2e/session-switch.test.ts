import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  createOrg,
  createProject,
  inOrg,
  invite,
  logIn,
  ORG_NOT_FOUND,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';

describe('e2e: POST /v1/session/switch', () => {
  let c: E2eApp;
  let owner: User;
  let user: User;
  let team: { id: string; slug: string };
  let teamProject: string;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'owner');
    user = await signUp(c, 'user');
    team = await createOrg(owner.browser, 'team');
    teamProject = await createProject(owner.browser, team.id, 'Team project');
    const { token } = await invite(owner.browser, team.id, user.email, 'member');
    expect((await user.browser.post('/v1/invitations/accept', { token })).statusCode).toBe(200);
  });
  afterAll(() => stopApp(c));

  it('rotates the cookie (the old one stops working) and changes the current organization', async () => {
    const before = user.browser.clone();
    expect((await user.browser.get('/v1/organization')).json()).toMatchObject({ id: user.personalOrgId });

    const res = await user.browser.post('/v1/session/switch', { organization: team.slug });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ currentOrganizationId: team.id });
    expect(user.browser.cookie).not.toBeNull();
    expect(user.browser.cookie).not.toBe(before.cookie);

    // The old cookie is dead everywhere; the new one acts in the team.
    for (const r of [await before.get('/v1/auth/me'), await before.get('/v1/projects')]) {
      expect(r.statusCode).toBe(401);
    }
    expect((await user.browser.get('/v1/organization')).json()).toMatchObject({ id: team.id });
    const projects = await user.browser.get('/v1/projects');
    expect(projects.json<{ data: { id: string }[] }>().data.map((p) => p.id)).toEqual([teamProject]);
    expect((await user.browser.get('/v1/auth/me')).json()).toMatchObject({ currentOrganizationId: team.id });

    // Switching by id works as well, and back.
    const back = await user.browser.post('/v1/session/switch', { organization: user.personalOrgId });
    expect(back.json()).toEqual({ currentOrganizationId: user.personalOrgId });
    expect((await user.browser.post('/v1/session/switch', { organization: team.id })).statusCode).toBe(200);
  });

  it('the last organization is restored at the next login', async () => {
    expect((await user.browser.post('/v1/auth/logout')).statusCode).toBe(204);
    expect(user.browser.cookie).toBeNull();
    const { browser, body } = await logIn(c, user.email, user.password);
    expect(body).toMatchObject({ twoFactorRequired: false, currentOrganizationId: team.id });
    expect((await browser.get('/v1/organization')).json()).toMatchObject({ id: team.id });
    user.browser = browser;
  });

  it('removed from the last organization, login falls back to another membership', async () => {
    const removed = await owner.browser.delete(`/v1/members/${user.userId}`, inOrg(team.id));
    expect(removed.statusCode, removed.body).toBe(204);

    // The open session's organization is gone at once (as for any organization not the user's).
    expect((await user.browser.get('/v1/projects')).statusCode).toBe(404);

    const { browser, body } = await logIn(c, user.email, user.password);
    expect(body).toMatchObject({ twoFactorRequired: false, currentOrganizationId: user.personalOrgId });
    const org = await browser.get('/v1/organization');
    expect(org.statusCode, org.body).toBe(200);
    expect(org.json()).toMatchObject({ id: user.personalOrgId });
    const mine = await browser.get('/v1/organizations');
    expect(mine.json<{ data: { id: string }[] }>().data.map((o) => o.id)).toEqual([user.personalOrgId]);
    // And switching back to the team is refused like a missing organization.
    expect((await browser.post('/v1/session/switch', { organization: team.id })).statusCode).toBe(404);
  });

  it('a user left with no organization at all still logs in, with no current organization', async () => {
    // Invited newcomers have no Personal Organization: once removed from the team they have none.
    const newcomer = await addNewMember(owner.browser, team.id, 'member', 'newcomer');
    const removed = await owner.browser.delete(`/v1/members/${newcomer.userId}`, inOrg(team.id));
    expect(removed.statusCode).toBe(204);
    const { browser, body } = await logIn(c, newcomer.email, newcomer.password);
    expect(body).toMatchObject({ twoFactorRequired: false, currentOrganizationId: null });
    expect((await browser.get('/v1/organization')).json()).toEqual(ORG_NOT_FOUND);
    expect((await browser.get('/v1/organizations')).json()).toEqual({ data: [], nextCursor: null });
  });
});
