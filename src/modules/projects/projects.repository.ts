import type { Selectable } from 'kysely';
import { precompiled } from '../../platform/db/precompiled.js';
import type { ProjectsTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export type ProjectRow = Selectable<ProjectsTable>;

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

/** Inserts a project of the current tenant. */
export function insertProject(
  db: TenantDb,
  row: { organization_id: string; id: string; name: string; description: string | null },
): Promise<ProjectRow> {
  return db.insertInto('projects').values(row).returningAll().executeTakeFirstOrThrow();
}

/**
 * `findProject`'s two statements (plain and locking), compiled once: it runs on every project read, and
 * Kysely would otherwise rebuild and recompile the same text each time. The statement still filters by
 * `organization_id` explicitly; only the values change per call.
 */
const findPlain = precompiled((db: TenantDb, p: { tenantId: string; id: string }) =>
  db.selectFrom('projects').selectAll().where('organization_id', '=', p.tenantId).where('id', '=', p.id),
);
const findLocking = precompiled((db: TenantDb, p: { tenantId: string; id: string }) =>
  db
    .selectFrom('projects')
    .selectAll()
    .where('organization_id', '=', p.tenantId)
    .where('id', '=', p.id)
    .forUpdate(),
);

/** One project by id, or undefined; `forUpdate` locks it until the transaction ends (before an update). */
export async function findProject(
  db: TenantDb,
  tenantId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<ProjectRow | undefined> {
  const { rows } = await (opts.forUpdate ? findLocking : findPlain)(db, { tenantId, id });
  return rows[0];
}

/** Projects newest first, strictly older than `before` (a project id) when given. */
export function listProjects(
  db: TenantDb,
  tenantId: string,
  opts: { before?: string; limit: number },
): Promise<ProjectRow[]> {
  let q = db.selectFrom('projects').selectAll().where('organization_id', '=', tenantId);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/** Updates name and/or description; undefined when no such project. */
export function updateProject(
  db: TenantDb,
  tenantId: string,
  id: string,
  patch: { name?: string; description?: string | null },
): Promise<ProjectRow | undefined> {
  return db
    .updateTable('projects')
    .set({ ...patch, updated_at: new Date() })
    .where('organization_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes a project; the deleted row, or undefined when there was none. */
export function deleteProject(db: TenantDb, tenantId: string, id: string): Promise<ProjectRow | undefined> {
  return db
    .deleteFrom('projects')
    .where('organization_id', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}
