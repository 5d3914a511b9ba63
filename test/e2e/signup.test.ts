import { describe, expect, it } from 'vitest';
import { sharedMailbox } from '../support/mailbox.js';
import { mailQueueDrained } from '../support/jobs.js';
import { mailText } from '../support/smtp.js';
import {
  Browser,
  createOrg,
  inOrg,
  invite,
  logIn,
  newPassword,
  nextMailedToken,
  ORIGIN,
  signUp,
  startAppAround,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';

describe('e2e: sign-up', () => {
  let c: E2eApp;
  startAppAround((started) => (c = started));

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

  it('a sign-up with an existing address answers like a new one, signs nobody in, and tells the owner', async () => {
    const bob = await signUp(c, 'bob');
    const stranger = new Browser(c);
    const res = await stranger.post('/v1/auth/register', {
      email: bob.email.toUpperCase(),
      password: newPassword(),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ status: 'verification_sent' });
    expect(stranger.cookie).toBeNull();
    const mail = await sharedMailbox().waitFor(
      (m) => m.to.includes(bob.email) && mailText(m.raw).includes('already has one'),
    );
    expect(mailText(mail.raw)).toContain(`${ORIGIN}/reset-password`);
    expect(mailText(mail.raw)).not.toMatch(/token=/);
    // The owner's password and session are untouched.
    expect((await bob.browser.get('/v1/auth/me')).statusCode).toBe(200);
    expect((await logIn(c, bob.email, bob.password)).body.twoFactorRequired).toBe(false);
  });

  it('an unverified account signs in but may not invite, create API keys or mint tokens until it verifies', async () => {
    const email = uniqueEmail('unverified');
    const password = newPassword();
    expect((await new Browser(c).post('/v1/auth/register', { email, password })).statusCode).toBe(202);
    const { browser, body } = await logIn(c, email, password);
    const orgId = body.currentOrganizationId!;
    const me = await browser.get('/v1/auth/me');
    expect(me.json()).toMatchObject({ user: { emailVerified: false } });
    const refusals = [
      await browser.post('/v1/invitations', { email: uniqueEmail('victim'), role: 'member' }, inOrg(orgId)),
      await browser.post('/v1/api-keys', { name: 'k', scopes: ['projects:read'] }, inOrg(orgId)),
      await browser.post('/v1/auth/token', { organizationId: orgId }),
    ];
    for (const r of refusals) {
      expect(r.statusCode, r.body).toBe(403);
      expect(r.json()).toMatchObject({ error: { code: 'EMAIL_NOT_VERIFIED' } });
    }
    // Following the link verifies, ends the session from before verification (it may not have been the
    // mailbox owner's) and signs in afresh; the gate opens on the very next request.
    const token = await nextMailedToken(email, 'verify-email');
    const verified = await browser.post('/v1/auth/verify-email', { token });
    expect(verified.json()).toMatchObject({ signedIn: true, twoFactorRequired: false });
    const ok = await browser.post('/v1/auth/token', { organizationId: orgId });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('60 invitation resends do not send 60 mails: at most 3 per address per hour, then 429', async () => {
    const owner = await signUp(c, 'cannon-owner');
    const org = await createOrg(owner.browser, 'cannon');
    const target = uniqueEmail('cannon-target');
    const { id } = await invite(owner.browser, org.id, target, 'member');
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await owner.browser.post(`/v1/invitations/${id}/resend`, undefined, inOrg(org.id));
      statuses.push(r.statusCode);
      if (r.statusCode === 429) expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(58);
    await mailQueueDrained(target); // the worker has delivered whatever was queued
    const mails = sharedMailbox()
      .all()
      .filter((m) => m.to.includes(target));
    expect(mails.length).toBeGreaterThanOrEqual(1);
    expect(mails.length).toBeLessThanOrEqual(3);
  });
});
