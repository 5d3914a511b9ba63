import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  runOrganizationDeletions,
  type DeletionJobDeps,
} from '../../src/modules/organization-lifecycle/deletion-job.js';
import { createDeletionWebhooks, deletionEventId } from '../../src/modules/webhooks/deletion-event.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  createOrg,
  inOrg,
  ORG_NOT_FOUND,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';
import { startWebhookReceiver, until, type Received } from './webhook-receiver.js';

/**
 * Issue 12: `organization.deleted` reaches the organization's endpoints although its rows, outbox and
 * deliveries included, are purged and its data key destroyed. The deletion job writes the event once the
 * organization is out of reach and purges only when every delivery of it is final: a receiver verifying
 * with `standardwebhooks` gets it exactly once, then zero rows remain; a failing receiver holds the purge
 * until its deliveries are dead.
 */
describe('e2e: organization.deleted is delivered before the hard delete', () => {
  let c: E2eApp;
  let owner: User;
  let superuser: pg.Client;
  let workerPool: pg.Pool;
  let own: ProvisionedDatabase;
  let server: http.Server;
  let base: string;
  const received: Pick<Received, 'path' | 'id' | 'payload'>[] = [];
  const secrets = new Map<string, string>();
  const RETRIES = [2, 2];

  const job = (over: Partial<DeletionJobDeps> = {}) =>
    runOrganizationDeletions({
      workerPool,
      shredder: c.services.tenantKeyShredder,
      now: () => new Date(),
      organizationChanged: (orgId) => c.services.organizationPolicies.invalidate(orgId),
      webhooks: createDeletionWebhooks({
        withTenant: c.tenancy.withTenant,
        retryScheduleSeconds: RETRIES,
      }),
      ...over,
    });

  /** The organization's rows in every table with organization_id (the catalog, as the purge reads it). */
  async function rowsOf(orgId: string): Promise<Record<string, number>> {
    const tables = await superuser.query<{ t: string }>(
      `select c.oid::regclass::text as t from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
           and not a.attisdropped
        where c.relkind in ('r', 'p') and not c.relispartition
          and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'`,
    );
    const counts: Record<string, number> = {};
    for (const { t } of tables.rows) {
      const r = await superuser.query<{ n: string }>(
        `select count(*) as n from ${t} where organization_id = $1`,
        [orgId],
      );
      if (Number(r.rows[0]!.n) > 0) counts[t] = Number(r.rows[0]!.n);
    }
    const o = await superuser.query('select 1 from organizations where id = $1', [orgId]);
    if (o.rowCount) counts.organizations = o.rowCount;
    return counts;
  }
  const deliveryStatus = async (orgId: string) =>
    (
      await superuser.query<{ status: string }>(
        'select status from webhook_deliveries where organization_id = $1 and event_id = $2',
        [orgId, deletionEventId(orgId)],
      )
    ).rows.map((r) => r.status);

  /** An organization with one endpoint at `path` receiving organization.deleted, due for deletion now. */
  async function dueWithEndpoint(prefix: string, path: string) {
    const org = await createOrg(owner.browser, prefix);
    const res = await owner.browser.post(
      '/v1/webhooks/endpoints',
      { url: `${base}${path}`, eventTypes: ['organization.deleted'] },
      inOrg(org.id),
    );
    expect(res.statusCode, res.body).toBe(201);
    secrets.set(path, rememberSecret(res.json<{ secret: string }>().secret));
    expect((await owner.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(202);
    // As a platform administrator's expedite does (tested in organization-deletion.test.ts). A second in
    // the past: PostgreSQL's now() has microseconds and the job's clock (a Date) milliseconds, so a job run
    // within the same millisecond would find the organization not yet due.
    await superuser.query(
      `update organizations set deletion_due_at = now() - interval '1 second' where id = $1`,
      [org.id],
    );
    return org;
  }

  beforeAll(async () => {
    ({ server, base } = await startWebhookReceiver(secrets, (r) => {
      received.push(r);
      if (r.path === '/failing') return { status: 500, body: 'down' };
    }));
    // A database of its own: this file hard-deletes organizations.
    own = await provisionDatabase(testDb().superuserUrl, 'sr_deleted_hook');
    c = await startApp({
      database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl },
      webhooks: {
        allowedCidrs: ['127.0.0.1/32'],
        allowHttp: true,
        retryScheduleSeconds: RETRIES,
        timeoutMs: 5000,
        disableAfterDays: 5,
      },
    });
    superuser = await connect(own.adminUrl);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    owner = await signUp(c, 'deleted-hook');
  });
  afterAll(async () => {
    await workerPool?.end();
    await superuser?.end();
    if (c) await stopApp(c);
    if (own) await dropProvisioned(own);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('a verifying receiver gets organization.deleted exactly once, then the purge leaves zero rows', async () => {
    const org = await dueWithEndpoint('hook-gone', '/ok');
    // First run: the organization is out of reach and its event written; the purge waits for it.
    expect(await job()).toEqual([]);
    const gone = await owner.browser.get('/v1/organization', inOrg(org.id));
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual(ORG_NOT_FOUND);
    expect((await rowsOf(org.id)).organizations).toBe(1);

    const hit = await until(
      () => received.find((r) => r.path === '/ok' && r.payload.type === 'organization.deleted'),
      'organization.deleted at /ok',
    );
    expect(hit.payload).toMatchObject({
      id: deletionEventId(org.id),
      organization_id: org.id,
      data: { object: 'organization', id: org.id },
    });
    await until(
      async () => ((await deliveryStatus(org.id)).join() === 'succeeded' ? true : undefined),
      'the delivery recorded as succeeded',
    );
    // Its deliveries final: the purge runs to the end, rows then key.
    expect(await job()).toEqual([org.id]);
    expect(await rowsOf(org.id)).toEqual({});
    // A later run finds nothing to do and nothing is sent again.
    expect(await job()).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(received.filter((r) => r.payload.organization_id === org.id)).toHaveLength(1);
  });

  it('a failing receiver holds the purge until the deliveries are dead', async () => {
    const org = await dueWithEndpoint('hook-down', '/failing');
    expect(await job()).toEqual([]);
    await until(
      () => received.find((r) => r.path === '/failing' && r.payload.organization_id === org.id),
      'the first attempt at /failing',
    );
    // Still retrying (the next attempt 2 s away): the purge waits.
    expect(await deliveryStatus(org.id)).toEqual(['pending']);
    expect(await job()).toEqual([]);
    expect((await rowsOf(org.id)).organizations).toBe(1);

    await until(
      async () => ((await deliveryStatus(org.id)).join() === 'dead' ? true : undefined),
      'the delivery dead after the retry schedule',
    );
    const attempts = received.filter((r) => r.payload.organization_id === org.id);
    expect(attempts).toHaveLength(RETRIES.length + 1);
    // Every attempt is the same message (one webhook-id), signed with the secret the key still opened.
    expect(new Set(attempts.map((r) => r.id)).size).toBe(1);
    expect(await job()).toEqual([org.id]);
    expect(await rowsOf(org.id)).toEqual({});
  });

  it('past the retry schedule the purge goes ahead even with a delivery pending', async () => {
    const org = await dueWithEndpoint('hook-stuck', '/failing');
    expect(await job()).toEqual([]);
    await until(
      async () => ((await deliveryStatus(org.id)).join() === 'pending' ? true : undefined),
      'a pending delivery',
    );
    const later = () => new Date(Date.now() + (RETRIES[0]! + RETRIES[1]! + 3600) * 1000 + 60_000);
    expect(await job({ now: later })).toEqual([org.id]);
    expect(await rowsOf(org.id)).toEqual({});
  });
});
