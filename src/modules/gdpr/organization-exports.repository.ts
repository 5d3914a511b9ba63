import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { OrganizationExportsTable } from '../../platform/db/schema.js';
import type { Selectable } from 'kysely';
import type { ExportProgress, ExportResult } from './export-status.js';
import * as rows from './export-rows.js';

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

/** Every query filters by `organization_id` explicitly (the tenant's), before the export's id. */
const EXPORTS: rows.ExportTables<OrganizationExportRow> = {
  rows: 'organization_exports',
  chunks: 'organization_export_chunks',
  columns: COLUMNS,
  owner: 'organization_id',
};

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

/** Fails the organization's export that has been queued or running for too long (its job was lost). */
export function failAbandoned(db: TenantDb, orgId: string): Promise<void> {
  return rows.failAbandoned(db, EXPORTS, { organization_id: orgId });
}

/** The queued or running export of the organization, if any. */
export function findActiveExport(db: TenantDb, orgId: string): Promise<OrganizationExportRow | null> {
  return rows.findActiveExport(db, EXPORTS, { organization_id: orgId });
}

export function findExport(db: TenantDb, orgId: string, id: string): Promise<OrganizationExportRow | null> {
  return rows.findExport(db, EXPORTS, { organization_id: orgId, id });
}

/** Newest first (ids are UUIDv7), strictly before `before`. */
export function listExports(
  db: TenantDb,
  orgId: string,
  opts: { before?: string; limit: number },
): Promise<OrganizationExportRow[]> {
  return rows.listExports(db, EXPORTS, { organization_id: orgId }, opts);
}

/** Moves a queued (or, on a retry, running) export to running; false when it is past that. */
export function markRunning(db: TenantDb, orgId: string, id: string): Promise<boolean> {
  return rows.markRunning(db, EXPORTS, { organization_id: orgId, id });
}

export function setProgress(db: TenantDb, orgId: string, id: string, p: ExportProgress): Promise<void> {
  return rows.setProgress(db, EXPORTS, { organization_id: orgId, id }, p);
}

/**
 * Stores the archive (replacing any chunks of an earlier attempt) and marks the export ready; the
 * organization's earlier ready exports are then expired and their chunks deleted (export-rows.ts says
 * why). False when the export is no longer running.
 */
export function storeArchive(
  db: TenantDb,
  orgId: string,
  id: string,
  chunks: readonly Buffer[],
  done: ExportResult,
): Promise<boolean> {
  return rows.storeArchive(db, EXPORTS, { organization_id: orgId }, id, chunks, done);
}

export function markFailed(db: TenantDb, orgId: string, id: string, error: string): Promise<void> {
  return rows.markFailed(db, EXPORTS, { organization_id: orgId, id }, error);
}

/** How many chunks the export's stored archive has. */
export function chunkCount(db: TenantDb, orgId: string, id: string): Promise<number> {
  return rows.chunkCount(db, EXPORTS, { organization_id: orgId, export_id: id });
}

/** One chunk of the export's stored archive (null when gone). */
export function archiveChunk(db: TenantDb, orgId: string, id: string, seq: number): Promise<Buffer | null> {
  return rows.archiveChunk(db, EXPORTS, { organization_id: orgId, export_id: id }, seq);
}
