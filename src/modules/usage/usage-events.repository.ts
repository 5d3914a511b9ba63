import { CompiledQuery, sql } from 'kysely';
import { scopeStorage, type TenantDb } from '../../platform/tenancy/tenant-database.js';

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
 * The batch statement: $1 the organization, then the columns as array literals: $2 ids, $3 meters,
 * $4 values, $5 dimensions, $6 instants, $7 properties, $8 digests (hex). The ids whose key is new are
 * inserted into `usage_event_keys` (ON CONFLICT DO NOTHING) and, for exactly those, into `usage_events`.
 * The organization is checked once per statement (`exists` in `organizations`, which its policy also
 * restricts to the scope's own): `usage_event_keys` has no foreign key, whose check ran once per row
 * (migration 0022). It answers only the ids it did NOT insert, each with the digest stored before the
 * statement (null when the statement's snapshot has none: a concurrent batch inserted it meanwhile, or
 * the organization does not exist); every id it does not answer was inserted. A batch of new events
 * answers no row at all, instead of one per event. The batch's ids are distinct (the service judges a
 * repeat inside a batch against its first occurrence). Exported for bench/ingest-statement.ts.
 */
export const INSERT_BATCH_SQL = `with input as (
      select * from unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::timestamptz[], $7::jsonb[],
        $8::text[]) as t (id, meter, value, dimension, occurred_at, properties, digest)
    ), fresh as (
      insert into usage_event_keys (organization_id, id, digest, occurred_at)
      select $1::uuid, i.id, decode(i.digest, 'hex'), i.occurred_at from input i
       where exists (select 1 from organizations o where o.id = $1::uuid)
      on conflict do nothing
      returning id
    ), stored as (
      insert into usage_events (organization_id, id, meter, value, dimension, occurred_at, properties)
      select $1::uuid, i.id, i.meter, i.value, i.dimension, i.occurred_at, i.properties
        from input i join fresh f on f.id = i.id
    )
    select i.id, encode(k.digest, 'hex') as digest
      from input i
      left join usage_event_keys k on k.organization_id = $1::uuid and k.id = i.id
     where not exists (select 1 from fresh f where f.id = i.id)`;

const ORGANIZATION_CHECK = 'exists (select 1 from organizations o where o.id = $1::uuid)';

/**
 * The batch statement of a `database` placement's scope, whose `organizations` (control database) and
 * usage tables (tenant database) are on different databases: the organization's check is its own
 * statement first, its answer `$9`.
 */
const INSERT_BATCH_SPLIT_SQL = INSERT_BATCH_SQL.replace(ORGANIZATION_CHECK, '$9::boolean');

const NEEDS_ESCAPE = /["\\]/;
const ESCAPE = /["\\]/g;

/**
 * A PostgreSQL array literal of texts (`{"a","b",NULL}`), every element quoted. What `pg` would build
 * from a JS array, without its two regular-expression replacements per element: only an element with a
 * quote or a backslash is escaped (ids and property JSON rarely have either).
 */
export function textArrayLiteral(xs: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (i > 0) out += ',';
    if (x === null || x === undefined) out += 'NULL';
    else out += NEEDS_ESCAPE.test(x) ? `"${x.replace(ESCAPE, '\\$&')}"` : `"${x}"`;
  }
  return out + '}';
}

/**
 * A PostgreSQL array literal of texts that never need escaping (decimal digits, hex digests, ISO 8601
 * instants, meter keys: no quote, backslash, brace, comma or space), nulls as NULL.
 */
export function plainArrayLiteral(xs: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (i > 0) out += ',';
    out += x === null || x === undefined ? 'NULL' : `"${x}"`;
  }
  return out + '}';
}

/** A backslash before anything but a quote or a backslash (see {@link jsonTextArrayLiteral}). */
const OTHER_ESCAPE = /\\[^"\\]/;

/**
 * A PostgreSQL array literal of JSON texts written by `JSON.stringify` (canonical properties), nulls as
 * NULL: `JSON.stringify` of the array is that literal between its brackets. Such texts hold no control
 * character or lone surrogate (`JSON.stringify` escaped them into ASCII), so the outer `JSON.stringify`
 * escapes only quotes and backslashes, as `\"` and `\\`, which is the array literal's own escaping, and
 * writes null elements as `null` (the literal's NULL is case-insensitive). Any other escape falls back
 * to {@link textArrayLiteral}. One native call instead of a regular-expression replace per element (every
 * JSON object has quotes).
 */
export function jsonTextArrayLiteral(xs: readonly (string | null)[]): string {
  const json = JSON.stringify(xs);
  return OTHER_ESCAPE.test(json) ? textArrayLiteral(xs) : `{${json.slice(1, -1)}}`;
}

/**
 * Stores a batch in ONE statement ({@link INSERT_BATCH_SQL}; in a `database` placement's scope, the
 * organization's check first, then {@link INSERT_BATCH_SPLIT_SQL}). Answers, by id, only the ids it did not
 * store: the digest stored before, or null for an id a concurrent transaction inserted meanwhile (ask
 * {@link storedDigests}). An id not in the answer was stored now.
 */
export async function insertBatch(
  db: TenantDb,
  orgId: string,
  c: EventColumns,
): Promise<Map<string, string | null>> {
  const params: unknown[] = [
    orgId,
    textArrayLiteral(c.ids),
    plainArrayLiteral(c.meters),
    plainArrayLiteral(c.values),
    textArrayLiteral(c.dimensions),
    plainArrayLiteral(c.occurredAt),
    jsonTextArrayLiteral(c.properties),
    plainArrayLiteral(c.digests),
  ];
  let statement = INSERT_BATCH_SQL;
  if (scopeStorage.getStore()?.splitsDirectory) {
    const org = await db.executeQuery<{ found: boolean }>(
      CompiledQuery.raw(`select ${ORGANIZATION_CHECK} as found`, [orgId]),
    );
    statement = INSERT_BATCH_SPLIT_SQL;
    params.push(org.rows[0]?.found === true);
  }
  const res = await db.executeQuery<{ id: string; digest: string | null }>(
    CompiledQuery.raw(statement, params),
  );
  const notStored = new Map<string, string | null>();
  for (const r of res.rows) notStored.set(r.id, r.digest);
  return notStored;
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
