import type { Kysely, Selectable } from 'kysely';
import type { Database, FeatureFlagsTable } from '../../platform/db/schema.js';
import type { FlagDefinition, FlagRollout, FlagRule, FlagSpec, FlagVariant } from './flag-model.js';

// Flag definitions are platform-level (no organization_id): these functions take the platform handle
// (or one of its transactions). Only platform routes and the evaluation cache reach them.

export type FlagRow = Selectable<FeatureFlagsTable>;
type Db = Kysely<Database>;

/** The columns of a spec, jsonb columns as JSON text (pg would send a JS array as a SQL array). */
function specColumns(spec: FlagSpec) {
  return {
    kind: spec.kind,
    description: spec.description,
    variants: JSON.stringify(spec.variants),
    default_value: JSON.stringify(spec.defaultValue),
    off_value: JSON.stringify(spec.offValue),
    killed: spec.killed,
    allow_org_override: spec.allowOrgOverride,
    rules: JSON.stringify(spec.rules),
    rollout: spec.rollout ? JSON.stringify(spec.rollout) : null,
  };
}

/** A stored row as the API shows it. */
export function toDefinition(r: FlagRow): FlagDefinition {
  return {
    key: r.key,
    kind: r.kind,
    description: r.description,
    variants: r.variants as FlagVariant[],
    defaultValue: r.default_value,
    offValue: r.off_value,
    killed: r.killed,
    allowOrgOverride: r.allow_org_override,
    rules: r.rules as FlagRule[],
    rollout: (r.rollout ?? null) as FlagRollout | null,
    version: r.version,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** Every definition, by key (what the evaluation cache loads). */
export function allFlagRows(db: Db): Promise<FlagRow[]> {
  return db.selectFrom('feature_flags').selectAll().orderBy('key').execute();
}

/** Definitions by key, strictly after `after` when given. */
export function listFlagRows(db: Db, opts: { after?: string; limit: number }): Promise<FlagRow[]> {
  let q = db.selectFrom('feature_flags').selectAll();
  if (opts.after) q = q.where('key', '>', opts.after);
  return q.orderBy('key').limit(opts.limit).execute();
}

/** One definition; `forUpdate` locks it until the transaction ends. */
export function findFlagRow(
  db: Db,
  key: string,
  opts?: { forUpdate?: boolean },
): Promise<FlagRow | undefined> {
  const q = db.selectFrom('feature_flags').selectAll().where('key', '=', key);
  return (opts?.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/** Inserts a definition; undefined when the key is taken. */
export function insertFlagRow(db: Db, key: string, spec: FlagSpec): Promise<FlagRow | undefined> {
  return db
    .insertInto('feature_flags')
    .values({ key, ...specColumns(spec) })
    .onConflict((oc) => oc.column('key').doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Replaces a definition's spec and bumps its version. */
export function updateFlagRow(db: Db, key: string, spec: FlagSpec): Promise<FlagRow> {
  return db
    .updateTable('feature_flags')
    .set((eb) => ({ ...specColumns(spec), version: eb('version', '+', 1), updated_at: new Date() }))
    .where('key', '=', key)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a definition (every organization's override of it goes with it); the row, if any. */
export function deleteFlagRow(db: Db, key: string): Promise<FlagRow | undefined> {
  return db.deleteFrom('feature_flags').where('key', '=', key).returningAll().executeTakeFirst();
}
