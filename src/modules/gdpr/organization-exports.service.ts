import { recordAudit } from '../../platform/audit/record.js';
import { uuidv7 } from '../../platform/ids.js';
import { requestHash, withIdempotency } from '../../platform/idempotency.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { decodeCursor, pageLimit, toPage } from '../../platform/pagination.js';
import { isTenantId, userActingIn, type TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { storedChunks, type ArchiveDownload } from './archive.js';
import { downloadLink, type ExportLinkDeps } from './export-link.js';
import {
  EXPORT_MAX_ATTEMPTS,
  ORGANIZATION_EXPORT_TASK,
  toExportView,
  type ExportRequests,
  type ExportView,
} from './export-view.js';
import { exportNotFound, GdprError } from './gdpr.errors.js';
import * as repo from './organization-exports.repository.js';

/**
 * Organization exports: `create` queues an export of every row of the organization. Audited
 * (`organization.export_requested`).
 */
export interface OrganizationExportsService extends ExportRequests<TenantCtx> {
  /**
   * The archive of a ready, unexpired export for `userId`, the user the link was signed for, while they
   * still hold `org:export` there (checked by the caller). Audited (`organization.export_downloaded`).
   */
  download(orgId: string, userId: string, exportId: string): Promise<ArchiveDownload>;
}

export interface OrganizationExportsDeps extends ExportLinkDeps {
  withTenant: WithTenant;
}

/** Exports are requested by people: the download link is bound to a user. */
function requester(ctx: TenantCtx): string {
  if (ctx.actor.kind !== 'user') throw new Error('an organization export is requested by a user');
  return ctx.actor.userId;
}

/** Organization exports: requests, progress, listing, signed links and downloads. */
export function createOrganizationExportsService(deps: OrganizationExportsDeps): OrganizationExportsService {
  const { withTenant } = deps;

  return {
    async create(ctx, opts) {
      return withTenant(ctx.tenantId, async (db) => {
        const start = async (): Promise<ExportView> => {
          await repo.failAbandoned(db, ctx.tenantId);
          const row = await repo.insertExport(db, {
            organization_id: ctx.tenantId,
            id: uuidv7(),
            requested_by: requester(ctx),
          });
          if (!row) {
            const active = await repo.findActiveExport(db, ctx.tenantId);
            throw new GdprError(
              'EXPORT_ALREADY_RUNNING',
              'an export of this organization is already running',
              {
                exportId: active?.id ?? null,
              },
            );
          }
          await enqueueJob(
            db,
            ORGANIZATION_EXPORT_TASK,
            { tenantId: ctx.tenantId, payload: { exportId: row.id } },
            { jobKey: `gdpr-export:${row.id}`, maxAttempts: EXPORT_MAX_ATTEMPTS },
          );
          await recordAudit(db, ctx, {
            action: 'organization.export_requested',
            target: { type: 'organization_export', id: row.id },
          });
          return toExportView(row);
        };
        if (!opts?.idempotencyKey) return { export: await start(), replayed: false };
        const { result, replayed } = await withIdempotency(
          db,
          ctx.tenantId,
          { scope: 'gdpr.organization_export', key: opts.idempotencyKey, hash: requestHash({}) },
          start,
        );
        return { export: result, replayed };
      });
    },

    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listExports(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toExportView);
    },

    async get(ctx, id) {
      if (!isTenantId(id)) throw exportNotFound();
      const row = await withTenant(ctx.tenantId, (db) => repo.findExport(db, ctx.tenantId, id), {
        mode: 'read',
      });
      if (!row) throw exportNotFound();
      const view = toExportView(row);
      if (view.status === 'ready' && ctx.actor.kind === 'user') {
        view.download = downloadLink(deps, {
          kind: 'org',
          exportId: row.id,
          org: ctx.tenantId,
          user: ctx.actor.userId,
        });
      }
      return view;
    },

    async download(orgId, userId, exportId) {
      const ctx = userActingIn(orgId, userId);
      return withTenant(orgId, async (db) => {
        const row = await repo.findExport(db, orgId, exportId);
        if (!row || toExportView(row).status !== 'ready') throw exportNotFound();
        const count = await repo.chunkCount(db, orgId, exportId);
        await recordAudit(db, ctx, {
          action: 'organization.export_downloaded',
          target: { type: 'organization_export', id: exportId },
          metadata: { size_bytes: Number(row.size_bytes), sha256: row.archive_sha256 },
        });
        // Each chunk read in a short read-only scope of its own when the reply wants it.
        const chunks = storedChunks(count, (seq) =>
          withTenant(orgId, (d) => repo.archiveChunk(d, orgId, exportId, seq), { mode: 'read' }),
        );
        return { filename: `organization-export-${exportId}.zip`, size: Number(row.size_bytes), chunks };
      });
    },
  };
}
