import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { OrganizationExportsTable } from '../../platform/db/schema.js';
import type { Selectable } from 'kysely';
import {
  failedValues,
  progressValues,
  readyValues,
  runningValues,
  UNFINISHED,
  type ExportProgress,
  type ExportResult,
} from './export-status.js';

export type OrganizationExportRow = Selectable<OrganizationExportsTable>;

const COLUMNS = [
  'organization_id',
  'id',
  'requested_by',
  'status',
  'tables_total',
  'tables_done',
  'rows_exported',
  'size_bytes',
  'archive_sha256',
  'error',
  'created_at',
  'started_at',
  'finished_at',
  'expires_at',
] as const;

/** Inserts a queued export; null when one is already queued or running (the partial unique index). */
export async function insertExport(
  db: TenantDb,
  row: { organization_id: string; id: string; requested_by: string },
): Promise<OrganizationExportRow | null> {
  const res = await db
    .insertInto('organization_exports')
    .values(row)
    // The partial index's predicate as literal SQL: with bound values (`status in ($1, $2)`) PostgreSQL
    // cannot match the index once the prepared statement switches to a generic plan (after five
    // executions on a connection), and every later export request failed.
    .onConflict((oc) =>
      oc
        .column('organization_id')
        .where(sql<boolean>`status in ('queued', 'running')`)
        .doNothing(),
    )
    .returning(COLUMNS)
    .executeTakeFirst();
  return res ?? null;
}

/** How long an export may stay queued or running before a new request takes its place (a lost job). */
export const ABANDONED_AFTER_HOURS = 24;

/** Fails the organization's export that has been queued or running for too long (its job was lost). */
export async function failAbandoned(db: TenantDb, orgId: string): Promise<void> {
  await db
    .updateTable('organization_exports')
    .set(failedValues('abandoned: not finished within a day'))
    .where('organization_id', '=', orgId)
    .where('status', 'in', UNFINISHED)
    .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${ABANDONED_AFTER_HOURS})`)
    .execute();
}

/** The queued or running export of the organization, if any. */
export async function findActiveExport(db: TenantDb, orgId: string): Promise<OrganizationExportRow | null> {
  const row = await db
    .selectFrom('organization_exports')
    .select(COLUMNS)
    .where('organization_id', '=', orgId)
    .where('status', 'in', UNFINISHED)
    .executeTakeFirst();
  return row ?? null;
}

export async function findExport(
  db: TenantDb,
  orgId: string,
  id: string,
): Promise<OrganizationExportRow | null> {
  const row = await db
    .selectFrom('organization_exports')
    .select(COLUMNS)
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ?? null;
}

/** Newest first (ids are UUIDv7), strictly before `before`. */
export async function listExports(
  db: TenantDb,
  orgId: string,
  opts: { before?: string; limit: number },
): Promise<OrganizationExportRow[]> {
  let q = db.selectFrom('organization_exports').select(COLUMNS).where('organization_id', '=', orgId);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/** Moves a queued (or, on a retry, running) export to running; false when it is past that. */
export async function markRunning(db: TenantDb, orgId: string, id: string): Promise<boolean> {
  const res = await db
    .updateTable('organization_exports')
    .set(runningValues())
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .where('status', 'in', UNFINISHED)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function setProgress(db: TenantDb, orgId: string, id: string, p: ExportProgress): Promise<void> {
  await db
    .updateTable('organization_exports')
    .set(progressValues(p))
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
}

/**
 * Stores the archive (replacing any chunks of an earlier attempt) and marks the export ready; the
 * organization's earlier ready exports are then expired and their chunks deleted. Why: one export at a
 * time is allowed, but without this every finished archive stayed for its whole retention, so exporting
 * in a loop filled the database; the newest archive holds everything an older one did.
 */
export async function storeArchive(
  db: TenantDb,
  orgId: string,
  id: string,
  chunks: readonly Buffer[],
  done: ExportResult,
): Promise<boolean> {
  await db
    .deleteFrom('organization_export_chunks')
    .where('organization_id', '=', orgId)
    .where('export_id', '=', id)
    .execute();
  for (let seq = 0; seq < chunks.length; seq++) {
    await db
      .insertInto('organization_export_chunks')
      .values({ organization_id: orgId, export_id: id, seq, data: chunks[seq]! })
      .execute();
  }
  const res = await db
    .updateTable('organization_exports')
    .set(readyValues(done))
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) return false;
  const superseded = await db
    .updateTable('organization_exports')
    .set({ status: 'expired' })
    .where('organization_id', '=', orgId)
    .where('status', '=', 'ready')
    .where('id', '<>', id)
    .returning('id')
    .execute();
  if (superseded.length > 0) {
    await db
      .deleteFrom('organization_export_chunks')
      .where('organization_id', '=', orgId)
      .where(
        'export_id',
        'in',
        superseded.map((r) => r.id),
      )
      .execute();
  }
  return true;
}

export async function markFailed(db: TenantDb, orgId: string, id: string, error: string): Promise<void> {
  await db
    .updateTable('organization_exports')
    .set(failedValues(error))
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .where('status', 'in', UNFINISHED)
    .execute();
}

/** How many chunks the export's stored archive has. */
export async function chunkCount(db: TenantDb, orgId: string, id: string): Promise<number> {
  const row = await db
    .selectFrom('organization_export_chunks')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('organization_id', '=', orgId)
    .where('export_id', '=', id)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** One chunk of the export's stored archive (null when gone). */
export async function archiveChunk(
  db: TenantDb,
  orgId: string,
  id: string,
  seq: number,
): Promise<Buffer | null> {
  const row = await db
    .selectFrom('organization_export_chunks')
    .select('data')
    .where('organization_id', '=', orgId)
    .where('export_id', '=', id)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row?.data ?? null;
}
