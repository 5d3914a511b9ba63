import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../../../test/support/app.js';
import { runCli } from '../../../test/support/cli.js';
import { auditEvents } from '../../../test/support/audit.js';
import type { Composition } from '../../app/compose.js';
import { lastMailTo } from '../auth/auth.test-helpers.js';
import { connect, testDb } from '../../../test/support/tenancy.js';

const ORIGIN = 'http://app.saasready.test';

function cookieOf(setCookie: string | string[] | undefined): string {
  const first = [setCookie ?? []].flat()[0] ?? '';
  return first.split(';')[0] ?? '';
}

const cli = (args: string[]) => runCli(args);

describe('platform administration', () => {
  let c: Composition;
  const stamp = Date.now().toString(36);
  const owner = { email: `owner-${stamp}@example.test`, password: 'correct horse battery staple 1' };
  const adminEmail = `admin-${stamp}@example.test`;

  const post = (url: string, payload: unknown, cookie?: string) =>
    c.app.inject({
      method: 'POST',
      url,
      payload: payload as object,
      headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
    });

  beforeAll(async () => {
    c = await buildTestApp();
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('`saasready admin create` makes a platform administrator; org owners are not platform administrators', async () => {
    // Over HTTP, so the Personal Organization's creation is audited with the request's context.
    expect((await post('/v1/auth/register', owner)).statusCode).toBe(202);
    const admin = await connect(testDb().adminUrl);
    const mail = await lastMailTo(admin, owner.email).finally(() => admin.end());
    const token = new RegExp(`${ORIGIN}/verify-email\\?token=([A-Za-z0-9_-]+)`).exec(mail?.text ?? '')?.[1];
    const verified = await post('/v1/auth/verify-email', { token });
    expect(verified.statusCode).toBe(200);
    const ownerCookie = cookieOf(verified.headers['set-cookie']);
    const reg = { orgId: verified.json<{ currentOrganizationId: string }>().currentOrganizationId };
    const denied = await c.app.inject({
      url: '/v1/platform/organizations',
      headers: { cookie: ownerCookie },
    });
    expect(denied.statusCode).toBe(403);

    const made = await cli(['admin', 'create', '--email', adminEmail]);
    expect(made.code).toBe(0);
    const password = /initial password \(shown once\): (\S+)/.exec(made.out)?.[1];
    expect(password).toBeTruthy();
    const again = await cli(['admin', 'create', '--email', adminEmail.toUpperCase()]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/is now a platform administrator/);
    const bad = await cli(['admin', 'create']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/usage/);

    const login = await post('/v1/auth/login', { email: adminEmail, password });
    expect(login.statusCode).toBe(200);
    const adminCookie = cookieOf(login.headers['set-cookie']);
    const list = await c.app.inject({
      url: '/v1/platform/organizations?limit=200',
      headers: { cookie: adminCookie },
    });
    expect(list.statusCode).toBe(200);
    const orgs = list.json<{ data: { id: string; members: number; personal: boolean }[] }>().data;
    const ownerOrg = reg.orgId;
    expect(orgs.find((o) => o.id === ownerOrg)).toMatchObject({ members: 1, personal: true });

    // Suspension: the owner's tenant routes answer 403 ORGANIZATION_SUSPENDED, then work again.
    expect((await c.app.inject({ url: '/v1/projects', headers: { cookie: ownerCookie } })).statusCode).toBe(
      200,
    );
    const s = await post(`/v1/platform/organizations/${ownerOrg}/suspend`, undefined, adminCookie);
    expect(s.statusCode).toBe(204);
    const blocked = await c.app.inject({ url: '/v1/projects', headers: { cookie: ownerCookie } });
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json()).toMatchObject({ error: { code: 'ORGANIZATION_SUSPENDED' } });
    expect(
      (await post(`/v1/platform/organizations/${ownerOrg}/unsuspend`, undefined, adminCookie)).statusCode,
    ).toBe(204);
    expect((await c.app.inject({ url: '/v1/projects', headers: { cookie: ownerCookie } })).statusCode).toBe(
      200,
    );
    const missing = await post(
      '/v1/platform/organizations/00000000-0000-7000-8000-000000000000/suspend',
      undefined,
      adminCookie,
    );
    expect(missing.statusCode).toBe(404);
    // The owner cannot suspend anything.
    expect(
      (await post(`/v1/platform/organizations/${ownerOrg}/suspend`, undefined, ownerCookie)).statusCode,
    ).toBe(403);

    // In the organization's own audit chain: its creation at sign-up (by the owner), then the suspension
    // and reactivation by the platform administrator, with the request's context.
    const me = (cookie: string) =>
      c.app
        .inject({ url: '/v1/auth/me', headers: { cookie } })
        .then((r) => r.json<{ user: { id: string } }>().user.id);
    const [ownerId, adminId] = [await me(ownerCookie), await me(adminCookie)];
    const events = await auditEvents(c.tenancy.withTenant, ownerOrg);
    expect(events).toMatchObject([
      {
        action: 'organization.created',
        actor: { type: 'user', id: ownerId },
        target: { type: 'organization', id: ownerOrg },
        metadata: { personal: true, owner: ownerId },
      },
      {
        action: 'organization.suspended',
        actor: { type: 'user', id: adminId },
        target: { type: 'organization', id: ownerOrg },
        changes: { before: { suspended_at: null } },
        metadata: { via: 'platform' },
      },
      {
        action: 'organization.unsuspended',
        actor: { type: 'user', id: adminId },
        changes: { after: { suspended_at: null } },
      },
    ]);
    for (const e of events) {
      expect(e.requestId).toBeTruthy();
      expect(e.ip).toBeTruthy();
    }
    expect(JSON.stringify(events)).not.toContain(owner.password);
  });
});
