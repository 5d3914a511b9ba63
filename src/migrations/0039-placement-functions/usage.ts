import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from '../sql-helpers.js';
import { SCHEMA_PATH } from './snippets.js';

/**
 * Usage metering's worker functions (0017, 0020) follow schema placements: the aggregator merges each
 * schema's events into that schema's buckets, the change list and the key purge read every schema, and
 * partition maintenance keeps the daily partitions of every schema's `usage_events`. Contracts unchanged.
 */
export async function usageFunctions(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  // Owned by the owner role (DDL), which cannot call the definer's app_placement_schemas() nor read
  // tenant_placements (forced RLS): `public` and every organization schema (`t_<32 hex>`) the owner owns,
  // from the catalog. That also covers a schema synchronized ahead of its move; one without a partitioned
  // usage_events (not synchronized yet) is skipped.
  await sql`create or replace function worker_api.app_usage_partitions(p_back integer, p_ahead integer,
      p_retention_days integer)
    returns table (created integer, dropped integer)
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_today date := (now() at time zone 'UTC')::date; v_day date; v_name text;
      v_created integer := 0; v_dropped integer := 0; r record; v_schema text; v_parent regclass;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('usage partition maintenance'))}
      if p_back < 0 or p_back > 400 or p_ahead < 1 or p_ahead > 60 or p_retention_days < p_back + 1 then
        raise exception 'usage partitions: back 0..400, ahead 1..60, retention beyond back'
          using errcode = 'invalid_parameter_value';
      end if;
      for v_schema in select 'public'::text union all (select n.nspname::text from pg_namespace n
          where n.nspname ~ '^t_[0-9a-f]{32}$' and n.nspowner = current_user::regrole
          order by 1) loop
        v_parent := to_regclass(quote_ident(v_schema) || '.usage_events');
        continue when v_parent is null or (select c.relkind from pg_class c where c.oid = v_parent) <> 'p';
        for i in -p_back .. p_ahead loop
          v_day := v_today + i;
          if v_day < v_today - p_retention_days then continue; end if;
          v_name := 'usage_events_p' || to_char(v_day, 'YYYYMMDD');
          if to_regclass(quote_ident(v_schema) || '.' || v_name) is null then
            execute format('create table %I.%I partition of %I.usage_events for values from (%L) to (%L)',
              v_schema, v_name, v_schema, (v_day::timestamp at time zone 'UTC'), ((v_day + 1)::timestamp at time zone 'UTC'));
            execute format('alter table %I.%I enable row level security', v_schema, v_name);
            execute format('alter table %I.%I force row level security', v_schema, v_name);
            execute format('create policy tenant_isolation on %I.%I as permissive for all to %I
              using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant())',
              v_schema, v_name, ${sql.raw(`'${ctx.roles.runtime}'`)});
            v_created := v_created + 1;
          end if;
        end loop;
        for r in select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
            where i.inhparent = v_parent and c.relname ~ '^usage_events_p[0-9]{8}$'
              and to_date(substr(c.relname, 15), 'YYYYMMDD') < v_today - p_retention_days loop
          execute format('drop table %I.%I', v_schema, r.relname);
          v_dropped := v_dropped + 1;
        end loop;
      end loop;
      return query select v_created, v_dropped;
    end $$`.execute(db);

  // The limit is shared: fewer rows than it means every schema is done.
  await sql`create or replace function worker_api.app_usage_purge_keys(p_before timestamptz, p_limit integer)
    returns integer
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_limit integer := least(greatest(p_limit, 1), 100000); v_n integer; v_total integer := 0; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage key purge'))}
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        delete from usage_event_keys k where k.ctid in (
          select x.ctid from usage_event_keys x where x.occurred_at < p_before limit v_limit - v_total);
        get diagnostics v_n = row_count;
        v_total := v_total + v_n;
        exit when v_total >= v_limit;
      end loop;
      return v_total;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_usage_changed_organizations(p_from xid8, p_to xid8,
      p_since timestamptz)
    returns table (org_id uuid, day_start timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_from bigint := p_from::text::bigint; v_to bigint := p_to::text::bigint; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage change list'))}
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        return query select distinct e.organization_id, date_trunc('day', e.occurred_at, 'UTC')
          from usage_events e
            join public.organizations o on o.id = e.organization_id
            join public.plans p on p.key = o.plan
          where e.xid >= v_from and e.xid < v_to and e.occurred_at >= p_since
            and jsonb_typeof(p.quotas) = 'array' and jsonb_array_length(p.quotas) > 0;
      end loop;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_usage_aggregate_apply(p_from xid8, p_to xid8,
      p_since timestamptz)
    returns bigint
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_events bigint; v_total bigint := 0; v_from bigint := p_from::text::bigint;
      v_to bigint := p_to::text::bigint; v_horizon xid8; v_moved timestamptz; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage aggregator'))}
      select s.horizon, s.updated_at into v_horizon, v_moved from public.usage_aggregator_state s;
      if p_from is distinct from v_horizon then
        raise exception 'usage aggregation must start at the watermark' using errcode = 'invalid_parameter_value';
      end if;
      -- The range is checked here, not trusted: an end above the snapshot's xmin could skip events of
      -- transactions still running, and a later \`since\` could skip late events, both for good.
      if p_to is null or p_to < p_from or p_to > pg_snapshot_xmin(pg_current_snapshot()) then
        raise exception 'usage aggregation must end at or below the current snapshot''s xmin'
          using errcode = 'invalid_parameter_value';
      end if;
      if p_since is null or p_since > least(now(), v_moved) - interval '1 day' then
        raise exception 'usage aggregation must read from a day before the watermark last moved, or earlier'
          using errcode = 'invalid_parameter_value';
      end if;
      -- Each schema's events into that schema's buckets.
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        ${sql.raw(AGGREGATE_SCHEMA)}
        v_total := v_total + v_events;
      end loop;
      return v_total;
    end $$`.execute(db);
}

/**
 * 0017's merge of one range of events, unqualified: minute buckets from the raw events, then hours and
 * days rolled up from the minutes (the events are grouped once, not once per granularity).
 */
const AGGREGATE_SCHEMA = `
        with m as (
          select e.organization_id, e.meter, k.aggregation,
              date_bin('1 minute', e.occurred_at, timestamptz '2000-01-01 00:00:00+00') as b,
              count(*) as events, sum(coalesce(e.value, 1)) as weight, sum(e.value) as s, max(e.value) as mx,
              max(e.occurred_at) as latest_at,
              (array_agg(e.value order by e.occurred_at desc, e.id desc)
                 filter (where k.aggregation = 'latest'))[1] as latest_value,
              (array_agg(e.id order by e.occurred_at desc, e.id desc)
                 filter (where k.aggregation = 'latest'))[1] as latest_id
            from usage_events e join public.meters k on k.key = e.meter
              join public.organizations o on o.id = e.organization_id
            where e.xid >= v_from and e.xid < v_to and e.occurred_at >= p_since
            group by 1, 2, 3, 4
        ), r as (
          select m.organization_id, m.meter, m.aggregation, 'minute'::text as granularity, m.b as bucket_start,
              m.events, m.weight, m.s, m.mx, m.latest_at, m.latest_value, m.latest_id
            from m
          union all
          select m.organization_id, m.meter, m.aggregation, g.granularity,
              date_bin(g.step, m.b, timestamptz '2000-01-01 00:00:00+00'),
              sum(m.events), sum(m.weight), sum(m.s), max(m.mx), max(m.latest_at),
              (array_agg(m.latest_value order by m.latest_at desc, m.latest_id desc)
                 filter (where m.aggregation = 'latest'))[1],
              (array_agg(m.latest_id order by m.latest_at desc, m.latest_id desc)
                 filter (where m.aggregation = 'latest'))[1]
            from m cross join (values ('hour', interval '1 hour'), ('day', interval '1 day')) as g (granularity, step)
            group by 1, 2, 3, 4, 5
        ), ins as (
          insert into usage_aggregates as a (organization_id, meter, granularity, bucket_start, aggregation,
              value, events, latest_at, latest_id, updated_at)
          select b.organization_id, b.meter, b.granularity, b.bucket_start, b.aggregation,
              case b.aggregation when 'count' then b.weight when 'sum' then b.s when 'max' then b.mx
                when 'latest' then b.latest_value
                else (select count(distinct x.dimension) from usage_events x
                       where x.organization_id = b.organization_id and x.meter = b.meter
                         and x.occurred_at >= b.bucket_start
                         and x.occurred_at < b.bucket_start + ('1 ' || b.granularity)::interval) end,
              b.events, b.latest_at, b.latest_id, now()
            from r b
          on conflict (organization_id, meter, granularity, bucket_start) do update set
            value = case a.aggregation
              when 'count' then a.value + excluded.value
              when 'sum' then a.value + excluded.value
              when 'max' then greatest(a.value, excluded.value)
              when 'latest' then case when (excluded.latest_at, excluded.latest_id) > (a.latest_at, a.latest_id)
                                      then excluded.value else a.value end
              else excluded.value end,
            events = a.events + excluded.events,
            latest_at = greatest(a.latest_at, excluded.latest_at),
            latest_id = case when (excluded.latest_at, excluded.latest_id) > (a.latest_at, a.latest_id)
                             then excluded.latest_id else a.latest_id end,
            updated_at = now()
          returning 1
        )
        select coalesce(sum(m.events), 0) into v_events from m;`;
