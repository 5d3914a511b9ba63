import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { routeAuthTable } from '../../src/platform/http/auth.js';
import { createTenantTable } from '../../src/platform/tenancy/migration-helpers.js';
import { closeJanuary } from '../../src/modules/billing/invoice-fixture.test-support.js';
import {
  runOrganizationDeletions,
  type DeletionJobDeps,
} from '../../src/modules/organization-lifecycle/deletion-job.js';
import type { TenantKeyShredder } from '../../src/platform/tenant-keys/contract.js';
import { sealAudit } from '../support/audit.js';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import { connect, testDb } from '../support/tenancy.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import {
  addNewMember,
  api,
  createOrg,
  createProject,
  inOrg,
  ORG_NOT_FOUND,
  rememberSecret,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type Method,
  type User,
} from './helpers.js';

/** The error code of a JSON error body; null for anything else (a PDF, JSON Lines, a success). */
function errorCode(body: string): string | null {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? null;
  } catch {
    return null;
  }
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Issue 12: the organization lifecycle and the deletion workflow, end to end on the real database: the
 * owner schedules (mails, read-only), cancels (mails), a platform administrator expedites (typed slug,
 * platform chain), and the deletion job deletes every row of the organization in every table that has an
 * organization_id (found in the catalog: a table added by a migration at test time included), resumes
 * after a crash, destroys the data keys and appends the deletion record to the platform chain. The
 * lifecycle rules are checked on every tenant route of the app.
 */
describe('e2e: organization lifecycle and deletion', () => {
  let c: E2eApp;
  let owner: User;
  let admin: User;
  let superuser: pg.Client;
  let workerPool: pg.Pool;
  let own: ProvisionedDatabase;
  let ownerDb: Kysely<unknown>;
  /** The tenant table a "later migration" adds, at test time. */
  const extraTable = `lifecycle_notes_${randomBytes(4).toString('hex')}`;
  const shredded: string[] = [];
  /** The application's own shredder (the key vault's), watched: it runs once the organization row is gone. */
  const shredder: TenantKeyShredder = {
    async destroyOrganizationKeys(orgId) {
      const row = await superuser.query('select 1 from organizations where id = $1', [orgId]);
      expect(row.rowCount).toBe(0);
      shredded.push(orgId);
      return c.services.tenantKeyShredder.destroyOrganizationKeys(orgId);
    },
  };
  const job = (over: Partial<DeletionJobDeps> = {}) =>
    runOrganizationDeletions({
      workerPool,
      shredder,
      now: () => new Date(),
      batchSize: 4,
      organizationChanged: (orgId) => c.services.organizationPolicies.invalidate(orgId),
      ...over,
    });

  /** Every table with organization_id (the catalog, as the purge reads it). */
  async function tenantTables(): Promise<string[]> {
    const r = await superuser.query<{ t: string }>(
      `select c.oid::regclass::text as t from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
           and not a.attisdropped
        where c.relkind in ('r', 'p') and not c.relispartition
          and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
        order by 1`,
    );
    return r.rows.map((x) => x.t);
  }
  /** The organization's row count in every tenant table (superuser: no RLS), nonzero ones only. */
  async function rowsOf(orgId: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const t of await tenantTables()) {
      const r = await superuser.query<{ n: string }>(
        `select count(*) as n from ${t} where organization_id = $1`,
        [orgId],
      );
      const n = Number(r.rows[0]!.n);
      if (n > 0) counts[t] = n;
    }
    const o = await superuser.query('select 1 from organizations where id = $1', [orgId]);
    if (o.rowCount) counts.organizations = o.rowCount;
    return counts;
  }
  /**
   * The organization's row counts once nothing is in flight: recorded API usage flushed, committed audit
   * events sealed (the sealer moves them from audit_pending to audit_events: counted together), and the
   * usage aggregates left out (derived from the events by the aggregator, in the background).
   */
  async function settledRowsOf(orgId: string): Promise<Record<string, number>> {
    await c.services.usageRecorder.flush();
    await sealAudit(c.tenancy.withTenant, orgId);
    const { audit_pending = 0, audit_events = 0, usage_aggregates: _derived, ...rest } = await rowsOf(orgId);
    return { ...rest, audit: audit_pending + audit_events };
  }
  /** The tables this file writes itself (their counts are exact whatever runs in the background). */
  const OWN = () => [extraTable, 'projects', 'api_keys', 'memberships', 'invoices'];
  const addNotes = (orgId: string, n: number) =>
    c.tenancy.withTenant(orgId, async (db) => {
      for (let i = 0; i < n; i++) {
        await sql`insert into ${sql.id(extraTable)} (organization_id, id, note)
          values (${orgId}::uuid, ${randomUUID()}::uuid, ${`note ${i}`})`.execute(db);
      }
    });
  /** An organization of `owner` with rows in many tables: projects, an API key, an invitation, a
   *  finalized (immutable) invoice, audit events, notes in the table added at test time. */
  async function populated(prefix: string, projects = 3, notes = 5) {
    const org = await createOrg(owner.browser, prefix);
    for (let i = 0; i < projects; i++) await createProject(owner.browser, org.id, `P${i}`);
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'k', scopes: ['projects:read', 'projects:create'] },
      inOrg(org.id),
    );
    expect(key.statusCode, key.body).toBe(201);
    rememberSecret(key.json<{ secret: string }>().secret);
    await addNotes(org.id, notes);
    await closeJanuary(c, org.id, prefix, {
      now: '2026-02-02T00:00:00Z',
      planKey: 'pro',
      components: [{ model: 'flat', amount: 4900 }],
      usage: {},
    });
    return { ...org, apiKey: key.json<{ secret: string }>().secret };
  }
  const mailsTo = (email: string, subject: RegExp) =>
    sharedMailbox()
      .all()
      .filter((m) => m.to.includes(email) && subject.test(mailText(m.raw)));

  beforeAll(async () => {
    // A database of its own: this file hard-deletes finalized invoices (holes in the deployment-wide
    // numbering other files check) and adds a tenant table at run time (other files read the catalog).
    own = await provisionDatabase(testDb().superuserUrl, 'sr_lifecycle');
    c = await startApp({
      database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl },
    });
    superuser = await connect(own.adminUrl);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    ownerDb = new Kysely<unknown>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: own.migrationUrl, max: 1 }),
      }),
    });
    // A later migration adds a tenant table, the way every tenant table is made.
    await createTenantTable(
      ownerDb,
      { roles: own.roles },
      {
        name: extraTable,
        columns: 'id uuid not null, note text not null',
        primaryKey: ['id'],
      },
    );
    owner = await signUp(c, 'lc-owner');
    admin = await signUpPlatformAdmin(c, 'lc-admin', own.migrationUrl);
  });
  afterAll(async () => {
    await sql`drop table if exists ${sql.id(extraTable)}`.execute(ownerDb);
    await ownerDb.destroy();
    await workerPool.end();
    await superuser.end();
    await stopApp(c);
    if (own) await dropProvisioned(own);
  });

  it('an owner schedules the deletion (mails, read-only for members) and cancels it (mails)', async () => {
    const org = await createOrg(owner.browser, 'lc-sched');
    const member = await addNewMember(owner.browser, org.id, 'admin', 'lc-member');
    const key = api(c, (await populatedKey(org.id)).secret);
    // A member who may not delete cannot schedule it.
    expect((await member.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(403);
    const del = await owner.browser.delete('/v1/organization', inOrg(org.id));
    expect(del.statusCode, del.body).toBe(202);
    const due = Date.parse(del.json<{ deletionDueAt: string }>().deletionDueAt);
    expect(Math.round((due - Date.now()) / 86_400_000)).toBe(30);
    await sharedMailbox().waitFor(
      (m) => m.to.includes(owner.email) && /is scheduled for deletion/.test(mailText(m.raw)),
    );
    expect(mailsTo(member.email, /scheduled for deletion/)).toEqual([]); // owners only
    // Read-only: reads answer, writes of members, owners and API keys answer 409.
    expect((await member.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(200);
    const write = await member.browser.post('/v1/projects', { name: 'late' }, inOrg(org.id));
    expect(write.statusCode).toBe(409);
    expect(write.json()).toMatchObject({ error: { code: 'ORGANIZATION_PENDING_DELETION' } });
    expect((await owner.browser.post('/v1/projects', { name: 'x' }, inOrg(org.id))).statusCode).toBe(409);
    expect((await key.get('/v1/projects')).statusCode).toBe(200);
    expect((await key.post('/v1/projects', { name: 'x' })).statusCode).toBe(409);
    // Still listed for its members (they read it; owners cancel).
    const mine = await member.browser.get('/v1/organizations');
    expect(mine.json<{ data: { id: string }[] }>().data.map((o) => o.id)).toContain(org.id);
    // Only an owner cancels.
    expect(
      (await member.browser.post('/v1/organization/cancel-deletion', {}, inOrg(org.id))).statusCode,
    ).toBe(403);
    const cancel = await owner.browser.post('/v1/organization/cancel-deletion', {}, inOrg(org.id));
    expect(cancel.statusCode, cancel.body).toBe(200);
    expect(cancel.json()).toMatchObject({ lifecycleState: 'active', deletionDueAt: null });
    await sharedMailbox().waitFor(
      (m) => m.to.includes(owner.email) && /deletion of .* was cancelled/.test(mailText(m.raw)),
    );
    expect((await member.browser.post('/v1/projects', { name: 'back' }, inOrg(org.id))).statusCode).toBe(201);
    // Cancelled in time: the job deletes nothing of it.
    await job();
    expect((await owner.browser.get('/v1/organization', inOrg(org.id))).statusCode).toBe(200);
  });

  /** An API key of `orgId` (projects read + write), made by the owner. */
  async function populatedKey(orgId: string) {
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'k', scopes: ['projects:read', 'projects:create'] },
      inOrg(orgId),
    );
    expect(key.statusCode, key.body).toBe(201);
    return { secret: rememberSecret(key.json<{ secret: string }>().secret) };
  }

  it('expedite (typed slug) → hard delete of every row in every tenant table, others untouched, keys shredded, deletion record', async () => {
    const x = await populated('lc-del');
    const y = await populated('lc-keep');
    const before = await rowsOf(x.id);
    // The organization has rows in many tables, the one added at test time and the immutable ones included.
    for (const t of OWN()) expect(before[t]).toBeGreaterThan(0);
    expect((before.audit_events ?? 0) + (before.audit_pending ?? 0)).toBeGreaterThan(0);

    // A value sealed under X's data key (its first key version is made for it).
    const binding = { table: extraTable, column: 'note', rowId: 'sealed-1' };
    const sealed = await c.tenancy.withTenant(x.id, (db) =>
      c.services.tenantSealer.sealForTenant(db, x.id, binding, 'x-secret'),
    );
    expect((await owner.browser.delete('/v1/organization', inOrg(x.id))).statusCode).toBe(202);
    const keep = await settledRowsOf(y.id);
    // The pending list shows it; the expedite wants the slug typed.
    const listed = await admin.browser.get('/v1/platform/organizations/pending-deletion?limit=200');
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json<{ data: { id: string; state: string }[] }>().data).toContainEqual(
      expect.objectContaining({ id: x.id, state: 'pending_deletion', members: 1 }),
    );
    const url = `/v1/platform/organizations/${x.id}/expedite-deletion`;
    expect((await owner.browser.post(url, { confirmSlug: x.slug })).statusCode).toBe(403);
    const wrong = await admin.browser.post(url, { confirmSlug: y.slug });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({ error: { code: 'PLATFORM_DELETION_CONFIRMATION_MISMATCH' } });
    const expedite = await admin.browser.post(url, { confirmSlug: x.slug });
    expect(expedite.statusCode, expedite.body).toBe(200);
    expect(Date.parse(expedite.json<{ deletionDueAt: string }>().deletionDueAt)).toBeLessThanOrEqual(
      Date.now(),
    );
    const notPending = await admin.browser.post(`/v1/platform/organizations/${y.id}/expedite-deletion`, {
      confirmSlug: y.slug,
    });
    expect(notPending.statusCode).toBe(409);

    expect(await job()).toContain(x.id);
    // Zero rows of X remain in ANY table with organization_id (read from the catalog now).
    expect(await rowsOf(x.id)).toEqual({});
    expect(shredded).toContain(x.id);
    // Its data key is destroyed: what was sealed under it opens nowhere any more.
    await expect(
      c.tenancy.withTenant(x.id, (db) => c.services.tenantSealer.openForTenant(db, x.id, binding, sealed)),
    ).rejects.toMatchObject({ code: 'SEALED_VALUE_UNREADABLE' });
    // The other organization is untouched: the same rows in every table.
    expect(await settledRowsOf(y.id)).toEqual(keep);
    // Deleted: the 404 of a missing organization, same body.
    const gone = await owner.browser.get('/v1/organization', inOrg(x.id));
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual(ORG_NOT_FOUND);
    expect((await api(c, x.apiKey).get('/v1/projects')).statusCode).toBe(401);

    // The deletion record in the platform chain: slug hash, row counts per table; the chain verifies.
    const events = await admin.browser.get('/v1/platform/audit-logs?action=organization.deleted&limit=100');
    const record = events
      .json<{ data: { target: { id: string }; actor: unknown; metadata: Record<string, unknown> }[] }>()
      .data.find((e) => e.target.id === x.id);
    expect(record).toMatchObject({
      actor: { type: 'system', id: 'organization-deletion' },
      metadata: { slugSha256: hex(x.slug), keysDestroyed: 1 },
    });
    const counts = record!.metadata.rowCounts as Record<string, number>;
    expect(counts[extraTable]).toBe(5);
    expect(counts.projects).toBe(3);
    expect(counts.invoices).toBe(1);
    expect(counts.organizations).toBe(1);
    const expedited = await admin.browser.get(
      '/v1/platform/audit-logs?action=organization.deletion_expedited&limit=100',
    );
    expect(
      expedited.json<{ data: { target: { id: string } }[] }>().data.some((e) => e.target.id === x.id),
    ).toBe(true);
    const verify = await admin.browser.get('/v1/platform/audit-logs/verify');
    expect(verify.json()).toMatchObject({ valid: true });
  });

  it('a crash mid-delete resumes where the last committed batch left off; counts stay exact', async () => {
    const z = await populated('lc-crash', 9, 11);
    expect((await owner.browser.delete('/v1/organization', inOrg(z.id))).statusCode).toBe(202);
    const before = await rowsOf(z.id);
    // A second in the past: the job's clock (a Date) has milliseconds, PostgreSQL's now() microseconds.
    await superuser.query(
      `update organizations set deletion_due_at = now() - interval '1 second' where id = $1`,
      [z.id],
    );
    let batches = 0;
    await job({
      afterBatch: () => {
        if (++batches === 3) throw new Error('worker killed');
      },
    });
    // Stopped after three committed batches of 4: being deleted (nobody enters: 404), the ledger in
    // `purging` with exactly what went.
    const ledger = await superuser.query<{ phase: string; row_counts: Record<string, number> }>(
      'select phase, row_counts from organization_deletions where id = $1',
      [z.id],
    );
    expect(ledger.rows[0]?.phase).toBe('purging');
    const soFar = ledger.rows[0]!.row_counts;
    const sum = Object.values(soFar).reduce((a, b) => a + b, 0);
    expect(sum).toBeGreaterThanOrEqual(3);
    expect(sum).toBeLessThanOrEqual(12);
    const partial = await rowsOf(z.id);
    expect(partial.organizations).toBe(1);
    for (const t of OWN()) {
      expect({ t, n: (soFar[t] ?? 0) + (partial[t] ?? 0) }).toEqual({ t, n: before[t] });
    }
    expect((await owner.browser.get('/v1/organization', inOrg(z.id))).json()).toEqual(ORG_NOT_FOUND);
    // An owner can no longer cancel.
    expect((await owner.browser.post('/v1/organization/cancel-deletion', {}, inOrg(z.id))).statusCode).toBe(
      404,
    );

    await job();
    expect(await rowsOf(z.id)).toEqual({});
    const done = await superuser.query<{ phase: string; row_counts: Record<string, number> }>(
      'select phase, row_counts from organization_deletions where id = $1',
      [z.id],
    );
    expect(done.rows[0]?.phase).toBe('done');
    // Every row counted once, across the crash.
    for (const t of [...OWN(), 'organizations']) {
      expect({ t, n: done.rows[0]!.row_counts[t] }).toEqual({ t, n: before[t] });
    }
  });

  it('the lifecycle rules on every tenant route of the app (from the route registry)', async () => {
    const org = await createOrg(owner.browser, 'lc-rules');
    const routes = routeAuthTable(c.app)
      .filter((r) => r.auth.kind === 'tenant' && r.method !== 'HEAD')
      .map((r) => ({
        method: r.method as Method,
        url: r.url.replace(/:[A-Za-z]+/g, randomUUID()),
        key: `${r.method} ${r.url}`,
      }));
    const call = (r: (typeof routes)[number]) =>
      owner.browser.req(r.method, r.url, r.method === 'GET' ? undefined : {}, inOrg(org.id));

    // pending_deletion: reads pass the lifecycle rules; writes answer 409, but the flagged cancel and
    // export start (owners take their data out before it goes).
    expect((await owner.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(202);
    for (const r of routes) {
      if (r.key === 'POST /v1/organization/cancel-deletion') continue; // it would end the state
      const res = await call(r);
      const code = errorCode(res.body);
      if (r.key === 'POST /v1/organization/export') {
        expect({ key: r.key, status: res.statusCode }).toEqual({ key: r.key, status: 202 });
      } else if (r.method === 'GET') {
        expect({ key: r.key, code }).not.toEqual({ key: r.key, code: 'ORGANIZATION_PENDING_DELETION' });
        expect({ key: r.key, body: res.body }).not.toEqual({
          key: r.key,
          body: JSON.stringify(ORG_NOT_FOUND),
        });
      } else
        expect({ key: r.key, status: res.statusCode, code }).toEqual({
          key: r.key,
          status: 409,
          code: 'ORGANIZATION_PENDING_DELETION',
        });
    }
    expect((await owner.browser.post('/v1/organization/cancel-deletion', {}, inOrg(org.id))).statusCode).toBe(
      200,
    );

    // suspended by an administrator: nothing, for members.
    expect((await admin.browser.post(`/v1/platform/organizations/${org.id}/suspend`)).statusCode).toBe(204);
    for (const r of routes) {
      const res = await call(r);
      expect({ key: r.key, status: res.statusCode, body: res.json<unknown>() }).toMatchObject({
        key: r.key,
        status: 403,
        body: { error: { code: 'ORGANIZATION_SUSPENDED' } },
      });
    }
    // Suspended, it cannot be scheduled for deletion by the platform either way; reactivated, it can.
    expect((await admin.browser.post(`/v1/platform/organizations/${org.id}/unsuspend`)).statusCode).toBe(204);
    expect((await owner.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(202);
    const suspendPending = await admin.browser.post(`/v1/platform/organizations/${org.id}/suspend`);
    expect(suspendPending.statusCode).toBe(409);

    // suspended for deletion (the hard delete started): the 404 of a missing organization, everywhere.
    await superuser.query('update organizations set deletion_due_at = now() where id = $1', [org.id]);
    expect(
      (await workerPool.query('select worker_api.app_priv_deletion_start($1, now()) as ok', [org.id]))
        .rows[0],
    ).toEqual({ ok: true });
    c.services.organizationPolicies.invalidate(org.id);
    for (const r of routes) {
      const res = await call(r);
      expect({ key: r.key, status: res.statusCode, body: res.json<unknown>() }).toEqual({
        key: r.key,
        status: 404,
        body: ORG_NOT_FOUND,
      });
    }
    await job(); // finish it
    expect(await rowsOf(org.id)).toEqual({});
  });

  it('the deletion functions are the worker role’s (refused to the runtime role and inside a tenant scope); the platform ones need the platform scope', async () => {
    const app = await connect(own.url);
    try {
      for (const text of [
        'select * from worker_api.app_priv_deletion_due(now(), 10)',
        `select * from worker_api.app_priv_deletion_purge('${randomUUID()}', 10)`,
      ]) {
        await expect(app.query(text)).rejects.toThrow(/permission denied/);
      }
      for (const text of [
        `select * from app_priv_platform_organizations_pending_deletion(null, null, 10)`,
        `select * from app_platform_organization_expedite_deletion('${randomUUID()}', 'x')`,
      ]) {
        await expect(app.query(text)).rejects.toThrow(/platform scope/);
      }
    } finally {
      await app.end();
    }
    const worker = await workerPool.connect();
    try {
      await worker.query('begin');
      await worker.query(`select set_config('app.tenant_id', $1, true)`, [randomUUID()]);
      await expect(worker.query(`select * from worker_api.app_priv_deletion_due(now(), 10)`)).rejects.toThrow(
        /refused inside a tenant scope/,
      );
    } finally {
      await worker.query('rollback');
      worker.release();
    }
    // The purge refuses an organization whose deletion has not started.
    await expect(
      workerPool.query('select * from worker_api.app_priv_deletion_purge($1, 10)', [randomUUID()]),
    ).rejects.toThrow(/not being purged/);
  });
});
