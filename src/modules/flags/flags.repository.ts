import { sql, type Selectable } from 'kysely';
import type { FeatureFlagOverridesTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export type OverrideRow = Selectable<FeatureFlagOverridesTable>;

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

/** The organization's targeting fields, its plan's entitlements (the plan catalog is global) and every
 *  override: two statements, the directory's (the organization and its plan) and the placed table's (the
 *  overrides), which are on different databases for an organization placed in a tenant database. */
export async function findOrganizationFlagContext(
  db: TenantDb,
  tenantId: string,
): Promise<
  | {
      plan: string;
      attributes: Record<string, unknown>;
      overrides: Record<string, unknown>;
      entitlements: string[];
    }
  | undefined
> {
  const row = await db
    .selectFrom('organizations')
    .select(['plan', 'attributes'])
    .select((eb) =>
      eb
        .selectFrom('plans')
        .select('plans.entitlements')
        .whereRef('plans.key', '=', 'organizations.plan')
        .as('entitlements'),
    )
    .where('id', '=', tenantId)
    .executeTakeFirst();
  if (!row) return undefined;
  const overrides = await db
    .selectFrom('feature_flag_overrides')
    .select(sql<Record<string, unknown> | null>`jsonb_object_agg(flag_key, value)`.as('o'))
    .where('organization_id', '=', tenantId)
    .executeTakeFirst();
  return {
    plan: row.plan,
    attributes: row.attributes,
    overrides: overrides?.o ?? {},
    entitlements: row.entitlements ?? [],
  };
}

/** The flag fields an override is checked against (definitions are global: no organization filter). */
export function findFlagForOverride(db: TenantDb, key: string) {
  return db
    .selectFrom('feature_flags')
    .select(['key', 'kind', 'variants', 'allow_org_override'])
    .where('key', '=', key)
    .executeTakeFirst();
}

/**
 * The flags an organization may override, and those it has overridden (kept even once the flag stopped
 * allowing it), with its override if any; by key, strictly after `after` when given. Definitions are
 * global; the overrides are the organization's. Two statements, not a join: the definitions are a global
 * table and the overrides a placed one, on different databases for an organization placed in a tenant
 * database. The organization's overrides after `after` first (one per flag at most), then the page of
 * definitions that allow overrides or are among them.
 */
export async function listOverridableFlags(
  db: TenantDb,
  tenantId: string,
  opts: { after?: string; limit: number },
) {
  let o = db
    .selectFrom('feature_flag_overrides')
    .select(['flag_key', 'value', 'updated_at'])
    .where('organization_id', '=', tenantId);
  if (opts.after) o = o.where('flag_key', '>', opts.after);
  const overrides = new Map((await o.execute()).map((r) => [r.flag_key, r]));
  let q = db
    .selectFrom('feature_flags as f')
    .select(['f.key', 'f.kind', 'f.description', 'f.variants', 'f.allow_org_override'])
    .where((eb) =>
      eb.or([
        eb('f.allow_org_override', '=', true),
        eb('f.key', '=', eb.fn.any(eb.val([...overrides.keys()]))),
      ]),
    );
  if (opts.after) q = q.where('f.key', '>', opts.after);
  const flags = await q.orderBy('f.key').limit(opts.limit).execute();
  return flags.map((f) => {
    const own = overrides.get(f.key);
    return { ...f, override_value: own?.value ?? null, override_updated_at: own?.updated_at ?? null };
  });
}

/** One override of the current tenant. */
export function findOverride(
  db: TenantDb,
  tenantId: string,
  flagKey: string,
): Promise<OverrideRow | undefined> {
  return db
    .selectFrom('feature_flag_overrides')
    .selectAll()
    .where('organization_id', '=', tenantId)
    .where('flag_key', '=', flagKey)
    .executeTakeFirst();
}

/** Overrides by flag key, strictly after `after` when given. */
export function listOverrides(
  db: TenantDb,
  tenantId: string,
  opts: { after?: string; limit: number },
): Promise<OverrideRow[]> {
  let q = db.selectFrom('feature_flag_overrides').selectAll().where('organization_id', '=', tenantId);
  if (opts.after) q = q.where('flag_key', '>', opts.after);
  return q.orderBy('flag_key').limit(opts.limit).execute();
}

/** Sets the override (insert or replace). */
export function upsertOverride(
  db: TenantDb,
  row: { organization_id: string; flag_key: string; value: unknown; updated_by_user_id: string | null },
): Promise<OverrideRow> {
  const value = JSON.stringify(row.value);
  return db
    .insertInto('feature_flag_overrides')
    .values({ ...row, value })
    .onConflict((oc) =>
      oc.columns(['organization_id', 'flag_key']).doUpdateSet({
        value,
        updated_by_user_id: row.updated_by_user_id,
        updated_at: new Date(),
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes the override; the deleted row, if there was one. */
export function deleteOverride(
  db: TenantDb,
  tenantId: string,
  flagKey: string,
): Promise<OverrideRow | undefined> {
  return db
    .deleteFrom('feature_flag_overrides')
    .where('organization_id', '=', tenantId)
    .where('flag_key', '=', flagKey)
    .returningAll()
    .executeTakeFirst();
}
