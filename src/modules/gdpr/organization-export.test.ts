import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { pino } from 'pino';
import { connect, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { TEST_KEK } from '../../../test/support/job-key.js';
import { unzip } from '../../../test/support/unzip.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { createTenantTable } from '../../platform/tenancy/migration-helpers.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { uuidv7 } from '../../platform/ids.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { createExportLinks } from './export-link.js';
import { createOrganizationExportsService } from './organization-exports.service.js';
import { runOrganizationExport } from './organization-export-job.js';
import type { ArchiveDownload, ExportManifest } from './archive.js';
import { registerSealedColumn, unregisterSealedColumn } from '../../platform/tenant-keys/sealed-columns.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const log = pino({ level: 'silent' });
const collect = async (d: ArchiveDownload): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of d.chunks) parts.push(c);
  return Buffer.concat(parts);
};

/**
 * Organization exports on a database of their own (a table is added to it, as a later migration would):
 * every tenant table found from the catalog is in the archive, the manifest's counts and hashes hold when
 * recomputed from the archive, and no row of another organization is in it.
 */
describe('organization export', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let ownerPool: pg.Pool;
  let orgA: string;
  let orgB: string;
  const userA = uuidv7();
  const links = createExportLinks(TEST_KEK);
  let ctx: TenantCtx;
  const service = () =>
    createOrganizationExportsService({
      withTenant: tenancy.withTenant,
      links,
      linkTtlSeconds: 600,
      publicUrl: 'http://app.saasready.test/prefix',
    });

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_gdpr');
    tenancy = createTenancy({ url: own.url, poolSize: 3 });
    admin = await connect(own.adminUrl);
    orgA = (await createBareOrganization(tenancy.withTenant, { slug: 'gdpr-a', name: 'A' })).id;
    orgB = (await createBareOrganization(tenancy.withTenant, { slug: 'gdpr-b', name: 'B' })).id;
    ctx = { tenantId: orgA, actor: { kind: 'user', userId: userA }, requestId: 'gdpr-test' };
    await admin.query(
      `insert into users (id, email, email_normalized) values ($1, 'a@gdpr.test', 'a@gdpr.test')`,
      [userA],
    );
    await admin.query(
      `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'owner', 'active')`,
      [orgA, userA],
    );
    // More projects than one page of the export (1,000 rows) in A; a few in B.
    await admin.query(
      `insert into projects (organization_id, id, name)
         select $1, gen_random_uuid(), 'a-' || g from generate_series(1, 2345) g`,
      [orgA],
    );
    await admin.query(
      `insert into projects (organization_id, id, name) select $1, gen_random_uuid(), 'b-' || g from generate_series(1, 3) g`,
      [orgB],
    );
    // A table added after this module was written, the way a migration adds one.
    ownerPool = new pg.Pool({ connectionString: own.migrationUrl, max: 1 });
    const owner = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: ownerPool }) });
    await createTenantTable(
      owner,
      { roles: own.roles },
      {
        name: 'gdpr_test_widgets',
        columns: 'id uuid not null, label text not null, secret_sealed text',
        primaryKey: ['id'],
      },
    );
    await owner.destroy();
    await admin.query(
      `insert into gdpr_test_widgets (organization_id, id, label, secret_sealed) values
         ($1, gen_random_uuid(), 'w1', 't1.1.aXY.dGFn.Y3Q'), ($1, gen_random_uuid(), 'w2', null),
         ($2, gen_random_uuid(), 'of-b', null)`,
      [orgA, orgB],
    );
    // Credentials and their digests, which the archive must not carry.
    await admin.query(
      `insert into api_keys (organization_id, id, key_id, name, scopes, secret_hash)
         values ($1, gen_random_uuid(), '00aa11bb22cc33dd', 'k', '{projects:read}', decode(repeat('deadbeef', 8), 'hex'))`,
      [orgA],
    );
    await admin.query(
      `insert into invitations (organization_id, id, email_normalized, role, token_hash, status, expires_at)
         values ($1, gen_random_uuid(), 'x@gdpr.test', 'member', decode(repeat('feedface', 8), 'hex'), 'pending',
           now() + interval '1 day')`,
      [orgA],
    );
    await admin.query(
      `insert into webhook_endpoints (organization_id, id, url, event_types, secret)
         values ($1, gen_random_uuid(), 'https://hooks.gdpr.test/x', '{organization.updated}',
           't1.1.c2VjcmV0.dGFn.c2VhbGVkc2VjcmV0')`,
      [orgA],
    );
  });
  afterAll(async () => {
    // Registered by a test below: the list is the process's, which later files of its group share.
    unregisterSealedColumn('gdpr_test_widgets', 'secret_sealed');
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  let exportId: string;

  it('starts once per key, refuses a second running export, and is audited', async () => {
    const first = await service().create(ctx, { idempotencyKey: 'gdpr-k1' });
    expect(first.replayed).toBe(false);
    expect(first.export.status).toBe('queued');
    exportId = first.export.id;
    const again = await service().create(ctx, { idempotencyKey: 'gdpr-k1' });
    expect(again).toMatchObject({ replayed: true, export: { id: exportId } });
    await expect(service().create(ctx)).rejects.toMatchObject({
      code: 'EXPORT_ALREADY_RUNNING',
      status: 409,
      details: { exportId },
    });
    const job = await admin.query<{ n: number }>(
      `select count(*)::int as n from graphile_worker._private_jobs j
         join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'gdpr.organization_export'`,
    );
    expect(job.rows[0]!.n).toBe(1);
  });

  it('exports every tenant table of the catalog (the added one too), with a manifest that checks out', async () => {
    registerSealedColumn({ table: 'gdpr_test_widgets', column: 'secret_sealed', idColumn: 'id' });
    await runOrganizationExport(
      { withTenant: tenancy.withTenant, maxArchiveBytes: 50_000_000, archiveRetentionHours: 1, log },
      orgA,
      exportId,
      1,
    );
    const view = await service().get(ctx, exportId);
    expect(view).toMatchObject({ status: 'ready', error: null });
    expect(view.tablesDone).toBe(view.tablesTotal);
    expect(view.download!.url).toMatch(
      /^http:\/\/app\.saasready\.test\/prefix\/v1\/exports\/download\?token=/,
    );
    const token = new URL(view.download!.url).searchParams.get('token')!;
    expect(links.verify(token)).toMatchObject({
      ok: true,
      claims: { kind: 'org', exportId, org: orgA, user: userA },
    });

    const data = await collect(await service().download(orgA, userA, exportId));
    expect(sha256(data)).toBe(view.sha256);
    expect(data.length).toBe(view.sizeBytes);
    const files = unzip(data);
    const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8')) as ExportManifest;
    expect(manifest).toMatchObject({ kind: 'organization', exportId, organizationId: orgA });
    expect(manifest.sealedValues).toMatch(/exported exactly as stored/);
    // Counts and hashes recomputed from the archive itself.
    expect([...files.keys()].sort()).toEqual([...manifest.files.map((f) => f.name), 'manifest.json'].sort());
    let total = 0;
    for (const f of manifest.files) {
      const body = files.get(f.name)!;
      expect({ name: f.name, sha256: sha256(body), bytes: body.length }).toEqual({
        name: f.name,
        sha256: f.sha256,
        bytes: f.bytes,
      });
      const lines = body.toString('utf8').split('\n').filter(Boolean);
      expect({ name: f.name, rows: lines.length }).toEqual({ name: f.name, rows: f.rows });
      total += lines.length;
      // Every row is A's; nothing of B anywhere.
      for (const line of lines) {
        const row = JSON.parse(line) as Record<string, unknown>;
        expect(f.source === 'public.organizations' ? row.id : row.organization_id).toBe(orgA);
      }
      expect(body.toString('utf8')).not.toContain(orgB);
    }
    expect(manifest.totalRows).toBe(total);
    expect(view.rows).toBe(total);

    // Every table with organization_id in the catalog (but the archives themselves) is in the archive.
    const catalog = await admin.query<{ name: string }>(
      `select n.nspname || '.' || c.relname as name from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
        where c.relkind in ('r', 'p') and not c.relispartition and n.nspname not like 'pg\\_%'
          and n.nspname <> 'information_schema'`,
    );
    const exported = new Set(manifest.files.map((f) => f.source));
    const expected = catalog.rows.map((r) => r.name).filter((t) => t !== 'public.organization_export_chunks');
    expect(expected).toContain('public.gdpr_test_widgets');
    expect(expected.filter((t) => !exported.has(t))).toEqual([]);
    expect(exported.has('public.organizations')).toBe(true);

    const widgets = files.get('tables/public.gdpr_test_widgets.jsonl')!.toString('utf8').trim().split('\n');
    expect(widgets.map((l) => (JSON.parse(l) as { label: string }).label).sort()).toEqual(['w1', 'w2']);
    // A sealed value is exported as stored.
    expect(widgets.join('\n')).toContain('t1.1.aXY.dGFn.Y3Q');
    expect(manifest.files.find((f) => f.source === 'public.gdpr_test_widgets')!.sealedColumns).toEqual([
      'secret_sealed',
    ]);
    unregisterSealedColumn('gdpr_test_widgets', 'secret_sealed');
    // Credentials and their digests are redacted, and the manifest says which columns.
    const text = [...files.values()].map((b) => b.toString('utf8')).join('\n');
    for (const secret of ['deadbeefdeadbeef', 'feedfacefeedface', 'c2VhbGVkc2VjcmV0'])
      expect(text).not.toContain(secret);
    const keyRow = JSON.parse(files.get('tables/public.api_keys.jsonl')!.toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(keyRow).toMatchObject({ key_id: '00aa11bb22cc33dd', secret_hash: '[redacted]' });
    const redactedOf = (source: string) => manifest.files.find((f) => f.source === source)!.redactedColumns;
    expect(redactedOf('public.api_keys')).toEqual(['secret_hash']);
    expect(redactedOf('public.invitations')).toEqual(['token_hash']);
    expect(redactedOf('public.webhook_endpoints')).toEqual(['secret', 'previous_secret']);
    expect(
      manifest.files.find((f) => f.source === 'public.webhook_endpoints')!.sealedColumns,
    ).toBeUndefined();
    expect(manifest.files.find((f) => f.source === 'public.projects')!.rows).toBe(2345);

    const audited = await admin.query<{ action: string; actor_id: string }>(
      `select action, actor_id from audit_pending where organization_id = $1 and action like 'organization.export%'
       union all
       select action, actor_id from audit_events where organization_id = $1 and action like 'organization.export%'`,
      [orgA],
    );
    expect(audited.rows.map((r) => r.action).sort()).toEqual([
      'organization.export_downloaded',
      'organization.export_requested',
    ]);
    expect(new Set(audited.rows.map((r) => r.actor_id))).toEqual(new Set([userA]));
  });

  it('lists past exports, newest first, paginated; another organization sees none of them', async () => {
    const page = await service().list(ctx, { limit: 1 });
    expect(page.data.map((e) => e.id)).toEqual([exportId]);
    const ctxB: TenantCtx = { ...ctx, tenantId: orgB };
    expect((await service().list(ctxB)).data).toEqual([]);
    await expect(service().get(ctxB, exportId)).rejects.toMatchObject({
      code: 'EXPORT_NOT_FOUND',
      status: 404,
    });
    await expect(service().download(orgB, userA, exportId)).rejects.toMatchObject({
      code: 'EXPORT_NOT_FOUND',
    });
  });

  it('an export larger than the limit fails with a reason, and frees the slot for a new one', async () => {
    const { export: big } = await service().create(ctx);
    await runOrganizationExport(
      { withTenant: tenancy.withTenant, maxArchiveBytes: 10_000, archiveRetentionHours: 1, log },
      orgA,
      big.id,
      1,
    );
    const view = await service().get(ctx, big.id);
    expect(view).toMatchObject({ status: 'failed', download: null });
    expect(view.error).toMatch(/EXPORT_MAX_BYTES/);
    const chunks = await admin.query('select 1 from organization_export_chunks where export_id = $1', [
      big.id,
    ]);
    expect(chunks.rowCount).toBe(0);
    const next = await service().create(ctx);
    expect(next.export.status).toBe('queued');
    // A queued export whose job was lost does not block the organization for ever: after a day the next
    // request fails it and starts anew.
    await admin.query(
      `update organization_exports set created_at = now() - interval '25 hours' where id = $1`,
      [next.export.id],
    );
    const after = await service().create(ctx);
    expect(after.export.id).not.toBe(next.export.id);
    expect(await service().get(ctx, next.export.id)).toMatchObject({
      status: 'failed',
      error: 'abandoned: not finished within a day',
    });
  });

  it('keeps only the newest archive: a new ready export expires the earlier ones and deletes their chunks', async () => {
    const chunksOf = async (id: string) =>
      (await admin.query('select 1 from organization_export_chunks where export_id = $1', [id])).rowCount;
    expect(await chunksOf(exportId)).toBeGreaterThan(0);
    // The export the previous test left queued.
    const next = (await service().list(ctx, { limit: 1 })).data[0]!;
    expect(next.status).toBe('queued');
    await runOrganizationExport(
      { withTenant: tenancy.withTenant, maxArchiveBytes: 10_000_000, archiveRetentionHours: 1, log },
      orgA,
      next.id,
      1,
    );
    expect(await service().get(ctx, next.id)).toMatchObject({ status: 'ready' });
    expect(await chunksOf(next.id)).toBeGreaterThan(0);
    expect(await service().get(ctx, exportId)).toMatchObject({ status: 'expired', download: null });
    expect(await chunksOf(exportId)).toBe(0);
    await expect(service().download(orgA, userA, exportId)).rejects.toMatchObject({
      code: 'EXPORT_NOT_FOUND',
    });
    expect((await collect(await service().download(orgA, userA, next.id))).length).toBeGreaterThan(0);
  });

  it('a download reads its chunks from the database one at a time, as the reply asks for them', async () => {
    const parts = [Buffer.alloc(1_048_576, 1), Buffer.alloc(1_048_576, 2), Buffer.alloc(1000, 3)];
    const id = uuidv7();
    await admin.query(
      `insert into organization_exports (organization_id, id, requested_by, status, size_bytes, archive_sha256,
         finished_at, expires_at) values ($1, $2, $3, 'ready', $4, $5, now(), now() + interval '1 hour')`,
      [orgA, id, userA, 2_098_152, sha256(Buffer.concat(parts))],
    );
    for (const [seq, data] of parts.entries()) {
      await admin.query(
        'insert into organization_export_chunks (organization_id, export_id, seq, data) values ($1, $2, $3, $4)',
        [orgA, id, seq, data],
      );
    }
    const download = await service().download(orgA, userA, id);
    expect(download.size).toBe(2_098_152);
    const it = download.chunks[Symbol.asyncIterator]();
    const same = (r: IteratorResult<Buffer>, b: Buffer) => expect(!r.done && r.value.equals(b)).toBe(true);
    same(await it.next(), parts[0]!);
    // Chunks not yet sent are not in memory: what the reply gets next is what the database holds now.
    const changed = Buffer.alloc(1000, 9);
    await admin.query('update organization_export_chunks set data = $1 where export_id = $2 and seq = 2', [
      changed,
      id,
    ]);
    same(await it.next(), parts[1]!);
    same(await it.next(), changed);
    expect((await it.next()).done).toBe(true);
    // A chunk gone mid-download (the archive superseded) ends the download with an error, not short data.
    const again = (await service().download(orgA, userA, id)).chunks[Symbol.asyncIterator]();
    await again.next();
    await admin.query('delete from organization_export_chunks where export_id = $1 and seq = 1', [id]);
    await expect(again.next()).rejects.toThrow(/removed while it was being downloaded/);
    await admin.query(`update organization_exports set status = 'expired' where id = $1`, [id]);
  });

  it('starts exports again and again on the same connections (prepared statements past their fifth run)', async () => {
    // PostgreSQL plans a prepared statement generically from its sixth execution on a connection: the
    // one-running-export insert must still find its partial unique index then.
    for (let i = 0; i < 20; i++) {
      const { export: e } = await service().create(ctx);
      expect(e.status).toBe('queued');
      await expect(service().create(ctx)).rejects.toMatchObject({ code: 'EXPORT_ALREADY_RUNNING' });
      await admin.query(`update organization_exports set status = 'failed' where id = $1`, [e.id]);
    }
  });
});
