import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import {
  Browser,
  createOrg,
  createProject,
  inOrg,
  newPassword,
  nextInvitationToken,
  ORIGIN,
  signUp,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
  type User,
} from './helpers.js';

describe('e2e: invitations with real mail', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let projectId: string;
  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'owner');
    org = await createOrg(owner.browser, 'acme');
    projectId = await createProject(owner.browser, org.id, 'Launch');
  });
  afterAll(() => stopApp(c));

  it('owner invites bob by mail; bob registers-and-accepts and reads the org projects', async () => {
    const bobEmail = uniqueEmail('bob');
    const invited = await owner.browser.post(
      '/v1/invitations',
      { email: bobEmail, role: 'member' },
      inOrg(org.id),
    );
    expect(invited.statusCode, invited.body).toBe(201);
    expect(invited.json()).toMatchObject({ email: bobEmail, role: 'member', status: 'pending' });
    expect(invited.body).not.toMatch(/token/i);

    // The job worker delivers the mail over SMTP; the link carries the token.
    const mail = await sharedMailbox().waitFor((m) => m.to.includes(bobEmail));
    const text = mailText(mail.raw);
    expect(text).toContain('acme inc');
    const link = /(\S+\/accept-invitation\?token=([A-Za-z0-9_-]+))/.exec(text);
    expect(link?.[1]?.startsWith(`${ORIGIN}/accept-invitation?token=`)).toBe(true);
    const token = await nextInvitationToken(bobEmail);
    expect(token).toBe(link![2]);

    const bob = new Browser(c);
    const accepted = await bob.post('/v1/invitations/accept-new', { token, password: newPassword() });
    expect(accepted.statusCode, accepted.body).toBe(201);
    expect(accepted.json()).toEqual({ organizationId: org.id, role: 'member' });
    expect(bob.cookie).not.toBeNull();

    // No Personal Organization for bob: the inviting organization is his only one, and his current one.
    const mine = await bob.get('/v1/organizations');
    expect(mine.json()).toEqual({
      data: [{ id: org.id, slug: org.slug, name: 'acme inc', personal: false, role: 'member' }],
      nextCursor: null,
    });
    const me = await bob.get('/v1/auth/me');
    expect(me.json()).toMatchObject({
      user: { email: bobEmail, emailVerified: true },
      currentOrganizationId: org.id,
    });

    const projects = await bob.get('/v1/projects');
    expect(projects.statusCode, projects.body).toBe(200);
    expect(projects.json<{ data: { id: string }[] }>().data.map((p) => p.id)).toEqual([projectId]);
    const members = await owner.browser.get('/v1/members', inOrg(org.id));
    expect(members.json<{ data: { email: string; status: string }[] }>().data).toContainEqual(
      expect.objectContaining({ email: bobEmail, status: 'active', role: 'member' }),
    );
    const pending = await owner.browser.get('/v1/invitations', inOrg(org.id));
    expect(pending.json<{ data: { email: string }[] }>().data.map((i) => i.email)).not.toContain(bobEmail);
  });

  it('an existing user accepts through /v1/invitations/accept while signed in', async () => {
    const carol = await signUp(c, 'carol');
    const invited = await owner.browser.post(
      '/v1/invitations',
      { email: carol.email.toUpperCase(), role: 'viewer' },
      inOrg(org.id),
    );
    expect(invited.statusCode, invited.body).toBe(201);
    const token = await nextInvitationToken(carol.email);

    // Not yet accepted: the organization is not carol's.
    expect((await carol.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(404);

    const accepted = await carol.browser.post('/v1/invitations/accept', { token });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toEqual({ organizationId: org.id, role: 'viewer' });

    const projects = await carol.browser.get('/v1/projects', inOrg(org.id));
    expect(projects.statusCode, projects.body).toBe(200);
    expect(projects.json<{ data: { id: string }[] }>().data.map((p) => p.id)).toEqual([projectId]);
    // Still in her own organization by default; both are listed.
    expect((await carol.browser.get('/v1/organization')).json()).toMatchObject({ id: carol.personalOrgId });
    const mine = await carol.browser.get('/v1/organizations');
    expect(mine.json<{ data: { id: string; role: string }[] }>().data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: org.id, role: 'viewer' }),
        expect.objectContaining({ id: carol.personalOrgId, role: 'owner' }),
      ]),
    );
    // A viewer reads but does not write.
    expect((await carol.browser.post('/v1/projects', { name: 'x' }, inOrg(org.id))).statusCode).toBe(403);
  });
});
