import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, PlansTable } from '../../platform/db/schema.js';
import type { PlatformScope } from '../../platform/tenancy/platform-scope.js';
import type { Plan, PlanQuota, PlanSpec } from './plan-model.js';
import type { PlanPrice } from '../billing/price-model.js';

// Plans are platform-level (no organization_id): read with the platform handle or inside any tenant
// scope (the runtime role may SELECT them), written only through the two definer functions of migration
// 0018, inside the platform scope of a platform administrator.

export type PlanRow = Selectable<PlansTable>;
type Db = Kysely<Database>;

/** A stored row as the API shows it. */
export function toPlan(r: PlanRow): Plan {
  return {
    key: r.key,
    name: r.name,
    description: r.description,
    seatLimit: r.seat_limit,
    quotas: r.quotas as PlanQuota[],
    entitlements: r.entitlements,
    price: r.price as PlanPrice,
    public: r.public,
    auditRetentionDays: r.audit_retention_days,
    archivedAt: r.archived_at?.toISOString() ?? null,
    version: r.version,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Plans by key, strictly after `after`; archived ones only with `archived`, non-public only with `hidden`. */
export function listPlanRows(
  db: Db,
  opts: { after?: string; limit: number; archived: boolean; hidden: boolean },
): Promise<PlanRow[]> {
  let q = db.selectFrom('plans').selectAll();
  if (opts.after) q = q.where('key', '>', opts.after);
  if (!opts.archived) q = q.where('archived_at', 'is', null);
  if (!opts.hidden) q = q.where('public', '=', true);
  return q.orderBy('key').limit(opts.limit).execute();
}

/** One plan. */
export function findPlanRow(db: Db, key: string): Promise<PlanRow | undefined> {
  return db.selectFrom('plans').selectAll().where('key', '=', key).executeTakeFirst();
}

/** Inserts (`create`: undefined when the key is taken) or replaces (undefined when unknown) a plan. */
export async function savePlanRow(
  scope: PlatformScope,
  key: string,
  spec: PlanSpec,
  create: boolean,
): Promise<PlanRow | undefined> {
  const res = await sql<PlanRow>`select * from app_platform_plan_save(${key}, ${JSON.stringify(spec)}::jsonb,
    ${create})`.execute(scope);
  return res.rows[0];
}

/** Archives or restores a plan; undefined when unknown. */
export async function archivePlanRow(
  scope: PlatformScope,
  key: string,
  archived: boolean,
): Promise<PlanRow | undefined> {
  const res = await sql<PlanRow>`select * from app_platform_plan_archive(${key}, ${archived})`.execute(scope);
  return res.rows[0];
}
