import { sql, type Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';
import type { PlatformScope } from '../../platform/tenancy/platform-scope.js';
import type { Aggregation, MeterDef } from './usage-model.js';

// `meters` is global (no organization_id): the runtime role reads it on the platform handle; writes go
// through the platform definer functions of migration 0017, inside a platform scope.

export interface MeterRow {
  key: string;
  aggregation: Aggregation;
  property: string | null;
  unit: string;
  description: string;
  created_at: Date;
  updated_at: Date;
  archived_at: Date | null;
}

export const toDef = (r: MeterRow): MeterDef => ({
  key: r.key,
  aggregation: r.aggregation,
  property: r.property,
  unit: r.unit,
  description: r.description,
  archivedAt: r.archived_at,
});

/** Every meter (what the ingestion cache loads; the catalog is small). */
export async function allMeters(db: Kysely<Database>): Promise<MeterRow[]> {
  const res = await sql<MeterRow>`select * from meters order by key`.execute(db);
  return res.rows;
}

/** Meters by key, strictly after `after`. */
export async function listMeters(
  db: Kysely<Database>,
  after: string | null,
  limit: number,
): Promise<MeterRow[]> {
  const res = await sql<MeterRow>`select * from meters where ${after}::text is null or key > ${after}
    order by key limit ${limit}`.execute(db);
  return res.rows;
}

export async function findMeter(db: Kysely<Database>, key: string): Promise<MeterRow | undefined> {
  const res = await sql<MeterRow>`select * from meters where key = ${key}`.execute(db);
  return res.rows[0];
}

/** Inserts a meter; undefined when the key is taken. */
export async function insertMeter(
  scope: PlatformScope,
  m: { key: string; aggregation: Aggregation; property: string | null; unit: string; description: string },
): Promise<MeterRow | undefined> {
  const res = await sql<MeterRow>`select * from app_priv_platform_meter_create(${m.key}, ${m.aggregation},
    ${m.property}, ${m.unit}, ${m.description})`.execute(scope);
  return res.rows[0];
}

/** Changes unit/description (null keeps) and archives; undefined when there is no such meter. */
export async function updateMeter(
  scope: PlatformScope,
  key: string,
  patch: { unit: string | null; description: string | null; archive: boolean },
): Promise<MeterRow | undefined> {
  const res = await sql<MeterRow>`select * from app_priv_platform_meter_update(${key}, ${patch.unit},
    ${patch.description}, ${patch.archive})`.execute(scope);
  return res.rows[0];
}
