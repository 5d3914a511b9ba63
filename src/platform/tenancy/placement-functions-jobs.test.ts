import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { publicPlacedReferences } from '../../../test/support/placed-references.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { createMeterCatalog } from '../../modules/usage/meter-catalog.js';
import { allMeters, toDef } from '../../modules/usage/meters.repository.js';
import { createUsageEventsService } from '../../modules/usage/usage-events.service.js';
import { createUsageAggregator, maintainUsagePartitions } from '../../modules/usage/aggregator.js';
import { requeueStuckDeliveries } from '../../modules/webhooks/webhook-sweep.js';
import { createPlatformDb } from '../db/platform-db.js';
import { systemCtx } from './context.js';
import { tenantSchemaName } from './placed-tables.js';
import { billingOrganizations, finalizeInvoice, stripeOrganizations } from './privileged.js';
import { purgeOrganizationBatch, startOrganizationDeletion } from './privileged-deletion.js';
import { dropSchemaAsOwner } from './placement-schema.js';
import { runOrganizationDeletions } from '../../modules/organization-lifecycle/deletion-job.js';
import { retentionPurge, type RetentionPurgeKind } from './privileged-gdpr.js';
import { webhookRetentionPurge } from './privileged-retention.js';
import { createTenancy, type Tenancy } from './tenancy.js';

const DAY = 86_400_000;

/**
 * The worker's cross-tenant jobs with an organization placed in its own schema (migration 0039), beside
 * a pooled one, on a database of their own: usage aggregates, usage partitions and keys, the retention
 * purges, the stuck webhook scan, the period close and Stripe scans, and the organization purge each find
 * the placed organization's rows in its schema, and never touch the pooled one's by mistake.
 */
describe('schema placement: cross-tenant jobs', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let placed: string;
  let pooled: string;
  let schema: string;
  const meter = `t.place.${randomBytes(3).toString('hex')}`;

  const newOrg = async (slug: string) =>
    (
      await createBareOrganization(tenancy.withTenant, {
        slug: `${slug}-${randomBytes(3).toString('hex')}`,
        name: slug,
      })
    ).id;
  const place = async (org: string) => {
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, org);
    tenancy.router.invalidate(org);
  };
  const count = async (nsp: string, table: string, org: string, where = 'true') =>
    (
      await admin.query<{ n: number }>(
        `select count(*)::int as n from "${nsp}"."${table}" where organization_id = $1 and ${where}`,
        [org],
      )
    ).rows[0]!.n;
  /** Runs a purge with a limit of 1 until a call purges less: the limit is shared by every schema. */
  const drain = async (purge: (limit: number) => Promise<number>) => {
    let total = 0;
    for (let i = 0; i < 20; i++) {
      const n = await purge(1);
      total += n;
      if (n < 1) return total;
    }
    throw new Error('the purge did not finish');
  };

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_place_jobs');
    tenancy = createTenancy({ url: own.url, poolSize: 3 });
    admin = await connect(own.adminUrl);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    placed = await newOrg('pj-placed');
    pooled = await newOrg('pj-pooled');
    await place(placed);
    schema = tenantSchemaName(placed);
  }, 120_000);
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('guard: nothing names a placed table of public past the search path (it would ignore the placement)', async () => {
    expect(await publicPlacedReferences(admin)).toEqual([]);
  });

  it('usage events land in its schema and aggregate into its buckets', async () => {
    await admin.query(`insert into meters (key, aggregation, property) values ($1, 'sum', null)`, [meter]);
    const service = createUsageEventsService({
      withTenant: tenancy.withTenant,
      meters: createMeterCatalog({
        load: async () => (await allMeters(createPlatformDb(tenancy.control.pool))).map(toDef),
      }),
      settings: { latenessMs: 7 * DAY, futureMs: 5 * 60_000 },
    });
    const ts = new Date(Date.now() - 60_000).toISOString();
    await service.ingest(systemCtx(placed, 'placement'), [
      { id: 'a', meter, value: '2', timestamp: ts },
      { id: 'b', meter, value: '3', timestamp: ts },
    ]);
    await service.ingest(systemCtx(pooled, 'placement'), [{ id: 'a', meter, value: '7', timestamp: ts }]);
    expect(await count(schema, 'usage_events', placed)).toBe(2);
    expect(await count('public', 'usage_events', placed)).toBe(0);
    const changed: string[] = [];
    const aggregator = createUsageAggregator({
      pool: workerPool,
      latenessMs: 7 * DAY,
      onAggregated: (c) => changed.push(...c.map((x) => x.organizationId)),
    });
    const target = await admin.query<{ x: string }>('select pg_current_xact_id()::text as x');
    // Until the watermark is past the events: a transaction running anywhere on the cluster (other test
    // files share it) holds the snapshot's xmin back meanwhile.
    for (let done = false, until = Date.now() + 40_000; !done;) {
      if (Date.now() > until) throw new Error('the aggregator did not reach the watermark');
      await aggregator.runOnce();
      const h = await admin.query<{ done: boolean }>(
        'select horizon > $1::xid8 as done from usage_aggregator_state',
        [target.rows[0]!.x],
      );
      done = h.rows[0]!.done;
      if (!done) await new Promise((r) => setTimeout(r, 100));
    }
    const buckets = async (nsp: string, org: string) =>
      (
        await admin.query<{ granularity: string; value: string }>(
          `select granularity, value::text from "${nsp}".usage_aggregates where organization_id = $1 and meter = $2
            order by granularity`,
          [org, meter],
        )
      ).rows;
    const sums = (v: string) => ['day', 'hour', 'minute'].map((g) => ({ granularity: g, value: v }));
    expect(await buckets(schema, placed)).toEqual(sums('5'));
    expect(await buckets('public', placed)).toEqual([]);
    expect(await buckets('public', pooled)).toEqual(sums('7'));
    // Both are on the free plan (quotas): both are listed as changed, the placed one from its schema.
    expect([...new Set(changed)].sort()).toEqual([placed, pooled].sort());
  }, 60_000);

  it('partition maintenance keeps the partitions of every schema, and the key purge reads every schema', async () => {
    const ahead = 20;
    const day = new Date(Date.now() + ahead * DAY).toISOString().slice(0, 10).replaceAll('-', '');
    const exists = async (nsp: string) =>
      (
        await admin.query<{ r: string | null }>(`select to_regclass($1)::text as r`, [
          `"${nsp}".usage_events_p${day}`,
        ])
      ).rows[0]!.r !== null;
    expect(await exists(schema)).toBe(false);
    await admin.query(
      `insert into "${schema}".usage_event_keys (organization_id, id, digest, occurred_at)
         values ($1, 'old', '\\x00', now() - interval '30 days'), ($1, 'new', '\\x01', now())`,
      [placed],
    );
    const out = await maintainUsagePartitions(workerPool, {
      latenessMs: 7 * DAY,
      aheadDays: ahead,
      retentionDays: 400,
    });
    expect(await exists(schema)).toBe(true);
    expect(await exists('public')).toBe(true);
    expect(out.keysPurged).toBe(1);
    expect(await count(schema, 'usage_event_keys', placed, `id in ('old', 'new')`)).toBe(1);
    // The new partition of the schema is protected like public's.
    const rls = await admin.query<{ force: boolean; policies: number }>(
      `select c.relforcerowsecurity as force, (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
         from pg_class c where c.oid = $1::regclass`,
      [`"${schema}".usage_events_p${day}`],
    );
    expect(rls.rows[0]).toEqual({ force: true, policies: 1 });
  });

  it('the retention purges find its expired rows in its schema, with a limit shared by the schemas', async () => {
    const old = "now() - interval '400 days'";
    for (const [nsp, org] of [
      [schema, placed],
      ['public', pooled],
    ] as const) {
      await admin.query(
        `insert into "${nsp}".idempotency_keys (organization_id, scope, key, request_hash, response, created_at)
           values ($1, 's', 'k-old', 'h', '{}', ${old}), ($1, 's', 'k-new', 'h', '{}', now())`,
        [org],
      );
      await admin.query(
        `insert into "${nsp}".invitation_sends (organization_id, id, invitation_id, email_normalized, sent_at)
           values ($1, gen_random_uuid(), gen_random_uuid(), 'x@y.test', ${old})`,
        [org],
      );
      await admin.query(
        `insert into "${nsp}".organization_exports (organization_id, id, requested_by, status, expires_at)
           values ($1, gen_random_uuid(), gen_random_uuid(), 'ready', now() - interval '1 day')`,
        [org],
      );
    }
    const cutoff = new Date(Date.now() - 30 * DAY);
    const purge = (kind: RetentionPurgeKind, at = cutoff) =>
      drain((limit) => retentionPurge(workerPool, kind, at, limit));
    expect(await purge('idempotency_keys')).toBe(2);
    expect(await count(schema, 'idempotency_keys', placed)).toBe(1);
    expect(await count('public', 'idempotency_keys', pooled)).toBe(1);
    expect(await purge('invitations')).toBe(2);
    expect(await count(schema, 'invitation_sends', placed)).toBe(0);
    expect(await purge('exports', new Date())).toBe(2);
    expect(await count(schema, 'organization_exports', placed, `status = 'expired'`)).toBe(1);
  });

  it('webhook retention and the stuck delivery scan see its deliveries in its schema', async () => {
    const endpoint = randomUUID();
    const event = randomUUID();
    const delivered = randomUUID();
    await admin.query(
      `insert into "${schema}".webhook_endpoints (organization_id, id, url, event_types, secret)
         values ($1, $2, 'https://hooks.place.test/x', '{organization.updated}', 't1.1.a.b.c')`,
      [placed, endpoint],
    );
    await admin.query(
      `insert into "${schema}".webhook_events (organization_id, id, type, payload, occurred_at, dispatched_at)
         values ($1, $2, 'organization.updated', '{}', now() - interval '60 days', now() - interval '60 days'),
                ($1, $3, 'organization.updated', '{}', now() - interval '60 days', now() - interval '60 days'),
                ($1, gen_random_uuid(), 'organization.updated', '{}', now() - interval '60 days', now() - interval '60 days')`,
      [placed, event, delivered],
    );
    const stuck = randomUUID();
    await admin.query(
      `insert into "${schema}".webhook_deliveries (organization_id, id, event_id, endpoint_id, status, next_attempt_at, updated_at)
         values ($1, $2, $3, $4, 'pending', now() - interval '1 hour', now()),
                ($1, gen_random_uuid(), $5, $4, 'succeeded', null, now() - interval '60 days')`,
      [placed, stuck, event, endpoint, delivered],
    );
    const scan = await workerPool.query<{ organization_id: string; id: string }>(
      `select organization_id, id from worker_api.app_priv_webhook_stuck_deliveries(now() - interval '15 minutes', 100)`,
    );
    expect(scan.rows).toEqual([{ organization_id: placed, id: stuck }]);
    // The sweep itself: claims it in the organization's scope (its schema) and queues its attempt.
    expect(await requeueStuckDeliveries({ workerPool, withTenant: tenancy.withTenant, maxAttempts: 3 })).toBe(
      1,
    );
    expect(
      await count(schema, 'webhook_deliveries', placed, `next_attempt_at > now() - interval '1 minute'`),
    ).toBe(1);
    const cutoff = new Date(Date.now() - 30 * DAY);
    expect(await drain((limit) => webhookRetentionPurge(workerPool, 'deliveries', cutoff, limit))).toBe(1);
    expect(await count(schema, 'webhook_deliveries', placed)).toBe(1);
    // The event the pending delivery refers to stays; the two others (one delivered, now gone) go.
    expect(await drain((limit) => webhookRetentionPurge(workerPool, 'outbox', cutoff, limit))).toBe(2);
    expect(await count(schema, 'webhook_events', placed)).toBe(1);
  });

  it('the period close and the Stripe scan find it, and see its invoices and meter pushes in its schema', async () => {
    await admin.query(`update billing_close_start set starts_on = '2000-01-01'`);
    await admin.query(`update organizations set created_at = '2020-01-01' where id = any ($1)`, [
      [placed, pooled],
    ]);
    const cutoff = new Date().toISOString().slice(0, 10);
    const month = `${cutoff.slice(0, 8)}01`;
    const ids = async () =>
      (await billingOrganizations(workerPool, cutoff, null, 1000))
        .map((o) => o.id)
        .filter((id) => id === placed || id === pooled);
    expect((await ids()).sort()).toEqual([placed, pooled].sort());
    // Invoiced for the last closable month (in its schema): left out; the pooled one is still listed.
    await admin.query(
      `insert into "${schema}".invoices (organization_id, id, currency, period_start, period_end, subtotal, total, lines,
           minor_units, customer_name, issuer)
         values ($1, gen_random_uuid(), 'USD', $2::date - interval '1 month', $2, 0, 0, '[]', 2, 'C', 'I')`,
      [placed, month],
    );
    expect(await ids()).toEqual([pooled]);
    // Finalized in its scope: the draft is found, numbered and updated in its schema.
    const draft = await admin.query<{ id: string }>(
      `select id from "${schema}".invoices where organization_id = $1`,
      [placed],
    );
    await tenancy.withTenant(placed, (t) => finalizeInvoice(t, placed, draft.rows[0]!.id));
    expect(await count(schema, 'invoices', placed, `status = 'finalized' and number like 'INV-%'`)).toBe(1);

    for (const org of [placed, pooled]) {
      await admin.query(`insert into stripe_customers (organization_id, customer_id) values ($1, $2)`, [
        org,
        `cus_${org.slice(-8)}`,
      ]);
    }
    await admin.query(
      `insert into "${schema}".stripe_meter_pushes (organization_id, identifier, subscription_id, meter, event_name,
          customer_id, value, total_after) values ($1, 'i1', 'sub_x', 'm', 'e', 'cus_x', 1, 1)`,
      [placed],
    );
    expect(await stripeOrganizations(workerPool, 'subscribed', new Date(), null, 1000)).toEqual([placed]);
  });

  it('the organization purge empties every placed table of its schema and leaves the others alone', async () => {
    const doomed = await newOrg('pj-doomed');
    await tenancy.withTenant(doomed, (t) =>
      t.insertInto('projects').values({ organization_id: doomed, id: randomUUID(), name: 'p' }).execute(),
    );
    await place(doomed);
    const nsp = tenantSchemaName(doomed);
    await admin.query(
      `insert into "${nsp}".idempotency_keys (organization_id, scope, key, request_hash, response)
         values ($1, 's', 'k', 'h', '{}')`,
      [doomed],
    );
    await admin.query(
      `update organizations set lifecycle_state = 'pending_deletion', deletion_requested_at = now() - interval '31 days',
          deletion_due_at = now() - interval '1 second' where id = $1`,
      [doomed],
    );
    expect(await startOrganizationDeletion(workerPool, doomed, new Date())).toBe(true);
    const tables: string[] = [];
    for (let i = 0; i < 100; i++) {
      const batch = await purgeOrganizationBatch(workerPool, doomed, 1000);
      tables.push(batch.table);
      if (batch.table === 'organizations') break;
    }
    expect(tables.at(-1)).toBe('organizations');
    // Its schema's tables, counted under their bare names as a pooled organization's would be.
    expect(tables).toEqual(expect.arrayContaining(['projects', 'idempotency_keys', 'tenant_placements']));
    expect(tables.some((t) => t.includes('.'))).toBe(false);
    const left = await admin.query<{ n: number }>(
      `select coalesce(sum(c), 0)::int as n from (
         select (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name),
           false, true, '')))[1]::text::int as c
           from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE') x`,
      [nsp],
    );
    expect(left.rows[0]!.n).toBe(0);
    const ledger = await admin.query<{ row_counts: Record<string, number> }>(
      'select row_counts from organization_deletions where id = $1',
      [doomed],
    );
    expect(ledger.rows[0]!.row_counts).toMatchObject({ projects: 1, idempotency_keys: 1, organizations: 1 });
    // The placed and pooled organizations kept their rows.
    expect(await count(schema, 'usage_events', placed)).toBe(2);
    expect(await count('public', 'usage_events', pooled)).toBe(1);
  });

  it('the deletion job drops the emptied schema of a deleted organization (as the owner), once', async () => {
    const doomed = await newOrg('pj-drop');
    await place(doomed);
    const nsp = tenantSchemaName(doomed);
    await admin.query(
      `update organizations set lifecycle_state = 'pending_deletion', deletion_requested_at = now() - interval '31 days',
          deletion_due_at = now() - interval '1 second' where id = $1`,
      [doomed],
    );
    const exists = async () =>
      (await admin.query('select 1 from pg_namespace where nspname = $1', [nsp])).rowCount === 1;
    expect(await exists()).toBe(true);
    const ownerPool = new pg.Pool({ connectionString: own.migrationUrl, max: 1 });
    // The job also finishes the organization the test above started deleting: only this one's are kept.
    const dropped: boolean[] = [];
    try {
      const finished = await runOrganizationDeletions({
        workerPool,
        shredder: { destroyOrganizationKeys: () => Promise.resolve({ destroyed: 0 }) },
        now: () => new Date(),
        organizationChanged: () => {},
        dropPlacementSchema: async (orgId) => {
          const r = await dropSchemaAsOwner(ownerPool, orgId);
          if (orgId === doomed) dropped.push(r);
          return r;
        },
      });
      expect(finished).toContain(doomed);
      expect(await dropSchemaAsOwner(ownerPool, doomed)).toBe(false);
    } finally {
      await ownerPool.end();
    }
    expect(dropped).toEqual([true]);
    expect(await exists()).toBe(false);
    // The other placed organization's schema is still there.
    expect((await admin.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount).toBe(1);
  });
});
