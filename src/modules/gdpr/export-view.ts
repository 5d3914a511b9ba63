import type { ExportColumns } from '../../platform/db/schema.js';
import type { Selectable } from 'kysely';
import type { Page } from '../../platform/pagination.js';

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

/**
 * What both export services answer, for `Who` (a user on their own exports, or a tenant context):
 * `create` queues an export (a background job; one queued or running export per owner, another start
 * answers EXPORT_ALREADY_RUNNING, 409, `details.exportId`; an idempotency key replays the first export,
 * `replayed`); `list` is newest first, cursor-paginated; `get` is one export with its progress and, when
 * it is ready, a download link signed for the caller.
 */
export interface ExportRequests<Who> {
  create(who: Who, opts?: { idempotencyKey?: string }): Promise<{ export: ExportView; replayed: boolean }>;
  list(who: Who, opts?: { limit?: number; cursor?: string }): Promise<Page<ExportView>>;
  get(who: Who, id: string): Promise<ExportView>;
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
