import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  Browser,
  createOrg,
  withoutSeatLimit,
  inOrg,
  invite,
  newPassword,
  nextInvitationToken,
  ORG_NOT_FOUND,
  signUp,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
  type User,
} from './helpers.js';

describe('e2e: invitation edge cases', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  const members = async () =>
    (await owner.browser.get('/v1/members?limit=200', inOrg(org.id))).json<{
      data: { userId: string; email: string; status: string }[];
    }>().data;
  const pendingEmails = async () =>
    (await owner.browser.get('/v1/invitations', inOrg(org.id)))
      .json<{ data: { email: string }[] }>()
      .data.map((i) => i.email);

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'owner');
    org = await createOrg(owner.browser, 'edge');
    await withoutSeatLimit(c, org.id);
  });
  afterAll(() => stopApp(c));

  it('a signed-in user with another email gets 403 INVITATION_EMAIL_MISMATCH naming the invited address', async () => {
    const invitedEmail = uniqueEmail('dora');
    const { token } = await invite(owner.browser, org.id, invitedEmail, 'member');
    const mallory = await signUp(c, 'mallory');
    const res = await mallory.browser.post('/v1/invitations/accept', { token });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({
      error: { code: 'INVITATION_EMAIL_MISMATCH', details: { invitedEmail } },
    });
    expect(res.json<{ error: { message: string } }>().error.message).toContain(invitedEmail);
    // Nothing changed: mallory is not in, the invitation is still pending.
    expect((await mallory.browser.get('/v1/projects', inOrg(org.id))).json()).toEqual(ORG_NOT_FOUND);
    expect((await members()).map((m) => m.userId)).not.toContain(mallory.userId);
    expect(await pendingEmails()).toContain(invitedEmail);
  });

  it('a different email can never join: register-and-accept takes the invitation’s address only', async () => {
    const invitedEmail = uniqueEmail('erin');
    const { token } = await invite(owner.browser, org.id, invitedEmail, 'member');
    const other = uniqueEmail('eve');
    const browser = new Browser(c);
    const withEmail = await browser.post('/v1/invitations/accept-new', {
      token,
      password: newPassword(),
      email: other,
    });
    expect(withEmail.statusCode).toBe(400);
    expect(await pendingEmails()).toContain(invitedEmail);

    const ok = await browser.post('/v1/invitations/accept-new', { token, password: newPassword() });
    expect(ok.statusCode, ok.body).toBe(201);
    expect((await browser.get('/v1/auth/me')).json()).toMatchObject({ user: { email: invitedEmail } });
    const emails = (await members()).map((m) => m.email);
    expect(emails).toContain(invitedEmail);
    expect(emails).not.toContain(other);
  });

  it('a duplicate sign-up with an invited existing email signs nobody in and never accepts the invitation', async () => {
    const frank = await signUp(c, 'frank');
    const { token } = await invite(owner.browser, org.id, frank.email, 'admin');
    const pending = () => members().then((ms) => ms.find((m) => m.userId === frank.userId)?.status);
    expect(await pending()).toBe('pending');

    const dup = await new Browser(c).post('/v1/auth/register', {
      email: frank.email,
      password: newPassword(),
    });
    expect(dup.statusCode).toBe(202);
    expect(dup.json()).toEqual({ status: 'verification_sent' });
    // No session: only the sign-up browser's `sr_signup` cookie, set for a new and a taken address alike.
    expect(String(dup.headers['set-cookie'] ?? '')).not.toMatch(/sr_session=/);

    const newUser = await new Browser(c).post('/v1/invitations/accept-new', {
      token,
      password: newPassword(),
    });
    expect(newUser.statusCode).toBe(409);
    expect(newUser.headers['set-cookie']).toBeUndefined();

    expect(await pending()).toBe('pending');
    expect(await pendingEmails()).toContain(frank.email);
    expect((await frank.browser.get('/v1/organization', inOrg(org.id))).json()).toEqual(ORG_NOT_FOUND);
  });

  it('accepting twice is harmless', async () => {
    const gina = await signUp(c, 'gina');
    const { token } = await invite(owner.browser, org.id, gina.email, 'member');
    const first = await gina.browser.post('/v1/invitations/accept', { token });
    expect(first.statusCode, first.body).toBe(200);
    const second = await gina.browser.post('/v1/invitations/accept', { token });
    expect(second.statusCode, second.body).toBe(200);
    expect(second.json()).toEqual(first.json());
    expect((await members()).filter((m) => m.userId === gina.userId)).toHaveLength(1);

    // Register-and-accept replayed: creates nobody, changes nothing; the new user may still accept.
    const email = uniqueEmail('hank');
    const { token: newToken } = await invite(owner.browser, org.id, email, 'viewer');
    const hank = new Browser(c);
    const made = await hank.post('/v1/invitations/accept-new', { token: newToken, password: newPassword() });
    expect(made.statusCode, made.body).toBe(201);
    const replay = await new Browser(c).post('/v1/invitations/accept-new', {
      token: newToken,
      password: newPassword(),
    });
    expect(replay.statusCode).toBe(409);
    expect(replay.headers['set-cookie']).toBeUndefined();
    const again = await hank.post('/v1/invitations/accept', { token: newToken });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ organizationId: org.id, role: 'viewer' });
    expect((await members()).filter((m) => m.email === email)).toHaveLength(1);
  });

  it('resend kills the old token', async () => {
    const email = uniqueEmail('ivy');
    const { id, token: oldToken } = await invite(owner.browser, org.id, email, 'member');
    const resent = await owner.browser.post(`/v1/invitations/${id}/resend`, {}, inOrg(org.id));
    expect(resent.statusCode, resent.body).toBe(200);
    const newToken = await nextInvitationToken(email);
    expect(newToken).not.toBe(oldToken);

    const stale = await new Browser(c).post('/v1/invitations/accept-new', {
      token: oldToken,
      password: newPassword(),
    });
    expect(stale.statusCode).toBe(404);
    expect(stale.json()).toMatchObject({ error: { code: 'INVITATION_NOT_FOUND' } });
    const fresh = await new Browser(c).post('/v1/invitations/accept-new', {
      token: newToken,
      password: newPassword(),
    });
    expect(fresh.statusCode, fresh.body).toBe(201);
  });

  it('revoke: the token stops working and a pending membership disappears', async () => {
    const jack = await signUp(c, 'jack');
    const { id, token } = await invite(owner.browser, org.id, jack.email, 'member');
    expect((await members()).some((m) => m.userId === jack.userId)).toBe(true);
    const revoked = await owner.browser.delete(`/v1/invitations/${id}`, inOrg(org.id));
    expect(revoked.statusCode, revoked.body).toBe(204);
    expect(await pendingEmails()).not.toContain(jack.email);
    expect((await members()).some((m) => m.userId === jack.userId)).toBe(false);

    const accept = await jack.browser.post('/v1/invitations/accept', { token });
    expect(accept.statusCode).toBe(410);
    expect(accept.json()).toMatchObject({ error: { code: 'INVITATION_REVOKED' } });
    const again = await owner.browser.delete(`/v1/invitations/${id}`, inOrg(org.id));
    expect(again.statusCode).toBe(404);
  });

  it('inviting an existing member or a pending address twice is 409', async () => {
    const kim = await addNewMember(owner.browser, org.id, 'member', 'kim');
    const member = await owner.browser.post(
      '/v1/invitations',
      { email: kim.email, role: 'viewer' },
      inOrg(org.id),
    );
    expect(member.statusCode).toBe(409);
    expect(member.json()).toMatchObject({ error: { code: 'INVITATION_MEMBER_EXISTS' } });
    const own = await owner.browser.post(
      '/v1/invitations',
      { email: owner.email, role: 'viewer' },
      inOrg(org.id),
    );
    expect(own.statusCode).toBe(409);

    const email = uniqueEmail('lee');
    await invite(owner.browser, org.id, email, 'member');
    const twice = await owner.browser.post(
      '/v1/invitations',
      { email: email.toUpperCase(), role: 'admin' },
      inOrg(org.id),
    );
    expect(twice.statusCode).toBe(409);
    expect(twice.json()).toMatchObject({ error: { code: 'INVITATION_ALREADY_PENDING' } });
  });

  it('a PENDING membership grants nothing: 404 by X-Organization, path and switch', async () => {
    const mia = await signUp(c, 'mia');
    await invite(owner.browser, org.id, mia.email, 'admin');
    expect((await members()).find((m) => m.userId === mia.userId)?.status).toBe('pending');

    for (const res of [
      await mia.browser.get('/v1/projects', inOrg(org.id)),
      await mia.browser.get('/v1/organization', inOrg(org.slug)),
      await mia.browser.get(`/v1/orgs/${org.slug}/projects`),
      await mia.browser.get('/v1/projects', { host: `${org.slug}.saasready.test` }),
      await mia.browser.post('/v1/session/switch', { organization: org.id }),
      await mia.browser.post('/v1/session/switch', { organization: org.slug }),
    ]) {
      expect(res.statusCode, res.body).toBe(404);
      expect(res.json()).toEqual(ORG_NOT_FOUND);
    }
    const token = await mia.browser.post('/v1/auth/token', { organizationId: org.id });
    expect(token.statusCode).toBe(404);
    const mine = await mia.browser.get('/v1/organizations');
    expect(mine.json<{ data: { id: string }[] }>().data.map((o) => o.id)).toEqual([mia.personalOrgId]);
  });
});
