import { describe, expect, it } from 'vitest';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import {
  addNewMember,
  api,
  Browser,
  createOrg,
  withoutSeatLimit,
  createProject,
  enrollTotp,
  expectNoSecretsIn,
  inOrg,
  invite,
  logIn,
  newPassword,
  nextMailedToken,
  rememberSecret,
  secretsSeen,
  signUp,
  startAppAround,
  tokenPair,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';
import { sealAudit } from '../support/audit.js';

/** Every stored audit row of the organizations, all columns, as JSON text (read in each tenant's scope). */
async function storedAuditText(c: E2eApp, orgIds: readonly string[]): Promise<string> {
  const rows: unknown[] = [];
  for (const org of orgIds) {
    await sealAudit(c.tenancy.withTenant, org);
    rows.push(
      ...(await c.tenancy.withTenant(
        org,
        (db) =>
          db
            .selectFrom('audit_events')
            .selectAll()
            .where('organization_id', '=', org)
            .orderBy('seq')
            .execute(),
        { mode: 'read' },
      )),
    );
  }
  return JSON.stringify(rows);
}

describe('e2e: secrets never reach the logs', () => {
  let c: E2eApp;
  startAppAround((started) => (c = started));

  it('after a full flow, no password, cookie, invitation token, refresh token or TOTP secret is logged', async () => {
    // The set is the process's: earlier files of its group remembered secrets too.
    const seenBefore = secretsSeen.size;
    // Sign-up and email verification (the link signs in: `signUp` follows it), login (and a failed one).
    const alice = await signUp(c, 'alice');
    const wrong = rememberSecret(newPassword());
    expect(
      (await new Browser(c).post('/v1/auth/login', { email: alice.email, password: wrong })).statusCode,
    ).toBe(401);
    const { browser: aliceAgain } = await logIn(c, alice.email, alice.password);

    // An organization, an invitation accepted by a newcomer, one by an existing user.
    const org = await createOrg(aliceAgain, 'secretive');
    await withoutSeatLimit(c, org.id);
    const bob = await addNewMember(aliceAgain, org.id, 'admin', 'bob');
    const carol = await signUp(c, 'carol');
    const { token: carolInvite } = await invite(aliceAgain, org.id, carol.email, 'member');
    expect((await carol.browser.post('/v1/invitations/accept', { token: carolInvite })).statusCode).toBe(200);

    // Audited organization changes: a resent then revoked invitation, a role change, a project, settings,
    // an API key (its secret must not reach the log either).
    const daveEmail = uniqueEmail('dave');
    const dave = await invite(aliceAgain, org.id, daveEmail, 'viewer');
    const resent = await aliceAgain.post(`/v1/invitations/${dave.id}/resend`, {}, inOrg(org.id));
    expect(resent.statusCode, resent.body).toBe(200);
    await nextMailedToken(daveEmail, 'accept-invitation');
    expect((await aliceAgain.delete(`/v1/invitations/${dave.id}`, inOrg(org.id))).statusCode).toBe(204);
    const demoted = await aliceAgain.patch(`/v1/members/${carol.userId}`, { role: 'viewer' }, inOrg(org.id));
    expect(demoted.statusCode, demoted.body).toBe(200);
    await createProject(aliceAgain, org.id, 'Classified');
    const updated = await aliceAgain.patch(
      '/v1/organization',
      { name: 'Secretive, Inc.', settings: { theme: 'dark' } },
      inOrg(org.id),
    );
    expect(updated.statusCode, updated.body).toBe(200);
    const key = await aliceAgain.post(
      '/v1/api-keys',
      { name: 'ci', scopes: ['projects:read'] },
      inOrg(org.id),
    );
    expect(key.statusCode, key.body).toBe(201);
    const apiKeySecret = rememberSecret(key.json<{ secret: string }>().secret);
    expect((await api(c, apiKeySecret).get('/v1/projects')).statusCode).toBe(200);

    // API tokens: issue, use, refresh, reuse (refused), revoke.
    const pair = await tokenPair(bob.browser, org.id);
    expect((await api(c, pair.accessToken).get('/v1/projects')).statusCode).toBe(200);
    const refresh = (refreshToken: string) =>
      c.app.inject({ method: 'POST', url: '/v1/auth/token/refresh', payload: { refreshToken } });
    const rotated = (await refresh(pair.refreshToken)).json<{ accessToken: string; refreshToken: string }>();
    rememberSecret(rotated.accessToken);
    rememberSecret(rotated.refreshToken);
    expect((await refresh(pair.refreshToken)).statusCode).toBe(401);
    await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/revoke',
      payload: { refreshToken: rotated.refreshToken },
    });

    // Two-factor: enrol, log in, verify with a TOTP code, then with a recovery code.
    const { secret, recoveryCodes } = await enrollTotp(bob.browser);
    const first = await logIn(c, bob.email, bob.password);
    const verified = await first.browser.post('/v1/auth/two-factor/verify', {
      code: codeFor(secret, Date.now() + 30_000),
    });
    expect(verified.statusCode, verified.body).toBe(200);
    const second = await logIn(c, bob.email, bob.password);
    const byRecovery = await second.browser.post('/v1/auth/two-factor/verify', { code: recoveryCodes[0] });
    expect(byRecovery.statusCode, byRecovery.body).toBe(200);
    // The organization requires two-factor authentication, then no longer (audited, before/after).
    for (const required of [true, false]) {
      const policy = await second.browser.put(
        '/v1/organization/two-factor-policy',
        { required },
        inOrg(org.id),
      );
      expect(policy.statusCode, policy.body).toBe(200);
    }

    // Password change and reset.
    const changed = newPassword();
    const change = await carol.browser.post('/v1/auth/password', {
      currentPassword: carol.password,
      newPassword: changed,
    });
    expect(change.statusCode, change.body).toBe(204);
    expect((await new Browser(c).post('/v1/auth/password-reset', { email: carol.email })).statusCode).toBe(
      202,
    );
    const resetToken = await nextMailedToken(carol.email, 'reset-password');
    const reset = await new Browser(c).post('/v1/auth/password-reset/confirm', {
      token: resetToken,
      password: newPassword(),
    });
    expect(reset.statusCode, reset.body).toBe(204);

    // The flow was logged (so the scan means something), with its context, and leaked nothing.
    expect(c.logs.filter((l) => l.msg === 'request completed').length).toBeGreaterThan(20);
    expect(c.logs.some((l) => l.user_id === bob.userId && l.tenant_id === org.id)).toBe(true);
    expect(secretsSeen.size - seenBefore).toBeGreaterThan(25);
    for (const s of [
      alice.password,
      bob.password,
      carolInvite,
      pair.refreshToken,
      secret,
      recoveryCodes[0]!,
    ]) {
      expect(secretsSeen.has(s)).toBe(true);
    }
    expectNoSecretsIn(c.logs);

    // Nor the audit log: the organization's export (as its owner) and every stored row of every
    // organization the flow touched, personal ones included.
    const exported = await aliceAgain.get('/v1/audit-logs/export', inOrg(org.id));
    expect(exported.statusCode).toBe(200);
    const actions = exported.body
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { action: string }).action);
    for (const action of [
      'organization.created',
      'member.invited',
      'invitation.accepted',
      'member.joined',
      'invitation.resent',
      'invitation.revoked',
      'member.role_changed',
      'project.created',
      'organization.updated',
      'organization.two_factor_requirement_changed',
    ]) {
      expect(actions, action).toContain(action);
    }
    expect(actions.filter((a) => a.startsWith('api_key.'))).not.toEqual([]);
    const stored = await storedAuditText(c, [org.id, alice.personalOrgId, carol.personalOrgId]);
    expect(stored).toContain('organization.created');
    expectNoSecretsIn([{ export: exported.body }, { stored }]);
    expect(secretsSeen.has(apiKeySecret)).toBe(true);
  });
});
