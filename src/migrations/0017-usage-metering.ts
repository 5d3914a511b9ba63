import { sql, type Kysely } from 'kysely';
import { enableTenantRls, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** The platform scope check of migration 0012, unchanged (migrations are frozen once released). */
const PLATFORM_SCOPE = (what: string) => `
      v_token := nullif(current_setting('app.platform_session', true), '');
      if v_token is not null and public.app_current_tenant() is null then
        select s.user_id into v_actor from public.sessions s join public.users u on u.id = s.user_id
          where s.token_hash = sha256(convert_to(v_token, 'UTF8'))
            and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()
            and u.is_platform_admin and (u.totp_enabled_at is null or s.two_factor_verified);
      end if;
      if public.app_current_tenant() is not null or v_actor is null then
        raise exception '% needs the platform scope of a platform administrator''s live session', '${what}'
          using errcode = 'insufficient_privilege';
      end if;`;

const OUTSIDE_TENANT_SCOPE = (what: string) => `
      if public.app_current_tenant() is not null then
        raise exception '% is refused inside a tenant scope', '${what}' using errcode = 'insufficient_privilege';
      end if;`;

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Issue 11, metering. `meters` is the global catalog (the runtime role reads it; platform administrators
 * write it through definer functions that check their live session). `usage_events` is a tenant table
 * partitioned by day on `occurred_at` (every partition carries the same forced RLS and policy; the runtime
 * role holds privileges on the parent only, and only SELECT and INSERT of the columns it may set: `xid`
 * always comes from `pg_current_xact_id()`). `usage_event_keys` makes event ids unique per organization
 * across partitions. `usage_aggregates` is written only by the aggregator (worker role, definer functions)
 * and read by tenants. See docs/usage-metering.md.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  if (!ROLE.test(ctx.roles.runtime)) throw new Error(`invalid runtime role name: ${ctx.roles.runtime}`);

  await sql`create table meters (
    key text primary key constraint meters_key_format check (key ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    aggregation text not null
      constraint meters_aggregation check (aggregation in ('count', 'sum', 'max', 'unique_count', 'latest')),
    property text constraint meters_property_format check (property ~ '^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$'),
    unit text not null default '' constraint meters_unit_length check (char_length(unit) <= 32),
    description text not null default ''
      constraint meters_description_length check (char_length(description) <= 500),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    archived_at timestamptz,
    constraint meters_property_needed check (aggregation <> 'unique_count' or property is not null),
    constraint meters_count_no_property check (aggregation <> 'count' or property is null)
  )`.execute(db);
  await sql`revoke all on meters from public`.execute(db);
  await sql`grant select on meters to ${runtime}`.execute(db);
  await sql`grant select, insert, update on meters to ${definer}`.execute(db);
  await sql`insert into meters (key, aggregation, unit, description)
    values ('api_requests', 'count', 'requests', 'API requests per organization (built in)')`.execute(db);

  // Events: partitioned by day. No primary key (it would have to include occurred_at): ids are unique
  // through usage_event_keys. The index leads with organization_id (summaries' raw scans, unique_count
  // recomputation); `xid` is what the aggregator reads new events by.
  // No foreign key to organizations here: every event the service stores has its row in usage_event_keys
  // (same statement), whose foreign key already proves the organization; a second check per row costs
  // ingestion. A row inserted by other means with an unknown organization is skipped by the aggregator
  // (it joins organizations), so it cannot block aggregation for everyone. The CHECKs keep values finite
  // and within what the service accepts, and meter keys in the catalog's format.
  await sql`create table usage_events (
    organization_id uuid not null,
    id text not null constraint usage_events_id_length check (octet_length(id) between 1 and 128),
    meter text not null constraint usage_events_meter_format check (meter ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    value numeric constraint usage_events_value_range
      check (value is null or (value <> 'NaN' and value between -1e20 and 1e20)),
    dimension text,
    occurred_at timestamptz not null,
    properties jsonb,
    xid bigint not null default (pg_current_xact_id()::text::bigint)
  ) partition by range (occurred_at)`.execute(db);
  await sql`create index usage_events_org_meter_time_idx on usage_events (organization_id, meter, occurred_at)`.execute(
    db,
  );
  // The inserting transaction's 64-bit id, as bigint (xid8 has no BRIN operator class). BRIN: transaction
  // ids grow with insertion order, so block ranges summarize them tightly, and the
  // index costs ingestion next to nothing (a btree would add a probe and a page write per event).
  await sql`create index usage_events_xid_idx on usage_events using brin (xid) with (autosummarize = on)`.execute(
    db,
  );
  await enableTenantRls(db, ctx, 'usage_events');
  await sql`revoke all on usage_events from public`.execute(db);
  await sql`grant select on usage_events to ${runtime}`.execute(db);
  await sql`grant insert (organization_id, id, meter, value, dimension, occurred_at, properties)
    on usage_events to ${runtime}`.execute(db);
  await sql`grant select on usage_events to ${definer}`.execute(db);

  await sql`create table usage_event_keys (
    organization_id uuid not null references organizations (id) on delete cascade,
    id text not null,
    digest bytea not null,
    occurred_at timestamptz not null,
    primary key (organization_id, id)
  )`.execute(db);
  // The purge's index (keys of events past the lateness window): BRIN, as cheap to keep as above.
  await sql`create index usage_event_keys_occurred_idx on usage_event_keys using brin (occurred_at)`.execute(
    db,
  );
  await enableTenantRls(db, ctx, 'usage_event_keys');
  await sql`grant select, insert on usage_event_keys to ${runtime}`.execute(db);
  await sql`grant select, delete on usage_event_keys to ${definer}`.execute(db);

  await sql`create table usage_aggregates (
    organization_id uuid not null references organizations (id) on delete cascade,
    meter text not null,
    granularity text not null constraint usage_aggregates_granularity
      check (granularity in ('minute', 'hour', 'day')),
    bucket_start timestamptz not null,
    aggregation text not null,
    value numeric not null,
    events bigint not null,
    latest_at timestamptz,
    latest_id text,
    updated_at timestamptz not null default now(),
    primary key (organization_id, meter, granularity, bucket_start)
  )`.execute(db);
  await enableTenantRls(db, ctx, 'usage_aggregates');
  await sql`grant select on usage_aggregates to ${runtime}`.execute(db);
  await sql`grant select, insert, update on usage_aggregates to ${definer}`.execute(db);

  // The aggregator's watermark: every event whose transaction id is below `horizon` is aggregated.
  // Nobody but the definer functions reads it.
  await sql`create table usage_aggregator_state (
    singleton boolean primary key default true constraint usage_aggregator_state_one check (singleton),
    horizon xid8 not null,
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`revoke all on usage_aggregator_state from public`.execute(db);
  await sql`grant select, update on usage_aggregator_state to ${definer}`.execute(db);
  await sql`insert into usage_aggregator_state (horizon) values (pg_current_xact_id())`.execute(db);

  // ---- Platform writes of the meter catalog (platform scope of a live administrator session). ----
  await sql`create function app_priv_platform_meter_create(p_key text, p_aggregation text, p_property text,
      p_unit text, p_description text)
    returns setof meters
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('creating a meter'))}
      return query insert into public.meters (key, aggregation, property, unit, description)
        values (p_key, p_aggregation, p_property, coalesce(p_unit, ''), coalesce(p_description, ''))
        on conflict (key) do nothing returning *;
    end $$`.execute(db);
  await sql`create function app_priv_platform_meter_update(p_key text, p_unit text, p_description text,
      p_archive boolean)
    returns setof meters
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('changing a meter'))}
      return query update public.meters m set unit = coalesce(p_unit, m.unit),
          description = coalesce(p_description, m.description),
          archived_at = case when p_archive then coalesce(m.archived_at, now()) else m.archived_at end,
          updated_at = now()
        where m.key = p_key returning m.*;
    end $$`.execute(db);
  for (const fn of [
    'app_priv_platform_meter_create(text, text, text, text, text)',
    'app_priv_platform_meter_update(text, text, text, boolean)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  }

  // ---- Partition maintenance (DDL: owned by the owner role, run by the worker role only). ----
  // Creates the daily partitions of [today - p_back, today + p_ahead] (UTC days), each with ENABLE + FORCE
  // RLS and the tenant policy, and drops those whose day ended more than p_retention_days ago.
  await sql`create function worker_api.app_usage_partitions(p_back integer, p_ahead integer,
      p_retention_days integer)
    returns table (created integer, dropped integer)
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_today date := (now() at time zone 'UTC')::date; v_day date; v_name text;
      v_created integer := 0; v_dropped integer := 0; r record;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('usage partition maintenance'))}
      if p_back < 0 or p_back > 400 or p_ahead < 1 or p_ahead > 60 or p_retention_days < p_back + 1 then
        raise exception 'usage partitions: back 0..400, ahead 1..60, retention beyond back'
          using errcode = 'invalid_parameter_value';
      end if;
      for i in -p_back .. p_ahead loop
        v_day := v_today + i;
        if v_day < v_today - p_retention_days then continue; end if;
        v_name := 'usage_events_p' || to_char(v_day, 'YYYYMMDD');
        if to_regclass('public.' || v_name) is null then
          execute format('create table public.%I partition of public.usage_events for values from (%L) to (%L)',
            v_name, (v_day::timestamp at time zone 'UTC'), ((v_day + 1)::timestamp at time zone 'UTC'));
          execute format('alter table public.%I enable row level security', v_name);
          execute format('alter table public.%I force row level security', v_name);
          execute format('create policy tenant_isolation on public.%I as permissive for all to %I
            using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant())',
            v_name, ${sql.raw(`'${ctx.roles.runtime}'`)});
          v_created := v_created + 1;
        end if;
      end loop;
      for r in select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = 'public.usage_events'::regclass and c.relname ~ '^usage_events_p[0-9]{8}$'
            and to_date(substr(c.relname, 15), 'YYYYMMDD') < v_today - p_retention_days loop
        execute format('drop table public.%I', r.relname);
        v_dropped := v_dropped + 1;
      end loop;
      return query select v_created, v_dropped;
    end $$`.execute(db);
  await sql`revoke all on function worker_api.app_usage_partitions(integer, integer, integer) from public`.execute(
    db,
  );
  await sql`grant execute on function worker_api.app_usage_partitions(integer, integer, integer) to ${worker}`.execute(
    db,
  );
  // Today's, the lateness window's (default 7 days) and the next week's, before the first job runs.
  await sql`select * from worker_api.app_usage_partitions(8, 7, 400)`.execute(db);

  // ---- The worker role's definer functions: idempotency keys purge, aggregation. ----
  await sql`create function worker_api.app_usage_purge_keys(p_before timestamptz, p_limit integer)
    returns integer
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_n integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage key purge'))}
      delete from public.usage_event_keys k where k.ctid in (
        select x.ctid from public.usage_event_keys x where x.occurred_at < p_before
        limit least(greatest(p_limit, 1), 100000));
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);

  // Step 1: lock the watermark (one aggregator at a time) and say which transaction ids are complete:
  // every id below the snapshot's xmin has committed or aborted, so no event can appear below it later.
  await sql`create function worker_api.app_usage_aggregate_begin()
    returns table (from_xid xid8, to_xid xid8, last_moved timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage aggregator'))}
      return query select s.horizon, greatest(s.horizon, pg_snapshot_xmin(pg_current_snapshot())), s.updated_at
        from public.usage_aggregator_state s for update skip locked;
    end $$`.execute(db);

  // Step 2: merge the events of [p_from, p_to) into their minute, hour and day buckets. count, sum, max
  // and latest merge with what the bucket holds; unique_count buckets are recomputed from raw events.
  await sql`create function worker_api.app_usage_aggregate_apply(p_from xid8, p_to xid8, p_since timestamptz)
    returns bigint
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_events bigint; v_from bigint := p_from::text::bigint; v_to bigint := p_to::text::bigint;
      v_horizon xid8; v_moved timestamptz;
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
      -- Minute buckets from the raw events, then hours and days rolled up from the minutes (the events
      -- are grouped once, not once per granularity).
      with m as (
        select e.organization_id, e.meter, k.aggregation,
            date_bin('1 minute', e.occurred_at, timestamptz '2000-01-01 00:00:00+00') as b,
            count(*) as events, sum(coalesce(e.value, 1)) as weight, sum(e.value) as s, max(e.value) as mx,
            max(e.occurred_at) as latest_at,
            (array_agg(e.value order by e.occurred_at desc, e.id desc)
               filter (where k.aggregation = 'latest'))[1] as latest_value,
            (array_agg(e.id order by e.occurred_at desc, e.id desc)
               filter (where k.aggregation = 'latest'))[1] as latest_id
          from public.usage_events e join public.meters k on k.key = e.meter
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
        insert into public.usage_aggregates as a (organization_id, meter, granularity, bucket_start, aggregation,
            value, events, latest_at, latest_id, updated_at)
        select b.organization_id, b.meter, b.granularity, b.bucket_start, b.aggregation,
            case b.aggregation when 'count' then b.weight when 'sum' then b.s when 'max' then b.mx
              when 'latest' then b.latest_value
              else (select count(distinct x.dimension) from public.usage_events x
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
      select coalesce(sum(m.events), 0) into v_events from m;
      return v_events;
    end $$`.execute(db);

  // Step 3: move the watermark (same transaction as step 2: both happen or neither does).
  await sql`create function worker_api.app_usage_aggregate_commit(p_from xid8, p_to xid8)
    returns void
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage aggregator'))}
      if p_to > pg_snapshot_xmin(pg_current_snapshot()) then
        raise exception 'usage watermark cannot pass the current snapshot''s xmin'
          using errcode = 'invalid_parameter_value';
      end if;
      update public.usage_aggregator_state s set horizon = p_to, updated_at = now()
        where s.horizon = p_from and p_to >= p_from;
      if not found then
        raise exception 'usage watermark moved under the aggregator' using errcode = 'serialization_failure';
      end if;
    end $$`.execute(db);

  for (const fn of [
    'worker_api.app_usage_purge_keys(timestamptz, integer)',
    'worker_api.app_usage_aggregate_begin()',
    'worker_api.app_usage_aggregate_apply(xid8, xid8, timestamptz)',
    'worker_api.app_usage_aggregate_commit(xid8, xid8)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  }
}
