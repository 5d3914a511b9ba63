import { sql, type Kysely } from 'kysely';
import { enableTenantRls, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * The distinct values of each `unique_count` meter per organization and calendar month (UTC), kept by the
 * aggregator (docs/usage-metering.md, "Distinct values per month"). A month's distinct count (a monthly
 * quota, a billing period of months) was read from the month's raw events; it is now the number of rows
 * of that month here, plus the values of the events the aggregator has not reached yet.
 *
 * - `usage_unique_values`: a placed tenant table (forced RLS, the tenant policy). The runtime role reads
 *   it; only the aggregator (a definer function) writes it, so ingestion costs nothing more. A value is
 *   stored as its SHA-256 (`value_digest`, 32 bytes whatever the value's length).
 * - `worker_api.app_usage_aggregate_apply` (0017, 0039, 0046) also inserts the distinct values of the
 *   range's `unique_count` events into their months (`ON CONFLICT DO NOTHING`), in each schema, in the
 *   same transaction as the buckets and the watermark: a crash loses and doubles nothing, a late event
 *   lands in its month. Rewritten from its own definition, like 0046; it must contain the text replaced.
 * - Values already aggregated before this migration: the first run that finds a schema's table not yet
 *   filled (`usage_unique_backfills`, one row per schema done, read and written by the definer only)
 *   inserts the values of every event of that schema instead of the range's, then records the schema. So
 *   is a schema placement synchronized later (its table appears with the synchronization); a schema
 *   without the table yet is left for a later run.
 * - `worker_api.app_usage_unique_purge(before, limit)`: drops the months before `before` (retention,
 *   called by the partition maintenance task), every schema, a shared limit.
 * - The runtime role reads the aggregator's watermark (`horizon`, `updated_at` of the one-row
 *   `usage_aggregator_state`, no tenant data): a quota read adds the events not aggregated yet.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);

  await sql`create table usage_unique_values (
    organization_id uuid not null references organizations (id) on delete cascade,
    meter text not null,
    month date not null constraint usage_unique_values_month check (extract(day from month) = 1),
    value_digest bytea not null constraint usage_unique_values_digest check (octet_length(value_digest) = 32),
    primary key (organization_id, meter, month, value_digest)
  )`.execute(db);
  // Retention drops whole months: rows arrive roughly in month order, so a BRIN bounds the purge's scan.
  await sql`create index usage_unique_values_month_idx on usage_unique_values using brin (month)`.execute(db);
  await enableTenantRls(db, ctx, 'usage_unique_values');
  await sql`revoke all on usage_unique_values from public`.execute(db);
  await sql`grant select on usage_unique_values to ${runtime}`.execute(db);
  // INSERT and UPDATE: a placement move copies rows through the definer; DELETE: the organization purge.
  await sql`grant select, insert, update, delete on usage_unique_values to ${definer}`.execute(db);

  await sql`create table usage_unique_backfills (
    schema_name text primary key,
    done_at timestamptz not null default now()
  )`.execute(db);
  await sql`revoke all on usage_unique_backfills from public`.execute(db);
  await sql`grant select, insert on usage_unique_backfills to ${definer}`.execute(db);

  await sql`grant select (horizon, updated_at) on usage_aggregator_state to ${runtime}`.execute(db);

  const fn = 'worker_api.app_usage_aggregate_apply(xid8, xid8, timestamptz)';
  const res = await sql<{ def: string }>`select pg_get_functiondef(${fn}::regprocedure) as def`.execute(db);
  const def = res.rows[0]?.def ?? '';
  const anchor = 'v_total := v_total + v_events;';
  if (def.split(anchor).length !== 2)
    throw new Error(`0063: ${fn} is not the definition this migration amends`);
  await sql.raw(def.replace(anchor, `${UNIQUE_VALUES}\n        ${anchor}`)).execute(db);

  await sql`create function worker_api.app_usage_unique_purge(p_before date, p_limit integer)
    returns integer
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_limit integer := least(greatest(p_limit, 1), 100000); v_n integer; v_total integer := 0; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage unique values purge'))}
      if p_before is null then
        raise exception 'usage unique values purge: a month is needed' using errcode = 'invalid_parameter_value';
      end if;
      for v_schema in select public.app_placement_schemas() loop
        continue when to_regclass(quote_ident(v_schema) || '.usage_unique_values') is null;
        perform set_config('search_path', 'pg_catalog, ' || quote_ident(v_schema) || ', public, pg_temp', true);
        delete from usage_unique_values u where u.ctid in (
          select x.ctid from usage_unique_values x where x.month < p_before limit v_limit - v_total);
        get diagnostics v_n = row_count;
        v_total := v_total + v_n;
        exit when v_total >= v_limit;
      end loop;
      return v_total;
    end $$`.execute(db);
  const purge = 'worker_api.app_usage_unique_purge(date, integer)';
  await sql`alter function ${sql.raw(purge)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(purge)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(purge)} to ${worker}`.execute(db);
}

/**
 * Inside 0039's per-schema loop of the aggregate apply (search path: the schema, then public): the
 * range's distinct values into their months, or, the first time the schema has the table, every event's.
 * Events of an organization that no longer exists are skipped (as by the buckets above).
 */
const UNIQUE_VALUES = `
        if to_regclass(quote_ident(v_schema) || '.usage_unique_values') is not null then
          if exists (select 1 from public.usage_unique_backfills f where f.schema_name = v_schema) then
            insert into usage_unique_values (organization_id, meter, month, value_digest)
              select distinct e.organization_id, e.meter, date_trunc('month', e.occurred_at at time zone 'UTC')::date,
                  sha256(convert_to(e.dimension, 'UTF8'))
                from usage_events e join public.meters k on k.key = e.meter and k.aggregation = 'unique_count'
                  join public.organizations o on o.id = e.organization_id
                where e.xid >= v_from and e.xid < v_to and e.occurred_at >= p_since and e.dimension is not null
              on conflict do nothing;
          else
            insert into usage_unique_values (organization_id, meter, month, value_digest)
              select distinct e.organization_id, e.meter, date_trunc('month', e.occurred_at at time zone 'UTC')::date,
                  sha256(convert_to(e.dimension, 'UTF8'))
                from usage_events e join public.meters k on k.key = e.meter and k.aggregation = 'unique_count'
                  join public.organizations o on o.id = e.organization_id
                where e.dimension is not null
              on conflict do nothing;
            insert into public.usage_unique_backfills (schema_name) values (v_schema) on conflict do nothing;
          end if;
        end if;`;
