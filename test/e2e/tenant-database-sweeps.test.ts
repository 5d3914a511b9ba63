import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import {
  bootstrapThrowaway,
  dropProvisioned,
  dropThrowaway,
  freePort,
  provisionDatabase,
  type ProvisionedDatabase,
  type ThrowawayDatabase,
} from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { recordAuditEvents, recordBackdatedAuditEvents, sealAudit, systemCtx } from '../support/audit.js';
import { testAuditKey, testAuditService } from '../support/app.js';
import { startApp, stopApp, tenantDatabasesOption, type E2eApp } from './helpers.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import type { AuditService } from '../../src/modules/audit/audit.service.js';
import { verifyOrganizationBySlug } from '../../src/cli/audit-verify.js';
import { CHECKPOINT_TASK, createCheckpointJobHandler } from '../../src/modules/audit/checkpoint-job.js';
import { openTenantDatabaseSweeps } from '../../src/app/compose/tenant-database-sweeps.js';
import { auditChainsToCheckpoint, auditOrganizationsPending } from '../../src/platform/tenancy/privileged.js';
import { RETENTION_TASK } from '../../src/modules/retention/retention.js';
import { testPool } from '../support/pools.js';

/**
 * The job worker's cross-tenant sweeps on tenant databases (`database` placements): an organization whose
 * placed tables are in the tenant database `eu-1` gets its pending audit events sealed by the seal sweep,
 * its chain a checkpoint signed by the checkpoint job (with the control database's key; the CLI verifies it
 * there), and its expired rows (audit events by its plan in the control database) purged by the retention
 * job, each run on `eu-1`'s worker role. The tenant
 * database `bare`, configured without a `workerUrl`, is logged and skipped. A control database of the
 * file's own, so no other file's worker takes the jobs queued here.
 */
describe('tenant databases: checkpoints, the seal sweep and retention', () => {
  let control: ProvisionedDatabase;
  let eu: ProvisionedDatabase;
  /** Configured, never routed to (no organization there): made, not migrated. */
  let bare: ThrowawayDatabase;
  let c: E2eApp;
  /** The test's own tenancy over the same databases: what it records, the app's sealer does not hear. */
  let tenancy: Tenancy;
  let audit: AuditService;
  let admin: pg.Client;
  let euAdmin: pg.Client;
  let leftPending: string;
  const databases = () =>
    tenantDatabasesOption(
      { 'eu-1': { url: eu.url, workerUrl: eu.workerUrl }, bare: { url: bare.url } },
      { regions: { eu: 'eu-1' }, maxConnections: 6, poolSize: 3 },
    );

  /** An organization created in the control database and placed in `key` by hand (its row copied there). */
  async function placedIn(key: 'eu-1', slug: string): Promise<string> {
    const org = (await createBareOrganization(tenancy.withTenant, { slug, name: slug })).id;
    await admin.query(
      `update tenant_placements set kind = 'database', database_key = $2 where organization_id = $1`,
      [org, key],
    );
    tenancy.router.invalidate(org);
    await euAdmin.query('insert into organizations (id, slug, name) values ($1, $2, $3)', [org, slug, slug]);
    return org;
  }
  /** Queues a recurring task now, as its crontab would (no payload but `_cron`'s). */
  const runTask = (task: string) => admin.query(`select graphile_worker.add_job($1, '{}'::json)`, [task]);
  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 12_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = await probe();
      if (got !== undefined) return got;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const pendingOf = (org: string) =>
    count(euAdmin, 'select count(*)::int as n from audit_pending where organization_id = $1', [org]);
  const count = async (client: pg.Client, sql: string, params: unknown[]) =>
    (await client.query<{ n: number }>(sql, params)).rows[0]!.n;

  beforeAll(async () => {
    [control, eu, bare] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_sweeps'),
      provisionDatabase(testDb().superuserUrl, 'sr_sweeps_eu', { tenantDatabase: true }),
      bootstrapThrowaway(testDb().superuserUrl, 'sr_sweeps_bare'),
    ]);
    tenancy = createTenancy({
      url: control.url,
      poolSize: 2,
      tenantDatabases: {
        databases: { 'eu-1': { url: eu.url }, bare: { url: bare.url } },
        maxConnections: 4,
      },
    });
    audit = await testAuditService(tenancy.withTenant);
    admin = await connect(control.adminUrl);
    euAdmin = await connect(eu.adminUrl);
    // Left pending by "a stopped process" before the app starts: its seal sweep runs at its start.
    leftPending = await placedIn('eu-1', 'sweep-seal');
    await recordAuditEvents(tenancy.withTenant, systemCtx(leftPending), 2);
    expect(await pendingOf(leftPending)).toBe(2);
    c = await startApp({
      database: { url: control.url, workerUrl: control.workerUrl, keyVaultUrl: control.keyVaultUrl },
      tenantDatabases: databases(),
    });
  }, 120_000);
  afterAll(async () => {
    if (c) await stopApp(c);
    await admin?.end();
    await euAdmin?.end();
    await tenancy?.close();
    for (const db of [control, eu]) if (db) await dropProvisioned(db);
    if (bare) await dropThrowaway(bare);
  });

  it('skips a tenant database without a workerUrl, with a log line', () => {
    expect(
      c.logs.filter((l) => l.tenant_database === 'bare' && /not swept/.test(String(l.msg))),
    ).toHaveLength(1);
    expect(c.logs.filter((l) => l.tenant_database === 'eu-1' && /not swept/.test(String(l.msg)))).toEqual([]);
  });

  it('seals the pending audit events a stopped process left in a tenant database (the seal sweep)', async () => {
    const org = leftPending;
    await until('the seal sweep', async () => ((await pendingOf(org)) === 0 ? true : undefined));
    expect(
      await count(euAdmin, 'select count(*)::int as n from audit_events where organization_id = $1', [org]),
    ).toBe(2);
  });

  it('signs a checkpoint of a tenant database chain with the control database key; the CLI verifies it', async () => {
    const slug = 'sweep-checkpoint';
    const org = await placedIn('eu-1', slug);
    await recordAuditEvents(tenancy.withTenant, systemCtx(org), 3);
    await runTask(CHECKPOINT_TASK);
    const kid = (await testAuditKey()).kid;
    const row = await until('the checkpoint', async () => {
      const r = await euAdmin.query<{ seq: string; key_id: string; statement_v: number }>(
        'select seq, key_id, statement_v from audit_checkpoints where organization_id = $1',
        [org],
      );
      return r.rows[0];
    });
    expect(row).toEqual({ seq: '3', key_id: kid, statement_v: 2 });
    // Nothing of it in the control database.
    expect(
      await count(admin, 'select count(*)::int as n from audit_checkpoints where organization_id = $1', [
        org,
      ]),
    ).toBe(0);
    const pool = testPool({ connectionString: control.url, max: 2 });
    try {
      const verified = await verifyOrganizationBySlug(pool, await testAuditKey(), slug, [], databases());
      expect(verified).toMatchObject({ valid: true, entriesChecked: 3, checkpointsChecked: 1 });
    } finally {
      await pool.end();
    }
  });

  it('purges expired rows of a tenant database (idempotency keys, audit events by the control plan) and records the run', async () => {
    const org = await placedIn('eu-1', 'sweep-retention');
    // 200 days back, with a checkpoint then: past the free plan's 90 days (its plan in the control database).
    await recordBackdatedAuditEvents(tenancy.withTenant, audit, org, 3, 200, true);
    await recordAuditEvents(tenancy.withTenant, systemCtx(org), 1);
    await sealAudit(tenancy.withTenant, org);
    await euAdmin.query(
      `insert into idempotency_keys (organization_id, scope, key, created_at, request_hash, response)
       values ($1, 'test', 'k-old', now() - interval '400 days', 'h', '{}'::jsonb),
              ($1, 'test', 'k-new', now(), 'h', '{}'::jsonb)`,
      [org],
    );
    await runTask(RETENTION_TASK);
    const event = await until('the retention run on eu-1', async () => {
      const r = await admin.query<{ metadata: unknown }>(
        `select metadata from platform_audit_events
          where action = 'retention.purged' and metadata->>'tenant_database' = 'eu-1'`,
      );
      return r.rows[0];
    });
    // The placed tables' kinds only (sessions and tokens are global: the control database's run).
    const purged = (event.metadata as { purged: { kind: string; deleted: number }[] }).purged;
    expect(purged.map((p) => p.kind)).toEqual([
      'invitations',
      'idempotency_keys',
      'exports',
      'webhook_deliveries',
      'webhook_outbox',
      'audit_events',
    ]);
    expect(purged.find((p) => p.kind === 'idempotency_keys')?.deleted).toBe(1);
    const keys = await euAdmin.query<{ key: string }>(
      'select key from idempotency_keys where organization_id = $1 order by key',
      [org],
    );
    expect(keys.rows).toEqual([{ key: 'k-new' }]);
    const seqs = await euAdmin.query<{ seq: string }>(
      'select seq from audit_events where organization_id = $1 order by seq',
      [org],
    );
    // Audit events up to the old checkpoint, by the organization's plan in the control database (migration
    // 0077; plans other than the copy's: tenant-database-audit-retention.test.ts).
    expect(seqs.rows.map((r) => r.seq)).toEqual(['4']);
    expect(purged.find((p) => p.kind === 'audit_events')?.deleted).toBe(3);
    const pool = testPool({ connectionString: control.url, max: 2 });
    try {
      const verified = await verifyOrganizationBySlug(
        pool,
        await testAuditKey(),
        'sweep-retention',
        [],
        databases(),
      );
      expect(verified).toMatchObject({ valid: true, entriesChecked: 1 });
    } finally {
      await pool.end();
    }
    // The control database's run is recorded too, on its own.
    expect(
      await count(
        admin,
        `select count(*)::int as n from platform_audit_events
          where action = 'retention.purged' and not metadata ? 'tenant_database'`,
        [],
      ),
    ).toBe(1);
  });

  it('logs and skips a tenant database that fails a run; the control database run goes on', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const line of chunk.toString().split('\n'))
            if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const workerPool = testPool({ connectionString: control.workerUrl, max: 1 });
    // Nothing listens there: each connection is refused.
    const down = `postgres://nobody:none@127.0.0.1:${await freePort()}/none`;
    const sweeps = openTenantDatabaseSweeps({
      controlPool: workerPool,
      tenantDatabases: { databases: { down: { workerUrl: down } } },
      log,
    });
    try {
      const asked: string[] = [];
      const checkpoints = sweeps.everywhere('audit checkpoints', ({ pool, log }) =>
        createCheckpointJobHandler({
          chainsToCheckpoint: async (after, limit) => {
            const ids = await auditChainsToCheckpoint(pool, 'k', after, limit);
            asked.push(pool === workerPool ? 'control' : 'down');
            return ids;
          },
          checkpointOrganization: () => Promise.resolve(false),
          log,
        }),
      );
      await checkpoints({}, { tenantId: null, attempt: 1, id: '1' });
      expect(asked).toEqual(['control']);
      expect(
        lines.filter(
          (l) => l.tenant_database === 'down' && l.msg === 'audit checkpoints of a tenant database failed',
        ),
      ).toHaveLength(1);
      const pending = sweeps.merged(
        'the audit seal sweep',
        ({ pool }) =>
          (after, limit) =>
            auditOrganizationsPending(pool, after, limit),
      );
      await expect(pending(null, 500)).resolves.toBeInstanceOf(Array); // the control database's page
      expect(
        lines.filter(
          (l) =>
            l.tenant_database === 'down' &&
            l.msg === 'the audit seal sweep of a tenant database failed (logged at most once a minute)',
        ),
      ).toHaveLength(1);
    } finally {
      await sweeps.close();
      await workerPool.end();
    }
  });
});
