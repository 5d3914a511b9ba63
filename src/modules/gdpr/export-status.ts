import { sql } from 'kysely';

/**
 * The status changes of an export row, shared by `organization_exports` and `account_exports` (the same
 * status, progress and result columns): each repository applies them to its own table with its own key
 * (organization and id, or id).
 */

/** The statuses of an export not finished yet: a job may (re)start it, and failing it ends it. */
export const UNFINISHED = ['queued', 'running'] as const;

/** Running; the first start is kept across retries. */
export const runningValues = () => ({
  status: 'running' as const,
  started_at: sql<Date>`coalesce(started_at, now())`,
});

export interface ExportProgress {
  tables_total?: number;
  tables_done: number;
  rows_exported: number;
}

export const progressValues = (p: ExportProgress) => ({ ...p, rows_exported: String(p.rows_exported) });

export interface ExportResult {
  size: number;
  sha256: string;
  rows: number;
  tables: number;
  expiresAt: Date;
}

/** Ready: the stored archive's size, digest and counts, and when it expires. */
export const readyValues = (done: ExportResult) => ({
  status: 'ready' as const,
  size_bytes: String(done.size),
  archive_sha256: done.sha256,
  rows_exported: String(done.rows),
  tables_total: done.tables,
  tables_done: done.tables,
  finished_at: sql<Date>`now()`,
  expires_at: done.expiresAt,
});

/** Failed, with a message the requester sees (at most 500 characters). */
export const failedValues = (error: string) => ({
  status: 'failed' as const,
  error: error.slice(0, 500),
  finished_at: sql<Date>`now()`,
});
