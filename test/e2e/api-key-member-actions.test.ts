import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  createOrg,
  inOrg,
  invite,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  uniqueEmail,
  withoutSeatLimit,
  type Browser,
  type E2eApp,
  type User,
} from './helpers.js';

/**
 * docs/api-keys.md: "the member-management actions (role changes, removals, ownership transfer,
 * invitations) need a signed-in member whatever the key's scopes" (403). These tests hold the invitation
 * routes to that promise, and the resend route to the invite route's rule that nobody hands out a role
 * above their own. They fail today: see each test.
 */
describe('e2e: invitation actions by an API key or above the caller’s role', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let admin: { browser: Browser; userId: string };
  let inviterKey: string;

  const withKey = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    c.app.inject({ method, url, payload, headers: { authorization: `Bearer ${inviterKey}` } });

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'inv-key-owner');
    org = await createOrg(owner.browser, 'invkey');
    await withoutSeatLimit(c, org.id);
    admin = await addNewMember(owner.browser, org.id, 'admin', 'inv-key-admin');
    const res = await owner.browser.post(
      '/v1/api-keys',
      { name: 'inviter', scopes: ['members:invite'] },
      inOrg(org.id),
    );
    expect(res.statusCode, res.body).toBe(201);
    inviterKey = rememberSecret(res.json<{ secret: string }>().secret);
  });
  afterAll(() => stopApp(c));

  it('a key cannot invite, even with a custom role that grants nothing', async () => {
    // The invite route checks the requested role against the actor's permissions; a key's actor has the
    // empty set (invitations.service.ts actorPermissions), and the empty set covers a role granting
    // nothing, so the key's invitation is accepted (201) and mailed under the organization's name.
    const role = await owner.browser.post(
      '/v1/roles',
      { key: 'guest', name: 'Guest', permissions: [] },
      inOrg(org.id),
    );
    expect(role.statusCode, role.body).toBe(201);
    const res = await withKey('POST', '/v1/invitations', { email: uniqueEmail('by-key'), role: 'guest' });
    expect(res.statusCode, res.body).toBe(403);
  });

  it('a key cannot resend (renew and re-mail) an owner’s invitation', async () => {
    const pending = await invite(owner.browser, org.id, uniqueEmail('owner-invitee'), 'owner');
    // resend checks neither the actor's kind nor the invitation's role (invitations.service.ts resend).
    const res = await withKey('POST', `/v1/invitations/${pending.id}/resend`);
    expect(res.statusCode, res.body).toBe(403);
  });

  it('a key cannot revoke an invitation', async () => {
    const pending = await invite(owner.browser, org.id, uniqueEmail('revoke-me'), 'member');
    const res = await withKey('DELETE', `/v1/invitations/${pending.id}`);
    expect(res.statusCode, res.body).toBe(403);
  });

  it('a key cannot list the pending invitations (invitees’ addresses)', async () => {
    await invite(owner.browser, org.id, uniqueEmail('listed'), 'member');
    const res = await withKey('GET', '/v1/invitations');
    expect(res.statusCode, res.body).toBe(403);
  });

  it('an admin cannot renew an invitation whose role is above their own', async () => {
    // An admin may not invite an owner (INVITATION_ROLE_NOT_ALLOWED) but may renew the owner's
    // invitation of one: a new token and a new expiry for an owner seat the admin could not grant.
    const direct = await admin.browser.post(
      '/v1/invitations',
      { email: uniqueEmail('not-by-admin'), role: 'owner' },
      inOrg(org.id),
    );
    expect(direct.json()).toMatchObject({ error: { code: 'INVITATION_ROLE_NOT_ALLOWED' } });
    const pending = await invite(owner.browser, org.id, uniqueEmail('owner-invitee-2'), 'owner');
    const res = await admin.browser.post(`/v1/invitations/${pending.id}/resend`, {}, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(403);
  });
});
