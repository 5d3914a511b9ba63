import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { sealedColumns } from '../../platform/tenant-keys/sealed-columns.js';
import { ArchiveTooLargeError, chunksOf, createArchiveBuilder, jsonLine } from './archive.js';
import { EXPORT_MAX_ATTEMPTS, EXPORT_PAGE_ROWS } from './export-view.js';
import * as repo from './organization-exports.repository.js';
import { NOT_EXPORTED, REDACTED_VALUE, redactRow, tablePage, tenantTables } from './tenant-tables.js';

export interface ExportJobDeps {
  withTenant: WithTenant;
  maxArchiveBytes: number;
  archiveRetentionHours: number;
  log: Logger;
}

/**
 * Builds one organization export, in the organization's own tenant scopes (the job carries the tenant):
 * every table with `organization_id` found in the catalog, read a page at a time in primary key order,
 * one JSON Lines file per table (`tables/<schema>.<table>.jsonl`), then `manifest.json`; the archive is
 * stored in chunks and the export marked ready in one transaction. Progress (tables done, rows) is
 * written after each table. A retry starts over (chunks of an earlier attempt are replaced); the last
 * attempt's failure, or an archive over EXPORT_MAX_BYTES, marks the export failed.
 */
export async function runOrganizationExport(
  deps: ExportJobDeps,
  orgId: string,
  exportId: string,
  attempt: number,
): Promise<void> {
  const { withTenant } = deps;
  const started = await withTenant(orgId, (db) => repo.markRunning(db, orgId, exportId));
  if (!started) return; // already ready, failed or expired: nothing to do
  try {
    const row = await withTenant(orgId, (db) => repo.findExport(db, orgId, exportId), { mode: 'read' });
    const tables = await withTenant(orgId, (db) => tenantTables(db), { mode: 'read' });
    const readable = tables.filter((t) => t.readable);
    await withTenant(orgId, (db) =>
      repo.setProgress(db, orgId, exportId, {
        tables_total: readable.length,
        tables_done: 0,
        rows_exported: 0,
      }),
    );
    const builder = createArchiveBuilder(deps.maxArchiveBytes);
    let rows = 0;
    let done = 0;
    for (const t of readable) {
      const lines: string[] = [];
      let after: Record<string, unknown> | null = null;
      for (;;) {
        const page = await withTenant(orgId, (db) => tablePage(db, t, orgId, after, EXPORT_PAGE_ROWS), {
          mode: 'read',
        });
        for (const r of page) {
          const line = jsonLine(redactRow(t, r));
          builder.reserve(Buffer.byteLength(line));
          lines.push(line);
        }
        if (page.length < EXPORT_PAGE_ROWS || t.primaryKey.length === 0) break;
        after = page[page.length - 1]!;
      }
      // Sealed columns (tenant keys) are exported as stored, but for the redacted ones (credentials); the
      // manifest names both per table.
      const sealed = sealedColumns
        .filter((c) => t.schema === 'public' && c.table === t.table && !t.redacted.includes(c.column))
        .map((c) => c.column);
      builder.addFile(`tables/${t.schema}.${t.table}.jsonl`, `${t.schema}.${t.table}`, lines, {
        sealedColumns: sealed,
        redactedColumns: t.redacted,
      });
      rows += lines.length;
      done += 1;
      await withTenant(orgId, (db) =>
        repo.setProgress(db, orgId, exportId, { tables_done: done, rows_exported: rows }),
      );
    }
    const notes = [
      ...Object.entries(NOT_EXPORTED).map(([t, why]) => `${t} is not exported: ${why}`),
      ...tables.filter((t) => !t.readable).map((t) => `${t.schema}.${t.table} could not be read`),
      'Every row is to_jsonb of the stored row: bytea columns as \\x hex text, timestamps as ISO 8601 text.',
      `Credentials and their digests (each file's redactedColumns) read "${REDACTED_VALUE}" instead of their value.`,
    ];
    const { zip } = await builder.finish({
      kind: 'organization',
      exportId,
      organizationId: orgId,
      createdAt: (row?.created_at ?? new Date()).toISOString(),
      notes,
    });
    const sha256 = createHash('sha256').update(zip).digest('hex');
    const expiresAt = new Date(Date.now() + deps.archiveRetentionHours * 3_600_000);
    await withTenant(orgId, (db) =>
      repo.storeArchive(db, orgId, exportId, chunksOf(zip), {
        size: zip.length,
        sha256,
        rows,
        tables: readable.length,
        expiresAt,
      }),
    );
    deps.log.info(
      { component: 'gdpr', export_id: exportId, rows, tables: readable.length, size_bytes: zip.length },
      'organization export ready',
    );
  } catch (err) {
    const final = err instanceof ArchiveTooLargeError || attempt >= EXPORT_MAX_ATTEMPTS;
    deps.log.error({ component: 'gdpr', export_id: exportId, err, final }, 'organization export failed');
    if (!final) throw err; // graphile-worker retries it
    const message = err instanceof ArchiveTooLargeError ? err.message : 'the export failed; start a new one';
    await withTenant(orgId, (db) => repo.markFailed(db, orgId, exportId, message));
  }
}

/** The job handler of ORGANIZATION_EXPORT_TASK (payload `{ exportId }`, tenant: the organization). */
export function createOrganizationExportJobHandler(deps: ExportJobDeps): JobHandler {
  return async (payload, job) => {
    const exportId = (payload as { exportId?: unknown } | null)?.exportId;
    if (!isTenantId(job.tenantId) || !isTenantId(exportId)) {
      deps.log.error({ component: 'gdpr' }, 'organization export job without a tenant or export id: dropped');
      return;
    }
    await runOrganizationExport(deps, job.tenantId, exportId, job.attempt);
  };
}
