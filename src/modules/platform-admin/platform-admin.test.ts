import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../../../test/support/app.js';
import { runCli } from '../../../test/support/cli.js';
import { auditEvents } from '../../../test/support/audit.js';
import type { Composition } from '../../app/compose.js';
import { lastMailTo } from '../auth/auth.test-helpers.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { placeInPooled, placeInSchema } from '../../../test/support/placements.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';

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
    const registered = await post('/v1/auth/register', owner);
    expect(registered.statusCode).toBe(202);
    const admin = await connect(testDb().adminUrl);
    const mail = await lastMailTo(admin, owner.email).finally(() => admin.end());
    const token = new RegExp(`${ORIGIN}/verify-email\\?token=([A-Za-z0-9_-]+)`).exec(mail?.text ?? '')?.[1];
    // From the browser that signed up (its sr_signup cookie), which the link signs in.
    const verified = await post(
      '/v1/auth/verify-email',
      { token },
      cookieOf(registered.headers['set-cookie']),
    );
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
        action: 'organization.reactivated',
        actor: { type: 'user', id: adminId },
        changes: { after: { suspended_at: null } },
      },
    ]);
    for (const e of events) {
      expect(e.requestId).toBeTruthy();
      expect(e.ip).toBeTruthy();
    }
    expect(JSON.stringify(events)).not.toContain(owner.password);
  }, 90_000); // three CLI processes, each loading the CLI's modules (the default 30 s ran out once on a loaded machine)
  it('lists organizations by a case-insensitive search on name or slug, keyset paging kept within the search', async () => {
    const email = `search-admin-${stamp}@example.test`;
    const made = await cli(['admin', 'create', '--email', email]);
    const password = /initial password \(shown once\): (\S+)/.exec(made.out)?.[1];
    const login = await post('/v1/auth/login', { email, password });
    expect(login.statusCode).toBe(200);
    const cookie = cookieOf(login.headers['set-cookie']);
    const list = (query: string) =>
      c.app.inject({ url: `/v1/platform/organizations?${query}`, headers: { cookie } });
    type Listed = { id: string; name: string; slug: string; plan: string; attributes: object };

    // Five matches (by name in any case, or by slug only) among organizations that do not match.
    const marker = `zq${stamp}`;
    const make = (slug: string, name: string) => createBareOrganization(c.tenancy.withTenant, { slug, name });
    const matching = [
      await make(`a-${stamp}-1`, `Alpha ${marker.toUpperCase()} one`),
      await make(`${marker}-slug`, 'Named otherwise'),
      await make(`a-${stamp}-3`, `${marker} three`),
      await make(`a-${stamp}-4`, `Four ${marker}`),
      await make(`a-${stamp}-5`, `five-${marker}-FIVE`),
    ];
    await make(`b-${stamp}-1`, `Other ${stamp}`);
    await make(`b-${stamp}-2`, 'Unrelated');

    const seen: Listed[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const res = await list(
        `q=${encodeURIComponent(marker.toUpperCase())}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<{ data: Listed[]; nextCursor: string | null }>();
      expect(body.data.length).toBeLessThanOrEqual(2);
      seen.push(...body.data);
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    // Every match exactly once, newest first (ids are UUIDv7), nothing else.
    expect(seen.map((o) => o.id)).toEqual(matching.map((o) => o.id).reverse());
    expect(seen[0]).toMatchObject({ plan: 'free', attributes: {} });

    // A plain substring: LIKE wildcards match only themselves.
    const wild = await list(`q=${encodeURIComponent('%')}&limit=200`);
    expect(wild.statusCode).toBe(200);
    expect(wild.json<{ data: Listed[] }>().data.every((o) => `${o.name}${o.slug}`.includes('%'))).toBe(true);
    // An empty search lists everything; a long one is refused by the schema.
    const all = await list('q=&limit=200');
    expect(all.json<{ data: Listed[] }>().data.length).toBeGreaterThanOrEqual(7);
    const long = await list(`q=${'x'.repeat(101)}`);
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });

    // The targeting fields the console edits are in the list.
    const target = matching[2]!.id;
    const patched = await c.app.inject({
      method: 'PATCH',
      url: `/v1/platform/organizations/${target}`,
      payload: { plan: 'enterprise', attributes: { region: 'eu', seats: 12 } },
      headers: { origin: ORIGIN, cookie },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const after = await list(`q=${marker}&limit=200`);
    expect(after.json<{ data: Listed[] }>().data.find((o) => o.id === target)).toMatchObject({
      plan: 'enterprise',
      attributes: { region: 'eu', seats: 12 },
    });
  });
});

/**
 * A database of its own: placing an organization in a schema is DDL (its tables, with foreign keys to
 * public's, lock those), and a placement schema left in the suite's database, even for a moment, is one the
 * runtime role reaches, which other files' exact catalog and grant checks of that database would see.
 */
describe('platform administration: placements', () => {
  let own: ProvisionedDatabase;
  let c: Composition;
  const stamp = Date.now().toString(36);
  const cli = (args: string[]) => runCli(args, {}, own);
  const post = (url: string, payload: unknown, cookie?: string) =>
    c.app.inject({
      method: 'POST',
      url,
      payload: payload as object,
      headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
    });

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_platform_placements');
    c = await buildTestApp({
      database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl },
    });
  });
  afterAll(async () => {
    await c?.app.close();
    await c?.close();
    if (own) await dropProvisioned(own);
  });

  it('lists each organization’s recorded placement: pooled, or its own schema', async () => {
    const email = `placement-admin-${stamp}@example.test`;
    const made = await cli(['admin', 'create', '--email', email]);
    const password = /initial password \(shown once\): (\S+)/.exec(made.out)?.[1];
    const login = await post('/v1/auth/login', { email, password });
    expect(login.statusCode).toBe(200);
    const cookie = cookieOf(login.headers['set-cookie']);
    const marker = `pl${stamp}`;
    const make = (slug: string) =>
      createBareOrganization(c.tenancy.withTenant, { slug, name: `${marker} ${slug}` });
    const pooled = await make(`${marker}-pooled`);
    const placed = await make(`${marker}-schema`);
    const db = own;
    // Placed by hand, without a placement move: what the list says comes from the placement itself.
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, placed.id);
    c.tenancy.router.invalidate(placed.id);
    try {
      const res = await c.app.inject({
        url: `/v1/platform/organizations?q=${marker}&limit=200`,
        headers: { cookie },
      });
      expect(res.statusCode, res.body).toBe(200);
      const data = res.json<{ data: { id: string; placement: unknown }[] }>().data;
      expect(Object.fromEntries(data.map((o) => [o.id, o.placement]))).toEqual({
        [pooled.id]: { kind: 'pooled', schema: null, databaseKey: null, state: 'active' },
        [placed.id]: {
          kind: 'schema',
          schema: `t_${placed.id.replaceAll('-', '')}`,
          databaseKey: null,
          state: 'active',
        },
      });
      // The function behind it answers only in a platform administrator's platform scope.
      const runtime = await connect(db.url);
      await expect(
        runtime.query('select * from app_priv_platform_placements($1::uuid[])', [[placed.id]]),
      ).rejects.toThrow(/needs the platform scope/);
      await runtime.end();
    } finally {
      await placeInPooled(db.adminUrl, db.migrationUrl, placed.id);
      c.tenancy.router.invalidate(placed.id);
    }
  });
});
