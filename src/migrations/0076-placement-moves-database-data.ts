import { sql, type Kysely } from 'kysely';
import { DIRECTORY_TABLES } from '../platform/tenancy/placed-tables.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * The data path of migration 0076's moves into a `database` placement (not a migration itself:
 * 0076-placement-moves-database.ts runs it). Every function exists in every migrated database and works on
 * THAT database's `public`: the engine calls the reading ones on the source (the control database) and the
 * writing ones on the target (the tenant database). Each is authorized by the move's record in the database
 * it runs in: the control database's `placement_moves` row, or its mirror in the tenant database
 * (`app_priv_placement_xmove_mirror`), whose step says what may be done there: rows are written into the
 * target only while it is `copying` or `switching`, deleted from it while it is `copying` or `switching`
 * (by key: rows the source no longer has) or `aborting` (all of the organization's); and whose `run_no`
 * says which run of the move may write there (a writing function takes `p_run`, refused otherwise: SRM02).
 */
export const XMOVE_DATA_FUNCTIONS = [
  'app_placement_xmove_check(uuid, text, text[], text, integer)',
  'app_placement_xmove_source(uuid)',
  'app_priv_placement_xmove_rows(uuid, text, text[], text[], xid8, integer, jsonb)',
  'app_priv_placement_xmove_summary(uuid, text, text[], boolean, boolean)',
  'app_priv_placement_xmove_import(uuid, integer, text, text[], jsonb)',
  'app_priv_placement_xmove_delete(uuid, integer, text, text[], jsonb)',
  'app_priv_placement_xmove_pending(uuid, integer, jsonb)',
  'app_priv_placement_xmove_unaggregated(uuid)',
  'app_priv_placement_xmove_usage_claim(uuid, integer, jsonb)',
];

// TimeZone fixed: rows travel as jsonb text, and a checksum of a timestamptz's text must not depend on the
// session's zone (the source and target sessions are the engine's, on two servers).
const DEFINER = `language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp set "TimeZone" = 'UTC'`;
const outside = sql.raw(OUTSIDE_TENANT_SCOPE('a placement move'));
/** A row count and checksum of the rows of alias `x`, without the columns that differ by design between
 *  the two databases: `pending_id` (assigned by the admission trigger) and `usage_events.xid`. */
const CHECKSUM = sql.raw(
  `'count(*), coalesce(sum(hashtextextended((to_jsonb(x) - ''pending_id'' - ''xid'')::text, 0)::numeric), 0)::text'`,
);

export async function xmoveDataFunctions(db: Kysely<unknown>): Promise<void> {
  const directory = sql.raw(
    `array[${Object.keys(DIRECTORY_TABLES)
      .map((t) => `'${t}'`)
      .join(', ')}]::text[]`,
  );
  // The move's organization when `p_move` is a move to a database in THIS database's records at one of
  // `p_steps`, and `p_table` one of its placed tables (null: no table asked).
  // `p_run` (the writing functions, on the target): the run of the move the caller is; refused (SQLSTATE
  // SRM02) unless it is the mirror's run_no, read under FOR SHARE: a newer run's fence
  // (app_priv_placement_xmove_mirror) waits for this write's transaction to end, and refuses it afterwards.
  await sql`create function app_placement_xmove_check(p_move uuid, p_table text, p_steps text[], p_side text,
      p_run integer) returns uuid language plpgsql volatile security definer
    set search_path = pg_catalog, public, pg_temp as $$
    declare v_org uuid; v_step text; v_run integer;
    begin
      if p_run is not null then
        select m.run_no into v_run from public.placement_moves m where m.id = p_move and m.to_kind = 'database'
          for share;
        if v_run is distinct from p_run then
          raise exception 'placement move %: run % is not its live run (%)', p_move, p_run, v_run
            using errcode = 'SRM02';
        end if;
      end if;
      select m.organization_id, m.step into v_org, v_step from public.placement_moves m
        where m.id = p_move and m.to_kind = 'database';
      if v_org is null then
        raise exception 'no placement move % to a database here', p_move using errcode = 'no_data_found';
      end if;
      -- The source is the database holding the organization's placement record (the control database),
      -- the target one without it (the tenant database, where the move's record is a mirror): a writing
      -- function never writes into the control database, a reading one reads only there.
      if p_side is not null and (p_side = 'target') = exists (
          select 1 from public.tenant_placements p where p.organization_id = v_org) then
        raise exception 'placement move %: this database is not its %', p_move, p_side
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if v_step <> all (p_steps) then
        raise exception 'placement move % is %, not %', p_move, v_step, array_to_string(p_steps, ' or ')
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if p_table is not null and not exists (select 1 from pg_class c
          where c.relnamespace = 'public'::regnamespace and c.relname = p_table and c.relkind in ('r', 'p')
            and not c.relispartition and c.relname <> all (${directory})
            and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'organization_id'
                          and not a.attisdropped)) then
        raise exception 'not a placed table: %', p_table using errcode = 'invalid_parameter_value';
      end if;
      return v_org;
    end $$`.execute(db);

  // The schema holding the move's source rows: the organization's own for a move from `schema`, else
  // `public` (a tenant database's mirror record says `pooled`: its rows are public's).
  await sql`create function app_placement_xmove_source(p_move uuid) returns text
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    begin
      return (select case m.from_kind when 'schema' then public.app_tenant_schema_name(m.organization_id)
                else 'public' end
        from public.placement_moves m where m.id = p_move);
    end $$`.execute(db);

  // The organization's rows of a placed table as jsonb, in key order: after `p_after` (a keyset cursor,
  // key values as text) up to `p_limit` (null: all), or those written since `p_horizon` (an xmin, as the
  // same-database moves' catch-up: rows whose xmin is not older), or those of the keys `p_keyrows`.
  await sql`create function app_priv_placement_xmove_rows(p_move uuid, p_table text, p_keys text[],
      p_after text[], p_horizon xid8, p_limit integer, p_keyrows jsonb) returns jsonb ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_keys text; v_cond text := 'true'; v_out jsonb; v_casts text;
      v_src text := public.app_placement_xmove_source(p_move);
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, p_table, array['copying', 'switching'], 'source', null);
      v_keys := (select string_agg('s.' || quote_ident(n), ', ') from unnest(p_keys) n);
      if p_after is not null then
        select string_agg(format('$2[%s]::%s', k.i, format_type(a.atttypid, a.atttypmod)), ', ' order by k.i)
          into v_casts from unnest(p_keys) with ordinality k(name, i)
          join pg_attribute a on a.attrelid = format('public.%I', p_table)::regclass and a.attname = k.name;
        v_cond := format('(%s) > (%s)', v_keys, v_casts);
      end if;
      if p_horizon is not null then
        v_cond := v_cond || ' and age(s.xmin) <= age($3)';
      end if;
      if p_keyrows is not null then
        v_cond := v_cond || format(' and to_jsonb(array[%s]) in (select k.value from jsonb_array_elements($4) k)',
          (select string_agg('s.' || quote_ident(n) || '::text', ', ') from unnest(p_keys) n));
      end if;
      execute format('select coalesce(jsonb_agg(to_jsonb(r)), ''[]'') from (select s.* from %I.%I s
          where s.organization_id = $1 and %s order by %s limit %s) r', v_src, p_table, v_cond, v_keys,
          case when p_limit is null then 'all' else greatest(p_limit, 1)::text end)
        into v_out
        using v_org, p_after, ((p_horizon::text::bigint % 4294967296)::text)::xid, p_keyrows;
      return v_out;
    end $$`.execute(db);

  // The organization's row count and checksum of a placed table, and (`p_with_keys`) its keys as text.
  // `p_checksum` false: the row count only (an index-only count; what the freeze compares under the lock,
  // where hashing every row of a large organization would hold its writes for seconds).
  await sql`create function app_priv_placement_xmove_summary(p_move uuid, p_table text, p_keys text[],
      p_with_keys boolean, p_checksum boolean) returns jsonb ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_n bigint; v_sum text; v_keys jsonb; v_src text := public.app_placement_xmove_source(p_move);
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, p_table, array['copying', 'switching'], null, null);
      if p_checksum then
        execute format('select %s from %I.%I x where x.organization_id = $1', ${CHECKSUM}, v_src, p_table)
          into v_n, v_sum using v_org;
      else
        execute format('select count(*) from %I.%I x where x.organization_id = $1', v_src, p_table)
          into v_n using v_org;
      end if;
      if p_with_keys then
        execute format('select coalesce(jsonb_agg(jsonb_build_array(%s)), ''[]'') from %I.%I x
            where x.organization_id = $1', (select string_agg('x.' || quote_ident(n) || '::text', ', ')
              from unnest(p_keys) n), v_src, p_table)
          into v_keys using v_org;
      end if;
      return jsonb_build_object('rows', v_n, 'checksum', v_sum, 'keys', v_keys);
    end $$`.execute(db);

  // Upserts rows (jsonb, from the source's app_priv_placement_xmove_rows) into the target's table, every
  // column as it is but `usage_events.xid`: 0 there (aggregated, as the source's usage_aggregates copied
  // with them count it), the freeze claims the source's unaggregated ones (usage_claim). Then moves the
  // table's sequences past the copied ids (a sequence is the database's, the ids came from the source's).
  await sql`create function app_priv_placement_xmove_import(p_move uuid, p_run integer, p_table text, p_keys text[],
      p_rows jsonb) returns integer ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_rel regclass; v_names text[]; v_pk text[]; v_sets text; v_tail text; v_sel text;
      v_n integer; r record;
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, p_table, array['copying', 'switching'], 'target', p_run);
      if p_table = 'audit_pending' then
        raise exception 'audit_pending moves whole at the switch' using errcode = 'invalid_parameter_value';
      end if;
      if jsonb_typeof(p_rows) is distinct from 'array' or jsonb_array_length(p_rows) = 0 then return 0; end if;
      if exists (select 1 from jsonb_array_elements(p_rows) e where e ->> 'organization_id' is distinct from v_org::text) then
        raise exception 'rows of another organization' using errcode = 'invalid_parameter_value';
      end if;
      v_rel := format('public.%I', p_table)::regclass;
      select array_agg(a.attname::text order by a.attnum) into v_names from pg_attribute a
        where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';
      select array_agg(a.attname::text order by a.attnum) into v_pk
        from pg_index x join pg_attribute a on a.attrelid = x.indrelid and a.attnum = any (x.indkey)
       where x.indrelid = v_rel and x.indisprimary;
      v_sel := (select string_agg(case when p_table = 'usage_events' and n = 'xid' then '0' else 'b.' || quote_ident(n) end,
        ', ') from unnest(v_names) n);
      if v_pk is null then
        v_tail := format('where not exists (select 1 from public.%I x where x.organization_id = $1 and (%s) = (%s))',
          p_table, (select string_agg('x.' || quote_ident(n), ', ') from unnest(p_keys) n),
          (select string_agg('b.' || quote_ident(n), ', ') from unnest(p_keys) n));
      else
        v_sets := (select string_agg(quote_ident(n), ', ') from unnest(v_names) n where n <> all (v_pk));
        v_tail := case when v_sets is null then format('on conflict (%s) do nothing',
            (select string_agg(quote_ident(n), ', ') from unnest(v_pk) n))
          else format('on conflict (%s) do update set (%s) = row(%s) where (%s) is distinct from (%s)',
            (select string_agg(quote_ident(n), ', ') from unnest(v_pk) n), v_sets,
            (select string_agg('excluded.' || quote_ident(n), ', ') from unnest(v_names) n where n <> all (v_pk)),
            (select string_agg('d.' || quote_ident(n), ', ') from unnest(v_names) n where n <> all (v_pk)),
            (select string_agg('excluded.' || quote_ident(n), ', ') from unnest(v_names) n where n <> all (v_pk)))
          end;
      end if;
      perform set_config('app.placement_move', v_org::text || '/public', true);
      execute format('insert into public.%I as d (%s) overriding system value select %s
          from jsonb_populate_recordset(null::public.%I, $2) b %s',
        p_table, (select string_agg(quote_ident(n), ', ') from unnest(v_names) n), v_sel, p_table, v_tail)
        using v_org, p_rows;
      get diagnostics v_n = row_count;
      for r in select a.attname::text as col, pg_get_serial_sequence(v_rel::text, a.attname) as seq
          from pg_attribute a where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped
            and pg_get_serial_sequence(v_rel::text, a.attname) is not null loop
        execute format('select setval(%L::regclass, greatest((select last_value from %s),
            (select max(%I) from public.%I))::bigint)', r.seq, r.seq, r.col, p_table);
      end loop;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  // Deletes the organization's rows of the given keys from the target (`copying`/`switching`: rows the
  // source no longer has), or (`p_keyrows` null, `aborting`) all of them: an aborted move's copy.
  await sql`create function app_priv_placement_xmove_delete(p_move uuid, p_run integer, p_table text, p_keys text[],
      p_keyrows jsonb) returns integer ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_n integer;
    begin ${outside}
      perform set_config('app.placement_move', '', true);
      if p_keyrows is null then
        v_org := public.app_placement_xmove_check(p_move, p_table, array['aborting'], 'target', p_run);
        perform set_config('app.placement_move', v_org::text || '/public', true);
        execute format('delete from public.%I x where x.organization_id = $1', p_table) using v_org;
      else
        v_org := public.app_placement_xmove_check(p_move, p_table, array['copying', 'switching'], 'target', p_run);
        perform set_config('app.placement_move', v_org::text || '/public', true);
        execute format('delete from public.%I x where x.organization_id = $1 and to_jsonb(array[%s]) in (
            select k.value from jsonb_array_elements($2) k)', p_table,
          (select string_agg('x.' || quote_ident(n) || '::text', ', ') from unnest(p_keys) n))
          using v_org, p_keyrows;
      end if;
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  // The target's audit_pending of the organization replaced by the source's (rows in their pending order):
  // its ids are the admission trigger's, so the rows are inserted anew, in that order.
  await sql`create function app_priv_placement_xmove_pending(p_move uuid, p_run integer, p_rows jsonb) returns integer
    ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_cols text; v_n integer;
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, 'audit_pending', array['switching'], 'target', p_run);
      perform set_config('app.placement_move', v_org::text || '/public', true);
      delete from audit_pending where organization_id = v_org;
      select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_cols from pg_attribute a
        where a.attrelid = 'audit_pending'::regclass and a.attnum > 0 and not a.attisdropped
          and a.attgenerated = '' and a.attname <> 'pending_id';
      execute format('insert into audit_pending (%s) select %s from jsonb_populate_recordset(null::audit_pending, $1) b
          where b.organization_id = $2 order by b.pending_id', v_cols,
        (select string_agg('b.' || c, ', ') from unnest(string_to_array(v_cols, ', ')) c))
        using p_rows, v_org;
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  // The source's usage events of the organization the usage aggregation has not counted yet (`xid` not
  // below its watermark), by key: under the freeze, so the aggregator (which takes the move lock) is not
  // moving the watermark meanwhile.
  await sql`create function app_priv_placement_xmove_unaggregated(p_move uuid) returns jsonb
    ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_out jsonb;
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, null, array['switching'], 'source', null);
      execute format('select coalesce(jsonb_agg(jsonb_build_array(e.meter::text, e.occurred_at::text, e.id::text)), ''[]'')
          from %I.usage_events e where e.organization_id = $1
            and e.xid >= (select s.horizon::text::bigint from public.usage_aggregator_state s)',
          public.app_placement_xmove_source(p_move))
        into v_out using v_org;
      return v_out;
    end $$`.execute(db);

  // In the target, inside the freeze's prepared transaction: the events the source had not aggregated get
  // THIS transaction's id, so the target's aggregator counts them once it commits (never before: its
  // watermark stays below a transaction still running), and the others keep 0 (counted in the
  // usage_aggregates rows copied from the source).
  await sql`create function app_priv_placement_xmove_usage_claim(p_move uuid, p_run integer, p_keyrows jsonb) returns integer
    ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_n integer;
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, null, array['switching'], 'target', p_run);
      update usage_events e set xid = pg_current_xact_id()::text::bigint
        where e.organization_id = v_org and jsonb_build_array(e.meter::text, e.occurred_at::text, e.id::text) in (
          select k.value from jsonb_array_elements(p_keyrows) k);
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);
}
