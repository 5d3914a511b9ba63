import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { deleteOrganization } from '../../src/modules/organization-lifecycle/deletion-job.js';
import { purgeInTenantDatabase } from '../../src/app/compose/tenant-database-purge.js';
import { sql } from 'kysely';
import { uuidv7 } from '../../src/platform/ids.js';
import { insertDraft } from '../../src/modules/billing/invoices.repository.js';
import { createTestOrg, createTestTenancy } from '../support/tenancy.js';
import {
  createProject,
  inOrg,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  uniqueSlug,
  answerWithLogs,
  type E2eApp,
  type User,
} from './helpers.js';
import { testPool } from '../support/pools.js';

/**
 * What a hostile review of data residency (REGIONS) found, each test failing before its fix: a slug freed by
 * a region organization blocked by its tenant database's copy of the row, an Idempotency-Key replayed with
 * another region answered 500, a deleted region organization's rows left in its region's database, and
 * invoice numbers chosen by the caller outside a database placement. Two regions, `us` (the default) and
 * `eu`, each a migrated database of its own, beside the suite's control database. Fixed too: the usage
 * aggregation, which ran on the control database only, and (test/e2e/flags-database-placement.test.ts) a
 * deleted flag's overrides in a tenant database.
 */
describe('data residency: review findings', () => {
  let c: E2eApp;
  let us: ProvisionedDatabase;
  let eu: ProvisionedDatabase;
  let euAdmin: pg.Client;
  let owner: User;

  beforeAll(async () => {
    [us, eu] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_review_us', { tenantDatabase: true }),
      provisionDatabase(testDb().superuserUrl, 'sr_review_eu', { tenantDatabase: true }),
    ]);
    c = await startApp({
      tenantDatabases: {
        databases: {
          'us-1': { url: us.url, workerUrl: us.workerUrl },
          'eu-1': { url: eu.url, workerUrl: eu.workerUrl },
        },
        regions: { us: 'us-1', eu: 'eu-1' },
        defaultRegion: 'us',
        maxConnections: 6,
        poolSize: 3,
        idleTimeoutMs: 30_000,
        acquireTimeoutMs: 5_000,
      },
    });
    euAdmin = await connect(eu.adminUrl);
    owner = await signUp(c, 'region-review');
  }, 120_000);
  afterAll(async () => {
    await euAdmin?.end();
    if (c) await stopApp(c);
    if (us) await dropProvisioned(us);
    if (eu) await dropProvisioned(eu);
  });

  it('a slug given up by a renamed eu organization can be taken by a new eu organization', async () => {
    const slug = uniqueSlug('reuse');
    const first = await owner.browser.post('/v1/organizations', { slug, name: 'First', region: 'eu' });
    expect(first.statusCode, first.body).toBe(201);
    const renamed = await owner.browser.patch(
      '/v1/organization',
      { slug: uniqueSlug('renamed') },
      inOrg(first.json<{ id: string }>().id),
    );
    expect(renamed.statusCode, renamed.body).toBe(200);
    // The slug is free in the control database (GET by slug finds nothing), yet the eu database's stale
    // copy of the first organization's row still holds it under its own unique constraint.
    const second = await owner.browser.post('/v1/organizations', { slug, name: 'Second', region: 'eu' });
    expect(second.statusCode, answerWithLogs(c, second)).toBe(201);
  });

  it('an Idempotency-Key reused with another region is refused as a different request', async () => {
    const key = randomUUID();
    const slug = uniqueSlug('idem');
    const body = { slug, name: 'Keyed', region: 'eu' };
    const first = await owner.browser.post('/v1/organizations', body, { 'idempotency-key': key });
    expect(first.statusCode, first.body).toBe(201);
    const replay = await owner.browser.post('/v1/organizations', body, { 'idempotency-key': key });
    expect(replay.json<{ id: string }>().id).toBe(first.json<{ id: string }>().id);
    // Same key, another region: the replay's scope is opened on us's database (creatingIn), which holds
    // no record of the key, so the answer claims the key "has expired" instead of naming the mismatch.
    const other = await owner.browser.post(
      '/v1/organizations',
      { ...body, region: 'us' },
      { 'idempotency-key': key },
    );
    expect(other.statusCode, answerWithLogs(c, other)).toBe(422);
    expect(other.json<{ error: { message: string } }>().error.message).toMatch(/different request/);
  });

  it("aggregates an eu organization's usage events in eu's database (its summary reads them)", async () => {
    const admin = await signUpPlatformAdmin(c, 'region-usage-admin');
    const meter = `rr.${randomUUID().slice(0, 8)}`;
    const m = await admin.browser.post('/v1/platform/meters', { key: meter, aggregation: 'count' });
    expect(m.statusCode, m.body).toBe(201);
    const created = await owner.browser.post('/v1/organizations', {
      slug: uniqueSlug('usage'),
      name: 'Usage',
      region: 'eu',
    });
    expect(created.statusCode, created.body).toBe(201);
    const org = created.json<{ id: string }>().id;
    const now = new Date();
    const sent = await owner.browser.post(
      '/v1/usage/events',
      { events: [{ id: 'rr-1', meter, timestamp: now.toISOString() }] },
      inOrg(org),
    );
    expect(sent.statusCode, sent.body).toBe(200);
    // The composition's aggregator of the eu database (every 5 s here) aggregates it there.
    const day = now.toISOString().slice(0, 10);
    const to = new Date(Date.parse(day) + 86_400_000).toISOString();
    await expect
      .poll(
        async () => {
          const summary = await owner.browser.get(
            `/v1/usage/summary?meter=${meter}&from=${day}T00:00:00.000Z&to=${to}&granularity=day`,
            inOrg(org),
          );
          return summary.json<{ buckets?: { events: number }[] }>().buckets?.[0]?.events ?? 0;
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(1);
    const aggregates = await euAdmin.query('select 1 from usage_aggregates where organization_id = $1', [
      org,
    ]);
    expect(aggregates.rowCount).toBeGreaterThan(0);
  });

  it("deleting an eu organization deletes its rows in eu's database", async () => {
    const slug = uniqueSlug('gone');
    const created = await owner.browser.post('/v1/organizations', { slug, name: 'Gone', region: 'eu' });
    expect(created.statusCode, created.body).toBe(201);
    const org = created.json<{ id: string }>().id;
    await createProject(owner.browser, org, 'Doomed project');
    expect((await owner.browser.delete('/v1/organization', inOrg(org))).statusCode).toBe(202);
    const admin = await signUpPlatformAdmin(c, 'region-review-admin');
    const expedite = await admin.browser.post(`/v1/platform/organizations/${org}/expedite-deletion`, {
      confirmSlug: slug,
    });
    expect(expedite.statusCode, expedite.body).toBe(200);
    const workerPool = testPool({ connectionString: testDb().workerUrl, max: 2 });
    try {
      const done = await deleteOrganization(
        {
          workerPool,
          shredder: c.services.tenantKeyShredder,
          now: () => new Date(),
          organizationChanged: (id) => c.services.organizationPolicies.invalidate(id),
          // As the composition's deletion job does it (its tenant database's worker role).
          purgeTenantDatabase: (id, batch) =>
            purgeInTenantDatabase(
              c.tenancy,
              { tenantDatabases: { databases: { 'eu-1': { workerUrl: eu.workerUrl } } } },
              id,
              batch,
            ),
        },
        { organizationId: org, phase: 'due' },
      );
      expect(done).toBe(true);
    } finally {
      await workerPool.end();
    }
    const left = await euAdmin.query<{ t: string; n: number }>(
      `select 'projects' as t, count(*)::int as n from projects where organization_id = $1
       union all select 'organizations', count(*)::int from organizations where id = $1
       union all select 'audit', (select count(*)::int from audit_events where organization_id = $1)
                                + (select count(*)::int from audit_pending where organization_id = $1)`,
      [org],
    );
    expect(left.rows.filter((r) => r.n > 0)).toEqual([]);
  });
});

/**
 * Migration 0071's 3-argument app_invoice_finalize takes the invoice number from its caller. It is granted
 * to the runtime role on the control database too, outside any database placement, so any tenant scope
 * can finalize its draft with a number of its choosing (another organization's, or one the counter will
 * hand out later): the deployment-wide uniqueness that migration 0047 rests on the counter is gone.
 */
describe('invoice numbers: the 3-argument finalization', () => {
  it('refuses a number the caller chose in a scope that is not a database placement', async () => {
    const tenancy = createTestTenancy(2);
    try {
      const b = await createTestOrg(tenancy, 'inv-b');
      // Any number (no finalization here: the suite's counter is shared by files that check for gaps).
      const taken = 'INV-000001';
      const forged = 1;
      class Undo extends Error {}
      let outcome: unknown;
      await tenancy
        .withTenant(b, async (db) => {
          const id = uuidv7();
          await insertDraft(db, {
            organization_id: b,
            id,
            currency: 'EUR',
            period_start: '2026-01-01',
            period_end: '2026-02-01',
            subtotal: 0,
            total: 0,
            lines: [],
            minor_units: 2,
            customer_name: 'B',
            issuer: 'saasready.test',
          });
          outcome = await sql<{
            number: string;
          }>`select number from app_invoice_finalize(${b}, ${id}, ${forged}::bigint)`
            .execute(db)
            .then((r) => r.rows[0]?.number)
            .catch((err: unknown) => err);
          throw new Undo(); // nothing of it is kept
        })
        .catch((err: unknown) => {
          if (!(err instanceof Undo)) throw err;
        });
      // Today: B's invoice is finalized as A's number.
      expect(outcome).not.toBe(taken);
      expect(outcome).toMatchObject({ code: '42501' });
    } finally {
      await tenancy.close();
    }
  });
});
