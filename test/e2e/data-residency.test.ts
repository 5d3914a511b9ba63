import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  createProject,
  inOrg,
  signUp,
  signUpPlatformAdmin,
  createOverridableFlag,
  startApp,
  stopApp,
  tenantDatabasesOption,
  uniqueEmail,
  uniqueSlug,
  type E2eApp,
  type User,
} from './helpers.js';

/**
 * Data residency (issue 13): REGIONS names a tenant database per region; an organization created in a
 * region has every row of its placed tables there and nowhere else. Two regions on the test server (`us`,
 * the default, and `eu`), each a migrated database of its own, beside the suite's control database. What
 * an `eu` organization writes through the API (projects, a role, an invitation, an API key, usage events,
 * audit events of all of it) leaves no row in the `us` database in any table with `organization_id`
 * (read from the catalog, so a table added later is checked too), none in the control database's placed
 * tables, and the job queue's rows stay in the control database.
 */
describe('e2e: data residency (REGIONS)', () => {
  let c: E2eApp;
  let us: ProvisionedDatabase;
  let eu: ProvisionedDatabase;
  let control: pg.Client;
  let usAdmin: pg.Client;
  let euAdmin: pg.Client;
  let owner: User;
  let euOrg: { id: string; slug: string };

  /** Every table of `public` with `organization_id` (partitions included) and its rows of `org`. */
  async function rowsByTable(
    client: pg.Client,
    org: string,
    only?: 'placed',
  ): Promise<Record<string, number>> {
    const tables = await client.query<{ name: string }>(
      `select c.relname::text as name from pg_catalog.pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
          and exists (select 1 from pg_catalog.pg_attribute a
                       where a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped)
        order by 1`,
    );
    const directory = new Set(
      Object.keys((await import('../../src/platform/tenancy/placed-tables.js')).DIRECTORY_TABLES),
    );
    const out: Record<string, number> = {};
    for (const { name } of tables.rows) {
      if (only === 'placed' && directory.has(name)) continue;
      const n = await client.query<{ n: number }>(
        `select count(*)::int as n from public.${name} where organization_id = $1`,
        [org],
      );
      out[name] = n.rows[0]!.n;
    }
    return out;
  }
  const nonZero = (counts: Record<string, number>) => Object.entries(counts).filter(([, n]) => n > 0);

  beforeAll(async () => {
    [us, eu] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_region_us', { tenantDatabase: true }),
      provisionDatabase(testDb().superuserUrl, 'sr_region_eu', { tenantDatabase: true }),
    ]);
    c = await startApp({
      tenantDatabases: tenantDatabasesOption(
        { 'us-1': { url: us.url }, 'eu-1': { url: eu.url } },
        { regions: { us: 'us-1', eu: 'eu-1' }, defaultRegion: 'us', maxConnections: 6, poolSize: 3 },
      ),
    });
    control = await connect(testDb().adminUrl);
    usAdmin = await connect(us.adminUrl);
    euAdmin = await connect(eu.adminUrl);
    owner = await signUp(c, 'resident');
  }, 120_000);
  afterAll(async () => {
    await control?.end();
    await usAdmin?.end();
    await euAdmin?.end();
    if (c) await stopApp(c);
    if (us) await dropProvisioned(us);
    if (eu) await dropProvisioned(eu);
  });

  it('lists the regions and the default; refuses a region that is not configured', async () => {
    const list = await owner.browser.get('/v1/regions');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json()).toEqual({ data: [{ name: 'eu' }, { name: 'us' }], default: 'us' });
    const res = await owner.browser.post('/v1/organizations', {
      slug: uniqueSlug('mars'),
      name: 'Mars',
      region: 'mars',
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'ORGANIZATION_REGION_UNKNOWN' } });
  });

  it('creates the personal organization of a sign-up in the default region', async () => {
    const mine = (await owner.browser.get('/v1/organizations')).json<{
      data: { id: string; personal: boolean }[];
    }>();
    const personal = mine.data.find((o) => o.personal)!;
    const placement = await control.query(
      'select kind, database_key from tenant_placements where organization_id = $1',
      [personal.id],
    );
    expect(placement.rows).toEqual([{ kind: 'database', database_key: 'us-1' }]);
    const audit = await usAdmin.query(
      `select action from audit_pending where organization_id = $1
       union all select action from audit_events where organization_id = $1`,
      [personal.id],
    );
    expect(audit.rows).toEqual([{ action: 'organization.created' }]);
  });

  it("keeps every placed row of an eu organization in eu's database, none in us's or the control database", async () => {
    const created = await owner.browser.post('/v1/organizations', {
      slug: uniqueSlug('eu'),
      name: 'EU GmbH',
      region: 'eu',
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ region: 'eu' });
    euOrg = created.json<{ id: string; slug: string }>();
    const got = await owner.browser.get('/v1/organization', inOrg(euOrg.id));
    expect(got.json()).toMatchObject({ id: euOrg.id, region: 'eu' });

    // Writes through the API: a project, a role, an invitation, an API key, a rename, usage events.
    await createProject(owner.browser, euOrg.id, 'EU project');
    const role = await owner.browser.post(
      '/v1/roles',
      { key: 'eu_auditor', name: 'Auditor', permissions: ['org:read'] },
      inOrg(euOrg.id),
    );
    expect(role.statusCode, role.body).toBe(201);
    const invite = await owner.browser.post(
      '/v1/invitations',
      { email: uniqueEmail('eu-guest'), role: 'member' },
      inOrg(euOrg.id),
    );
    expect(invite.statusCode, invite.body).toBe(201);
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'EU CI', scopes: ['projects:read'] },
      inOrg(euOrg.id),
    );
    expect(key.statusCode, key.body).toBe(201);
    const renamed = await owner.browser.patch('/v1/organization', { name: 'EU SE' }, inOrg(euOrg.id));
    expect(renamed.statusCode, renamed.body).toBe(200);
    const admin = await signUpPlatformAdmin(c, 'region-admin');
    const meter = `eu.${randomUUID().slice(0, 8)}`;
    const m = await admin.browser.post('/v1/platform/meters', { key: meter, aggregation: 'count' });
    expect(m.statusCode, m.body).toBe(201);
    // A flag override: its flag is a row of the control database only (the tenant database keeps no
    // foreign key to it, dropControlForeignKeys).
    const flag = `eu-${randomUUID().slice(0, 8)}.beta`;
    await createOverridableFlag(admin.browser, flag);
    const override = await owner.browser.put(`/v1/flags/${flag}/override`, { value: true }, inOrg(euOrg.id));
    expect(override.statusCode, override.body).toBe(200);
    const usage = await owner.browser.post(
      '/v1/usage/events',
      { events: [{ id: 'eu-1', meter, timestamp: new Date().toISOString() }] },
      inOrg(euOrg.id),
    );
    expect(usage.statusCode, usage.body).toBe(200);
    // The audit log reads (and seals) the organization's events: all of them in its region.
    const audit = await owner.browser.get('/v1/audit-logs?limit=50', inOrg(euOrg.id));
    expect(audit.statusCode, audit.body).toBe(200);
    expect(audit.json<{ data: unknown[] }>().data.length).toBeGreaterThanOrEqual(5);

    const inEu = await rowsByTable(euAdmin, euOrg.id, 'placed');
    expect(inEu.projects).toBe(1);
    expect(inEu.roles).toBeGreaterThanOrEqual(1);
    expect((inEu.audit_events ?? 0) + (inEu.audit_pending ?? 0)).toBeGreaterThanOrEqual(5);
    // At least the event sent (the app also records its own metered requests, flushed on a timer).
    expect(inEu.usage_events).toBeGreaterThanOrEqual(1);
    const sent = await euAdmin.query<{ n: number }>(
      'select count(*)::int as n from usage_events where organization_id = $1 and meter = $2',
      [euOrg.id, meter],
    );
    expect(sent.rows[0]!.n).toBe(1);
    expect(inEu.feature_flag_overrides).toBe(1);
    // Nothing of it in the other region, in any table with organization_id (directory tables included).
    expect(nonZero(await rowsByTable(usAdmin, euOrg.id))).toEqual([]);
    // Nor in the control database's placed tables: only its directory rows are there.
    expect(nonZero(await rowsByTable(control, euOrg.id, 'placed'))).toEqual([]);
    const directory = await rowsByTable(control, euOrg.id);
    expect(directory.organizations ?? directory.memberships).toBeDefined();
    expect(directory.memberships).toBe(1);
    expect(directory.invitations).toBe(1);
    expect(directory.api_keys).toBe(1);
  });

  it('leaves no job in the regions’ databases: the queue is the control database’s', async () => {
    for (const admin of [usAdmin, euAdmin]) {
      const q = await admin.query<{ jobs: string | null }>(
        `select to_regclass('graphile_worker._private_jobs')::text as jobs`,
      );
      if (q.rows[0]?.jobs) {
        const n = await admin.query<{ n: number }>(
          'select count(*)::int as n from graphile_worker._private_jobs',
        );
        expect(n.rows[0]!.n).toBe(0);
      }
    }
  });
});
