import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { uuidv7 } from '../../platform/ids.js';
import { requestHash, withIdempotency } from '../../platform/idempotency.js';
import { recordAudit } from '../../platform/audit/record.js';
import { fieldChanges } from '../../platform/audit/changes.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import * as repo from './projects.repository.js';
import { ProjectsError, projectNotFound } from './projects.errors.js';

/** A project as the API shows it. */
export interface Project {
  id: string;
  name: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ProjectsService {
  /**
   * Creates a project (audited `project.created`). With an idempotency key, a retry returns the first
   * result (`replayed`) and writes nothing, no second audit event either.
   */
  create(
    ctx: TenantCtx,
    input: { name: string; description?: string | null },
    opts?: { idempotencyKey?: string },
  ): Promise<{ project: Project; replayed: boolean }>;
  /** One project; PROJECT_NOT_FOUND for a missing id and for any other tenant's id alike. */
  get(ctx: TenantCtx, id: string): Promise<Project>;
  /** Newest first, cursor-paginated. */
  list(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<Project>>;
  /** Changes name and/or description (audited `project.updated`, before/after of the changed fields). */
  update(ctx: TenantCtx, id: string, patch: { name?: string; description?: string | null }): Promise<Project>;
  /** Deletes a project (audited `project.deleted`). */
  remove(ctx: TenantCtx, id: string): Promise<void>;
}

const toProject = (r: repo.ProjectRow): Project => ({
  id: r.id,
  name: r.name,
  description: r.description,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

function nameTaken(err: unknown, name: string | undefined): never {
  if (isUniqueViolation(err, 'projects_name_key')) {
    throw new ProjectsError('PROJECT_NAME_TAKEN', `a project named "${name}" already exists`);
  }
  throw err;
}

/** The example tenant-scoped resource: copy this shape for your own tables. */
export function createProjectsService(deps: { withTenant: WithTenant }): ProjectsService {
  const { withTenant } = deps;
  return {
    async create(ctx, input, opts) {
      const row = { organization_id: ctx.tenantId, name: input.name, description: input.description ?? null };
      const insert = async (db: Parameters<Parameters<WithTenant>[1]>[0]) => {
        const created = await repo.insertProject(db, { ...row, id: uuidv7() });
        await recordAudit(db, ctx, {
          action: 'project.created',
          target: { type: 'project', id: created.id },
          metadata: { name: created.name },
        });
        return toProject(created);
      };
      try {
        return await withTenant(ctx.tenantId, async (db) => {
          if (!opts?.idempotencyKey) return { project: await insert(db), replayed: false };
          const { result, replayed } = await withIdempotency(
            db,
            ctx.tenantId,
            { scope: 'projects.create', key: opts.idempotencyKey, hash: requestHash(row) },
            () => insert(db),
          );
          return { project: result, replayed };
        });
      } catch (err) {
        return nameTaken(err, input.name);
      }
    },

    async get(ctx, id) {
      if (!isTenantId(id)) throw projectNotFound();
      const row = await withTenant(ctx.tenantId, (db) => repo.findProject(db, ctx.tenantId, id), {
        mode: 'read',
      });
      if (!row) throw projectNotFound();
      return toProject(row);
    },

    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listProjects(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toProject);
    },

    async update(ctx, id, patch) {
      if (!isTenantId(id)) throw projectNotFound();
      try {
        const row = await withTenant(ctx.tenantId, async (db) => {
          const before = await repo.findProject(db, ctx.tenantId, id, { forUpdate: true });
          if (!before) throw projectNotFound();
          const after = await repo.updateProject(db, ctx.tenantId, id, patch);
          if (!after) throw projectNotFound();
          await recordAudit(db, ctx, {
            action: 'project.updated',
            target: { type: 'project', id },
            changes: fieldChanges(before, after, ['name', 'description']),
          });
          return after;
        });
        return toProject(row);
      } catch (err) {
        return nameTaken(err, patch.name);
      }
    },

    async remove(ctx, id) {
      if (!isTenantId(id)) throw projectNotFound();
      await withTenant(ctx.tenantId, async (db) => {
        const deleted = await repo.deleteProject(db, ctx.tenantId, id);
        if (!deleted) throw projectNotFound();
        await recordAudit(db, ctx, {
          action: 'project.deleted',
          target: { type: 'project', id },
          metadata: { name: deleted.name },
        });
      });
    },
  };
}
