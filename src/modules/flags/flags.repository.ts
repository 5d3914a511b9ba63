import { sql, type Selectable } from 'kysely';
import type { FeatureFlagOverridesTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { isOverrideOf, type OverrideOrigin } from './flag-identity.js';

export type OverrideRow = Selectable<FeatureFlagOverridesTable>;

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

/** An override as the flag context carries it: value and flag id (`f`, null before 0073). */
export interface StoredOverride {
  v: unknown;
  f: string | null;
}

/** The organization's targeting fields, its plan's entitlements (the plan catalog is global) and every
 *  override, each with the flag it was set on: two statements, the directory's (the organization and its
 *  plan) and the placed table's (the overrides), which are on different databases for an organization
 *  placed in a tenant database. */
export async function findOrganizationFlagContext(
  db: TenantDb,
  tenantId: string,
): Promise<
  | {
      plan: string;
      attributes: Record<string, unknown>;
      overrides: Record<string, StoredOverride>;
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
    .select(
      sql<Record<string, StoredOverride> | null>`jsonb_object_agg(flag_key,
        jsonb_build_object('v', value, 'f', flag_id))`.as('o'),
    )
    .where('organization_id', '=', tenantId)
    .executeTakeFirst();
  return {
    plan: row.plan,
    attributes: row.attributes,
    overrides: overrides?.o ?? {},
    entitlements: row.entitlements ?? [],
  };
}

/** A flag an override is checked against (flag-identity.ts). */
export interface FlagRef {
  key: string;
  id: string;
}

/**
 * `isOverrideOf` (flag-identity.ts) in SQL, for the override row `o` and the flags `flags`: the row is of
 * the flag its key names in the list. Keep the two the same.
 */
function ofListedFlag(flags: readonly FlagRef[]) {
  return sql<boolean>`exists (select 1 from unnest(${flags.map((f) => f.key)}::text[],
      ${flags.map((f) => f.id)}::uuid[]) as f (key, id)
    where f.key = o.flag_key and (o.flag_id is null or o.flag_id = f.id))`;
}

/** The flag fields an override is checked against (definitions are global: no organization filter). */
export function findFlagForOverride(db: TenantDb, key: string) {
  return db
    .selectFrom('feature_flags')
    .select(['key', 'id', 'kind', 'variants', 'allow_org_override'])
    .where('key', '=', key)
    .executeTakeFirst();
}

/** A flag's identity as the override checks take it. */
export const refOf = (f: { key: string; id: string }): FlagRef => ({ key: f.key, id: f.id });

/**
 * The flags an organization may override, and those it has overridden (kept even once the flag stopped
 * allowing it), with its override if any; by key, strictly after `after` when given. Definitions are
 * global; the overrides are the organization's. Separate statements, not a join: the definitions are a
 * global table and the overrides a placed one, on different databases for an organization placed in a
 * tenant database. The organization's overrides after `after` first (one per key at most), then, when it
 * has any, which flags they are of (an override of a deleted flag is no override of a flag created again
 * under its key: flag-identity.ts), then the page of definitions that allow overrides or are overridden.
 */
export async function listOverridableFlags(
  db: TenantDb,
  tenantId: string,
  opts: { after?: string; limit: number },
) {
  let o = db
    .selectFrom('feature_flag_overrides')
    .select(['flag_key', 'value', 'updated_at', 'flag_id'])
    .where('organization_id', '=', tenantId);
  if (opts.after) o = o.where('flag_key', '>', opts.after);
  const rows = await o.execute();
  const overrides = new Map<string, (typeof rows)[number]>();
  if (rows.length > 0) {
    const flags = await db
      .selectFrom('feature_flags')
      .select(['key', 'id'])
      .where((eb) => eb('key', '=', eb.fn.any(eb.val(rows.map((r) => r.flag_key)))))
      .execute();
    const byKey = new Map(flags.map((f) => [f.key, refOf(f)]));
    for (const r of rows) {
      const flag = byKey.get(r.flag_key);
      if (flag && isOverrideOf(flag, originOf(r))) overrides.set(r.flag_key, r);
    }
  }
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

/** What an override row says of its flag. */
export const originOf = (r: { flag_id: string | null }): OverrideOrigin => ({ flagId: r.flag_id });

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

/** Overrides of the flags `flags` (each of the flag its key names there), by flag key, strictly after
 *  `after` when given. */
export function listOverrides(
  db: TenantDb,
  tenantId: string,
  opts: { after?: string; limit: number; flags: readonly FlagRef[] },
): Promise<OverrideRow[]> {
  let q = db
    .selectFrom('feature_flag_overrides as o')
    .selectAll()
    .where('o.organization_id', '=', tenantId)
    .where(ofListedFlag(opts.flags));
  if (opts.after) q = q.where('o.flag_key', '>', opts.after);
  return q.orderBy('o.flag_key').limit(opts.limit).execute();
}

/** Sets the override of the flag `flag_id` (insert, or replace whatever the key held: an override of an
 *  earlier flag of that key included). */
export function upsertOverride(
  db: TenantDb,
  row: {
    organization_id: string;
    flag_key: string;
    flag_id: string;
    value: unknown;
    updated_by_user_id: string | null;
  },
): Promise<OverrideRow> {
  const value = JSON.stringify(row.value);
  return db
    .insertInto('feature_flag_overrides')
    .values({ ...row, value })
    .onConflict((oc) =>
      oc.columns(['organization_id', 'flag_key']).doUpdateSet({
        flag_id: row.flag_id,
        value,
        updated_by_user_id: row.updated_by_user_id,
        updated_at: new Date(),
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes the override of `flag` (not one of an earlier flag of its key); the deleted row, if any. */
export function deleteOverride(
  db: TenantDb,
  tenantId: string,
  flag: FlagRef,
): Promise<OverrideRow | undefined> {
  return db
    .deleteFrom('feature_flag_overrides as o')
    .where('o.organization_id', '=', tenantId)
    .where('o.flag_key', '=', flag.key)
    .where(ofListedFlag([flag]))
    .returningAll()
    .executeTakeFirst();
}
