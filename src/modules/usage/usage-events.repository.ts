import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

/** The columns of a batch, one array each, in id order (so concurrent batches lock keys alike). */
export interface EventColumns {
  ids: string[];
  meters: string[];
  values: (string | null)[];
  dimensions: (string | null)[];
  occurredAt: string[];
  properties: (string | null)[];
  digests: string[];
}

/**
 * Stores a batch in ONE statement: the ids whose key is new are inserted into `usage_event_keys` (ON
 * CONFLICT DO NOTHING) and, for exactly those, into `usage_events`. Answers the ids it stored
 * (`digest` null) and the stored digest of every id that existed before the statement. An id in neither
 * was inserted by a concurrent transaction that committed meanwhile: ask {@link storedDigests}.
 */
export async function insertBatch(
  db: TenantDb,
  orgId: string,
  c: EventColumns,
): Promise<{ id: string; digest: string | null }[]> {
  const res = await sql<{ id: string; digest: string | null }>`with input as (
      select * from unnest(${c.ids}::text[], ${c.meters}::text[], ${c.values}::numeric[],
        ${c.dimensions}::text[], ${c.occurredAt}::timestamptz[], ${c.properties}::jsonb[], ${c.digests}::text[])
        as t (id, meter, value, dimension, occurred_at, properties, digest)
    ), fresh as (
      insert into usage_event_keys (organization_id, id, digest, occurred_at)
      select ${orgId}::uuid, i.id, decode(i.digest, 'hex'), i.occurred_at from input i
      on conflict do nothing
      returning id
    ), stored as (
      insert into usage_events (organization_id, id, meter, value, dimension, occurred_at, properties)
      select ${orgId}::uuid, i.id, i.meter, i.value, i.dimension, i.occurred_at, i.properties
        from input i join fresh f on f.id = i.id
    )
    select f.id, null::text as digest from fresh f
    union all
    select k.id, encode(k.digest, 'hex') from usage_event_keys k
     where k.organization_id = ${orgId}::uuid
       and k.id in (select i.id from input i where not exists (select 1 from fresh f where f.id = i.id))`.execute(
    db,
  );
  return res.rows;
}

/** The stored digests of `ids` (those a concurrent batch stored while ours waited on their keys). */
export async function storedDigests(
  db: TenantDb,
  orgId: string,
  ids: string[],
): Promise<{ id: string; digest: string }[]> {
  const res = await sql<{ id: string; digest: string }>`select id, encode(digest, 'hex') as digest
    from usage_event_keys where organization_id = ${orgId}::uuid and id = any (${ids}::text[])`.execute(db);
  return res.rows;
}
