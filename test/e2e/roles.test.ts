import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  api,
  createOrg,
  withoutSeatLimit,
  inOrg,
  jwtClaims,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  uniqueEmail,
  type Browser,
  type E2eApp,
  type User,
} from './helpers.js';

describe('e2e: roles take effect at once; escalation refused', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let admin: { browser: Browser; userId: string };
  let member: { browser: Browser; userId: string };
  const roleOf = async (userId: string) =>
    (await owner.browser.get('/v1/members', inOrg(org.id)))
      .json<{ data: { userId: string; role: string }[] }>()
      .data.find((m) => m.userId === userId)?.role;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'owner');
    org = await createOrg(owner.browser, 'roles');
    await withoutSeatLimit(c, org.id);
    admin = await addNewMember(owner.browser, org.id, 'admin');
    member = await addNewMember(owner.browser, org.id, 'member');
  });
  afterAll(() => stopApp(c));

  it('a demotion applies to the very next request: session 403, old JWT 401 TOKEN_STALE, refresh says viewer', async () => {
    const victim = await addNewMember(owner.browser, org.id, 'admin', 'demoted');
    expect((await victim.browser.post('/v1/projects', { name: 'before' })).statusCode).toBe(201);
    const pair = await tokenPair(victim.browser, org.id);
    expect(jwtClaims(pair.accessToken)).toMatchObject({ org: org.id, role: 'admin', sub: victim.userId });
    const client = api(c, pair.accessToken);
    expect((await client.post('/v1/projects', { name: 'by token' })).statusCode).toBe(201);

    const demote = await owner.browser.patch(
      `/v1/members/${victim.userId}`,
      { role: 'viewer' },
      inOrg(org.id),
    );
    expect(demote.statusCode, demote.body).toBe(200);
    expect(demote.json()).toMatchObject({ role: 'viewer' });

    const bySession = await victim.browser.post('/v1/projects', { name: 'after' });
    expect(bySession.statusCode).toBe(403);
    expect(bySession.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await victim.browser.get('/v1/projects')).statusCode).toBe(200);

    const stale = await client.get('/v1/projects');
    expect(stale.statusCode).toBe(401);
    expect(stale.json()).toMatchObject({ error: { code: 'TOKEN_STALE' } });

    const refreshed = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const next = refreshed.json<{ accessToken: string; refreshToken: string }>();
    expect(jwtClaims(next.accessToken)).toMatchObject({ org: org.id, role: 'viewer' });
    const viewer = api(c, next.accessToken);
    rememberSecret(next.refreshToken);
    expect((await viewer.get('/v1/projects')).statusCode).toBe(200);
    expect((await viewer.post('/v1/projects', { name: 'nope' })).statusCode).toBe(403);
  });

  it('self-promotion is refused', async () => {
    const bySelf = await admin.browser.patch(`/v1/members/${admin.userId}`, { role: 'owner' });
    expect(bySelf.statusCode).toBe(403);
    expect(bySelf.json()).toMatchObject({ error: { code: 'MEMBERSHIP_ESCALATION' } });
    const byMember = await member.browser.patch(`/v1/members/${member.userId}`, { role: 'admin' });
    expect(byMember.statusCode).toBe(403);
    expect(await roleOf(admin.userId)).toBe('admin');
    expect(await roleOf(member.userId)).toBe('member');
    // Nor through a custom role holding more than the admin has.
    const custom = await admin.browser.post('/v1/roles', {
      key: 'superuser',
      name: 'Superuser',
      permissions: ['org:delete', 'billing:manage'],
    });
    expect(custom.statusCode).toBe(403);
    expect(custom.json()).toMatchObject({ error: { code: 'MEMBERSHIP_ESCALATION' } });
  });

  it('an admin cannot grant owner, by role change or by invitation', async () => {
    const grant = await admin.browser.patch(`/v1/members/${member.userId}`, { role: 'owner' });
    expect(grant.statusCode).toBe(403);
    expect(grant.json()).toMatchObject({ error: { code: 'MEMBERSHIP_ESCALATION' } });
    expect(await roleOf(member.userId)).toBe('member');
    const inviteOwner = await admin.browser.post('/v1/invitations', {
      email: uniqueEmail('boss'),
      role: 'owner',
    });
    expect(inviteOwner.statusCode).toBe(403);
    expect(inviteOwner.json()).toMatchObject({ error: { code: 'INVITATION_ROLE_NOT_ALLOWED' } });
    // Nor act on the owner.
    const demoteOwner = await admin.browser.patch(`/v1/members/${owner.userId}`, { role: 'viewer' });
    expect(demoteOwner.statusCode).toBe(403);
    expect(demoteOwner.json()).toMatchObject({ error: { code: 'MEMBERSHIP_OUTRANKED' } });
  });

  it('the last owner can be neither demoted nor removed', async () => {
    const demote = await owner.browser.patch(`/v1/members/${owner.userId}`, { role: 'admin' }, inOrg(org.id));
    expect(demote.statusCode).toBe(409);
    expect(demote.json()).toMatchObject({ error: { code: 'MEMBERSHIP_LAST_OWNER' } });
    const remove = await owner.browser.delete(`/v1/members/${owner.userId}`, inOrg(org.id));
    expect(remove.statusCode).toBe(409);
    expect(remove.json()).toMatchObject({ error: { code: 'MEMBERSHIP_LAST_OWNER' } });
    const leave = await owner.browser.post('/v1/members/leave', {}, inOrg(org.id));
    expect(leave.statusCode).toBe(409);
    const byAdmin = await admin.browser.delete(`/v1/members/${owner.userId}`);
    expect(byAdmin.statusCode).toBe(403);
    expect(await roleOf(owner.userId)).toBe('owner');
    expect((await owner.browser.get('/v1/organization', inOrg(org.id))).statusCode).toBe(200);
  });
});
