import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { backdated, recordAuditEvents } from '../../../test/support/audit.js';
import { TEST_KEK } from '../../../test/support/job-key.js';
import { unzip } from '../../../test/support/unzip.js';
import { testJwtKey } from '../../modules/tokens/tokens.test-support.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { createAuditService, type AuditService } from '../../modules/audit/audit.service.js';
import { createCheckpointJobHandler } from '../../modules/audit/checkpoint-job.js';
import { createExportLinks } from '../../modules/gdpr/export-link.js';
import { createOrganizationExportsService } from '../../modules/gdpr/organization-exports.service.js';
import { runOrganizationExport } from '../../modules/gdpr/organization-export-job.js';
import type { ArchiveDownload, ExportManifest } from '../../modules/gdpr/archive.js';
import { recordAudit } from '../audit/record.js';
import { sealPending } from '../audit/seal.js';
import { createAuditSigner, createAuditVerifier } from '../audit/signing.js';
import type { TenantCtx } from './context.js';
import { tenantSchemaName } from './placed-tables.js';
import { auditChainsToCheckpoint, auditOrganizationsPending } from './privileged.js';
import { accountExportRows } from './privileged-gdpr.js';
import { auditRetentionPurge } from './privileged-retention.js';
import { createTenancy, type Tenancy } from './tenancy.js';

const log = pino({ level: 'silent' });

/**
 * The audit log and the exports with an organization placed in its own schema (migration 0039), beside a
 * pooled one, on a database of their own (a placement schema would otherwise be one more schema the
 * runtime role reaches in the suite's shared database): its events land in its schema and are sealed,
 * verified, checkpointed by the hourly job and purged by retention there; the account export and the
 * organization export carry its rows exactly once.
 */
describe('schema placement: audit, retention and exports', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let audit: AuditService;
  let keyId: string;
  let placed: string;
  let pooled: string;
  let schema: string;
  let retained: string; // placed too, its old events purged
  const user = randomUUID();

  const ctxOf = (org: string): TenantCtx => ({
    tenantId: org,
    actor: { kind: 'user', userId: user },
    requestId: 'placement-audit',
  });
  /** `n` events recorded in the organization's scope `daysAgo` days ago (the clock moved back for them). */
  const record = (org: string, n: number, daysAgo = 0): Promise<void> =>
    backdated(daysAgo, () => recordAuditEvents(tenancy.withTenant, ctxOf(org), n));
  const count = async (nsp: string, table: string, org: string) =>
    (
      await admin.query<{ n: number }>(
        `select count(*)::int as n from "${nsp}"."${table}" where organization_id = $1`,
        [org],
      )
    ).rows[0]!.n;
  const seqs = async (org: string) =>
    (
      await admin.query<{ seq: string }>(
        `select seq from "${schema}".audit_events where organization_id = $1 order by seq`,
        [org],
      )
    ).rows.map((r) => Number(r.seq));
  const checkpointJob = () =>
    createCheckpointJobHandler({
      chainsToCheckpoint: (after, limit) => auditChainsToCheckpoint(workerPool, keyId, after, limit),
      checkpointOrganization: async (org) => (await audit.checkpoint(ctxOf(org))).created,
      log,
    });

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_place_audit');
    tenancy = createTenancy({ url: own.url, poolSize: 3 });
    admin = await connect(own.adminUrl);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    const signer = createAuditSigner(await testJwtKey());
    keyId = signer.keyId;
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
    placed = (await createBareOrganization(tenancy.withTenant, { slug: 'pa-placed', name: 'Placed' })).id;
    pooled = (await createBareOrganization(tenancy.withTenant, { slug: 'pa-pooled', name: 'Pooled' })).id;
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, placed);
    tenancy.router.invalidate(placed);
    schema = tenantSchemaName(placed);
    await admin.query(
      `insert into users (id, email, email_normalized) values ($1, 'pa@x.test', 'pa@x.test')`,
      [user],
    );
    for (const org of [placed, pooled]) {
      await admin.query(
        `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'owner', 'active')`,
        [org, user],
      );
    }
  }, 120_000);
  afterEach(() => vi.useRealTimers());
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('events written in its scope wait in its schema, the sweep finds them, and they seal there', async () => {
    await record(placed, 3);
    await record(pooled, 2);
    expect(await count(schema, 'audit_pending', placed)).toBe(3);
    expect(await count('public', 'audit_pending', placed)).toBe(0);
    // The seal sweep (every schema, one page, the same cursor whichever schema an organization is in).
    const pending = await auditOrganizationsPending(workerPool, null, 1000);
    expect(pending.sort()).toEqual([placed, pooled].sort());
    const [first] = [placed, pooled].sort();
    expect(await auditOrganizationsPending(workerPool, null, 1)).toEqual([first]);
    expect(await auditOrganizationsPending(workerPool, first!, 1000)).toEqual(
      [placed, pooled].filter((o) => o !== first),
    );
    expect(await sealPending(tenancy.withTenant, placed)).toBe(3);
    expect(await sealPending(tenancy.withTenant, pooled)).toBe(2);
    expect(await seqs(placed)).toEqual([1, 2, 3]);
    expect(await count('public', 'audit_events', placed)).toBe(0);
    expect(await count(schema, 'audit_chain_heads', placed)).toBe(1);
    expect(await count('public', 'audit_events', pooled)).toBe(2);
    expect(await auditOrganizationsPending(workerPool, null, 1000)).toEqual([]);
    expect(await audit.verify(ctxOf(placed))).toMatchObject({ valid: true, entriesChecked: 3, lastSeq: 3 });
  });

  it('one connection alternating pooled and placed seals puts each chain in its own schema', async () => {
    // The sealer's plans are cached per connection: a changed search path must re-plan them.
    const single = createTenancy({ url: own.url, poolSize: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        for (const org of [placed, pooled]) {
          await single.withTenant(org, (t) =>
            recordAudit(t, ctxOf(org), {
              action: 'project.updated',
              target: { type: 'project', id: `a${i}` },
            }),
          );
          expect(await sealPending(single.withTenant, org)).toBe(1);
        }
      }
    } finally {
      await single.close();
    }
    expect(await seqs(placed)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await count('public', 'audit_events', placed)).toBe(0);
    expect(await count('public', 'audit_events', pooled)).toBe(5);
    expect(await count(schema, 'audit_events', pooled)).toBe(0);
    expect(await audit.verify(ctxOf(pooled))).toMatchObject({ valid: true, lastSeq: 5 });
  });

  it('the hourly checkpoint job signs its chain in its schema, once', async () => {
    expect((await auditChainsToCheckpoint(workerPool, keyId, null, 1000)).sort()).toEqual(
      [placed, pooled].sort(),
    );
    await checkpointJob()({}, { tenantId: null, attempt: 1, id: 'j1' });
    expect(await count(schema, 'audit_checkpoints', placed)).toBe(1);
    expect(await count('public', 'audit_checkpoints', placed)).toBe(0);
    expect(await count('public', 'audit_checkpoints', pooled)).toBe(1);
    expect(await auditChainsToCheckpoint(workerPool, keyId, null, 1000)).toEqual([]);
    expect(await audit.verify(ctxOf(placed))).toMatchObject({
      valid: true,
      checkpointsChecked: 1,
      lastSeq: 6,
    });
  });

  it('retention purges its old events in its schema, and the chain still verifies', async () => {
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'pa-ret', name: 'Ret' })).id;
    retained = org;
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, org);
    tenancy.router.invalidate(org);
    const nsp = tenantSchemaName(org);
    // free: 90 days. 1-3 sealed and checkpointed 200 days ago, 4-5 today.
    await record(org, 3, 200);
    await backdated(200, async () => {
      await sealPending(tenancy.withTenant, org);
      await audit.checkpoint(ctxOf(org));
    });
    await record(org, 2);
    await sealPending(tenancy.withTenant, org);
    let after: { organizationId: string; include: boolean } | null = null;
    let deleted = 0;
    for (;;) {
      const batch = await auditRetentionPurge(workerPool, new Date(), after, 1000);
      if (!batch) break;
      deleted += batch.deleted;
      after = { organizationId: batch.organizationId, include: batch.more };
    }
    expect(deleted).toBe(3);
    const left = await admin.query<{ seq: string }>(
      `select seq from "${nsp}".audit_events where organization_id = $1 order by seq`,
      [org],
    );
    expect(left.rows.map((r) => Number(r.seq))).toEqual([4, 5]);
    expect(await count(nsp, 'audit_checkpoints', org)).toBe(1);
    expect(await audit.verify(ctxOf(org))).toMatchObject({ valid: true, anchorSeq: 3 });
    // The other organizations' recent events are untouched.
    expect(await seqs(placed)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("the account export reads the user's events of every schema (two placed, public), each once, in cursor pages", async () => {
    const exportId = randomUUID();
    await admin.query(`insert into account_exports (id, user_id, status) values ($1, $2, 'running')`, [
      exportId,
      user,
    ]);
    const expected = [
      ...[1, 2, 3, 4, 5, 6].map((seq) => `${placed}/${seq}`),
      ...[1, 2, 3, 4, 5].map((seq) => `${pooled}/${seq}`),
      ...[4, 5].map((seq) => `${retained}/${seq}`),
    ].sort();
    const all = await accountExportRows(workerPool, exportId, 'audit_events', null, 1000);
    expect(all.map((r) => `${r.organizationId}/${r.seq}`)).toEqual(expected);
    expect(all.find((r) => r.organizationId === placed)!.data).toMatchObject({ action: 'project.created' });
    // Pages of 2 across both schemas: every row once, in order.
    const paged: string[] = [];
    let after: { org: string; seq: string } | null = null;
    for (;;) {
      const page = await accountExportRows(workerPool, exportId, 'audit_events', after, 2);
      paged.push(...page.map((r) => `${r.organizationId}/${r.seq}`));
      if (page.length < 2) break;
      after = { org: page.at(-1)!.organizationId, seq: page.at(-1)!.seq };
    }
    expect(paged).toEqual(expected);
  });

  it('the organization export carries its placed rows from its schema, each table once, named as public', async () => {
    await admin.query(
      `insert into "${schema}".webhook_endpoints (organization_id, id, url, event_types, secret)
         values ($1, gen_random_uuid(), 'https://hooks.place.test/x', '{organization.updated}',
           't1.1.c2VjcmV0.dGFn.c2VhbGVkc2VjcmV0')`,
      [placed],
    );
    const service = createOrganizationExportsService({
      withTenant: tenancy.withTenant,
      links: createExportLinks(TEST_KEK),
      linkTtlSeconds: 600,
      publicUrl: 'http://app.saasready.test',
    });
    const ctx = ctxOf(placed);
    const { export: started } = await service.create(ctx, { idempotencyKey: 'place-export' });
    await runOrganizationExport(
      { withTenant: tenancy.withTenant, maxArchiveBytes: 50_000_000, archiveRetentionHours: 1, log },
      placed,
      started.id,
      1,
    );
    expect(await service.get(ctx, started.id)).toMatchObject({ status: 'ready', error: null });
    expect(await count(schema, 'organization_exports', placed)).toBe(1);
    const download: ArchiveDownload = await service.download(placed, user, started.id);
    const parts: Buffer[] = [];
    for await (const c of download.chunks) parts.push(c);
    const files = unzip(Buffer.concat(parts));
    const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8')) as ExportManifest;
    const sources = manifest.files.map((f) => f.source);
    expect(new Set(sources).size).toBe(sources.length);
    expect(sources.every((s) => s.startsWith('public.'))).toBe(true);
    const rowsOf = (table: string) =>
      files
        .get(`tables/public.${table}.jsonl`)!
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rowsOf('audit_events').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rowsOf('memberships')).toHaveLength(1); // a directory table, from public
    expect(rowsOf('webhook_endpoints')[0]!.secret).toBe('[redacted]');
    for (const [, body] of files) expect(body.toString('utf8')).not.toContain(pooled);
  });
});
