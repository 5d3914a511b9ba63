import type { ExportColumns } from '../../platform/db/schema.js';
import type { Selectable } from 'kysely';

/** An export as the API shows it (organization and account exports alike). */
export interface ExportView {
  id: string;
  status: 'queued' | 'running' | 'ready' | 'failed' | 'expired';
  tablesDone: number;
  tablesTotal: number;
  rows: number;
  sizeBytes: number | null;
  sha256: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  expiresAt: string | null;
  /** A signed download link for the caller (GET of one ready export only; null otherwise). */
  download: { url: string; expiresAt: string } | null;
}

export const toExportView = (r: Selectable<ExportColumns>): ExportView => {
  const expired = r.status === 'ready' && r.expires_at !== null && r.expires_at.getTime() <= Date.now();
  return {
    id: r.id,
    status: expired ? 'expired' : r.status,
    tablesDone: r.tables_done,
    tablesTotal: r.tables_total,
    rows: Number(r.rows_exported),
    sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    sha256: r.archive_sha256,
    error: r.error,
    createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
    expiresAt: r.expires_at?.toISOString() ?? null,
    download: null,
  };
};

/** The task names of the two export jobs (listed in `enqueueable_tasks`, migration 0027). */
export const ORGANIZATION_EXPORT_TASK = 'gdpr.organization_export';
export const ACCOUNT_EXPORT_TASK = 'gdpr.account_export';
/** Attempts of an export job before the export is marked failed. */
export const EXPORT_MAX_ATTEMPTS = 3;
/** Rows read per query while exporting. */
export const EXPORT_PAGE_ROWS = 1000;
