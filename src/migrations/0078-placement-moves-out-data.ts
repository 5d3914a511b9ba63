import { sql, type Kysely } from 'kysely';
import { DIRECTORY_TABLES } from '../platform/tenancy/placed-tables.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Migration 0078's data path (not a migration itself: 0078-placement-moves-out.ts runs it): 0076's move
 * functions restated so that either side of a move may be a tenant database or the control database.
 * Which side a database is for a move comes from its own record of it (`app_placement_xmove_role`):
 * the control database (it holds the organization's `tenant_placements` row) is the source of a move from
 * `pooled` or `schema`, the target of a move from a tenant database to `pooled` or `schema`, and neither of
 * a move between two tenant databases; a tenant database's record is a mirror, whose `mirror_side` says
 * (null, as 0076 wrote them: the target). The schema a side reads or writes is the organization's own for a
 * `schema` side, else `public` (`app_placement_xmove_source`, restated: this database's side of the move).
 * Bodies otherwise as 0076's (create or replace keeps owners and grants).
 */
export const XMOVE_OUT_DATA_FUNCTIONS = ['app_placement_xmove_role(uuid, text, text, text)'];

const DEFINER = `language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp set "TimeZone" = 'UTC'`;
const outside = sql.raw(OUTSIDE_TENANT_SCOPE('a placement move'));

export async function xmoveOutDataFunctions(db: Kysely<unknown>): Promise<void> {
  const directory = sql.raw(
    `array[${Object.keys(DIRECTORY_TABLES)
      .map((t) => `'${t}'`)
      .join(', ')}]::text[]`,
  );
  await sql`create function app_placement_xmove_role(p_org uuid, p_from text, p_to text, p_mirror text)
    returns text language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    begin
      if exists (select 1 from public.tenant_placements p where p.organization_id = p_org) then
        return case when p_from <> 'database' then 'source' when p_to <> 'database' then 'target' end;
      end if;
      return coalesce(p_mirror, 'target');
    end $$`.execute(db);

  // 0076's check, the side from the record (above), moves out of a database included.
  await sql`create or replace function app_placement_xmove_check(p_move uuid, p_table text, p_steps text[],
      p_side text, p_run integer) returns uuid language plpgsql volatile security definer
    set search_path = pg_catalog, public, pg_temp as $$
    declare m record; v_run integer;
    begin
      if p_run is not null then
        select x.run_no into v_run from public.placement_moves x
          where x.id = p_move and (x.to_kind = 'database' or x.from_kind = 'database') for share;
        if v_run is distinct from p_run then
          raise exception 'placement move %: run % is not its live run (%)', p_move, p_run, v_run
            using errcode = 'SRM02';
        end if;
      end if;
      select x.organization_id, x.step, x.from_kind, x.to_kind, x.mirror_side into m from public.placement_moves x
        where x.id = p_move and (x.to_kind = 'database' or x.from_kind = 'database');
      if m.organization_id is null then
        raise exception 'no placement move % to or from a database here', p_move using errcode = 'no_data_found';
      end if;
      -- A writing function writes only into the move's target, a reading one reads only its source.
      if p_side is not null and public.app_placement_xmove_role(m.organization_id, m.from_kind, m.to_kind,
          m.mirror_side) is distinct from p_side then
        raise exception 'placement move %: this database is not its %', p_move, p_side
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if m.step <> all (p_steps) then
        raise exception 'placement move % is %, not %', p_move, m.step, array_to_string(p_steps, ' or ')
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if p_table is not null and not exists (select 1 from pg_class c
          where c.relnamespace = 'public'::regnamespace and c.relname = p_table and c.relkind in ('r', 'p')
            and not c.relispartition and c.relname <> all (${directory})
            and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'organization_id'
                          and not a.attisdropped)) then
        raise exception 'not a placed table: %', p_table using errcode = 'invalid_parameter_value';
      end if;
      return m.organization_id;
    end $$`.execute(db);

  // The schema holding the organization's rows on THIS database's side of the move: its own for a
  // `schema` side, else `public` (a tenant database's rows are public's).
  await sql`create or replace function app_placement_xmove_source(p_move uuid) returns text
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    declare m record; v_role text;
    begin
      select x.organization_id, x.from_kind, x.to_kind, x.mirror_side into m from public.placement_moves x
        where x.id = p_move;
      if m.organization_id is null then return 'public'; end if;
      v_role := public.app_placement_xmove_role(m.organization_id, m.from_kind, m.to_kind, m.mirror_side);
      return case when (v_role = 'source' and m.from_kind = 'schema') or (v_role = 'target' and m.to_kind = 'schema')
        then public.app_tenant_schema_name(m.organization_id) else 'public' end;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_import(p_move uuid, p_run integer, p_table text,
      p_keys text[], p_rows jsonb) returns integer ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_rel regclass; v_names text[]; v_pk text[]; v_sets text; v_tail text; v_sel text;
      v_n integer; r record; v_here text := public.app_placement_xmove_source(p_move);
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, p_table, array['copying', 'switching'], 'target', p_run);
      if p_table = 'audit_pending' then
        raise exception 'audit_pending moves whole at the switch' using errcode = 'invalid_parameter_value';
      end if;
      if jsonb_typeof(p_rows) is distinct from 'array' or jsonb_array_length(p_rows) = 0 then return 0; end if;
      if exists (select 1 from jsonb_array_elements(p_rows) e where e ->> 'organization_id' is distinct from v_org::text) then
        raise exception 'rows of another organization' using errcode = 'invalid_parameter_value';
      end if;
      v_rel := format('%I.%I', v_here, p_table)::regclass;
      select array_agg(a.attname::text order by a.attnum) into v_names from pg_attribute a
        where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';
      select array_agg(a.attname::text order by a.attnum) into v_pk
        from pg_index x join pg_attribute a on a.attrelid = x.indrelid and a.attnum = any (x.indkey)
       where x.indrelid = v_rel and x.indisprimary;
      v_sel := (select string_agg(case when p_table = 'usage_events' and n = 'xid' then '0' else 'b.' || quote_ident(n) end,
        ', ') from unnest(v_names) n);
      if v_pk is null then
        v_tail := format('where not exists (select 1 from %I.%I x where x.organization_id = $1 and (%s) = (%s))',
          v_here, p_table, (select string_agg('x.' || quote_ident(n), ', ') from unnest(p_keys) n),
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
      perform set_config('app.placement_move', v_org::text || '/' || v_here, true);
      execute format('insert into %I.%I as d (%s) overriding system value select %s
          from jsonb_populate_recordset(null::%I.%I, $2) b %s',
        v_here, p_table, (select string_agg(quote_ident(n), ', ') from unnest(v_names) n), v_sel, v_here, p_table,
        v_tail)
        using v_org, p_rows;
      get diagnostics v_n = row_count;
      for r in select a.attname::text as col, pg_get_serial_sequence(v_rel::text, a.attname) as seq
          from pg_attribute a where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped
            and pg_get_serial_sequence(v_rel::text, a.attname) is not null loop
        execute format('select setval(%L::regclass, greatest((select last_value from %s),
            (select max(%I) from %I.%I))::bigint)', r.seq, r.seq, r.col, v_here, p_table);
      end loop;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_delete(p_move uuid, p_run integer, p_table text,
      p_keys text[], p_keyrows jsonb) returns integer ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_n integer; v_here text := public.app_placement_xmove_source(p_move);
    begin ${outside}
      perform set_config('app.placement_move', '', true);
      if p_keyrows is null then
        v_org := public.app_placement_xmove_check(p_move, p_table, array['aborting'], 'target', p_run);
        perform set_config('app.placement_move', v_org::text || '/' || v_here, true);
        execute format('delete from %I.%I x where x.organization_id = $1', v_here, p_table) using v_org;
      else
        v_org := public.app_placement_xmove_check(p_move, p_table, array['copying', 'switching'], 'target', p_run);
        perform set_config('app.placement_move', v_org::text || '/' || v_here, true);
        execute format('delete from %I.%I x where x.organization_id = $1 and to_jsonb(array[%s]) in (
            select k.value from jsonb_array_elements($2) k)', v_here, p_table,
          (select string_agg('x.' || quote_ident(n) || '::text', ', ') from unnest(p_keys) n))
          using v_org, p_keyrows;
      end if;
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_pending(p_move uuid, p_run integer, p_rows jsonb)
    returns integer ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_cols text; v_n integer; v_here text := public.app_placement_xmove_source(p_move);
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, 'audit_pending', array['switching'], 'target', p_run);
      perform set_config('app.placement_move', v_org::text || '/' || v_here, true);
      execute format('delete from %I.audit_pending where organization_id = $1', v_here) using v_org;
      select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_cols from pg_attribute a
        where a.attrelid = format('%I.audit_pending', v_here)::regclass and a.attnum > 0 and not a.attisdropped
          and a.attgenerated = '' and a.attname <> 'pending_id';
      execute format('insert into %1$I.audit_pending (%2$s) select %3$s
          from jsonb_populate_recordset(null::%1$I.audit_pending, $1) b where b.organization_id = $2
          order by b.pending_id', v_here, v_cols,
        (select string_agg('b.' || c, ', ') from unnest(string_to_array(v_cols, ', ')) c))
        using p_rows, v_org;
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_usage_claim(p_move uuid, p_run integer,
      p_keyrows jsonb) returns integer ${sql.raw(DEFINER)} as $$
    declare v_org uuid; v_n integer;
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, null, array['switching'], 'target', p_run);
      execute format('update %I.usage_events e set xid = pg_current_xact_id()::text::bigint
          where e.organization_id = $1 and jsonb_build_array(e.meter::text, e.occurred_at::text, e.id::text) in (
            select k.value from jsonb_array_elements($2) k)', public.app_placement_xmove_source(p_move))
        using v_org, p_keyrows;
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);

  // The source's rows, batch by batch, once the move has switched: in the control database (a move into a
  // database: the placement must be that database's), or in a tenant database the move leaves (its
  // mirror at cleaning: the control database's decision committed it, migration 0078).
  await sql`create or replace function app_priv_placement_xmove_discard(p_move uuid, p_table text, p_limit integer)
    returns integer ${sql.raw(DEFINER)} as $$
    declare m record; v_n integer; v_placed text; v_here text := public.app_placement_xmove_source(p_move);
    begin ${outside}
      perform public.app_placement_xmove_check(p_move, p_table, array['cleaning'], 'source', null);
      select * into m from public.placement_moves x where x.id = p_move;
      if exists (select 1 from public.tenant_placements p where p.organization_id = m.organization_id) then
        select p.kind || ':' || p.database_key into v_placed from public.tenant_placements p
          where p.organization_id = m.organization_id;
        if v_placed is distinct from 'database:' || m.database_key then
          raise exception 'organization % is not placed in its move''s database', m.organization_id
            using errcode = 'object_not_in_prerequisite_state';
        end if;
      end if;
      perform set_config('app.placement_move', m.organization_id::text || '/' || v_here, true);
      execute format('delete from %I.%I x where x.organization_id = $1 and (x.tableoid, x.ctid) in (
          select y.tableoid, y.ctid from %I.%I y where y.organization_id = $1 limit $2)', v_here, p_table, v_here,
          p_table)
        using m.organization_id, least(greatest(coalesce(p_limit, 1000), 1), 10000);
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);
}
