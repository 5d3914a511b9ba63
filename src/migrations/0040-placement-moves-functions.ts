import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/** The functions of migration 0040 (not a migration itself: src/migrations/index.ts lists them). */
export const MOVE_FUNCTIONS = [
  'app_placement_move_sides(uuid)',
  'app_placement_move_table(uuid, text, text, text[])',
  'app_priv_placement_move_begin(uuid, text, text)',
  'app_priv_placement_move_advance(uuid, text, text)',
  'app_priv_placement_move_copy(uuid, text, text[], integer)',
  'app_priv_placement_move_sync(uuid, text, text[], text)',
  'app_priv_placement_move_switch(uuid, text, jsonb)',
  'app_priv_placement_move_discard(uuid, text, integer)',
  'app_priv_placement_moves(uuid, uuid, timestamptz, uuid, integer)',
];

const DEFINER = 'language plpgsql volatile security definer set search_path = pg_catalog, public';
const outside = (what: string) => sql.raw(OUTSIDE_TENANT_SCOPE(what));
const notFound = `raise exception 'no placement move %', p_move using errcode = 'no_data_found'`;

/**
 * The move's data path. Helpers (`app_placement_move_*`) are executable by no other role; the
 * `app_priv_placement_move_*` functions by the owner role only (granted by the migration).
 */
export async function moveFunctions(db: Kysely<unknown>): Promise<void> {
  // The move's organization, step, and its source and target schemas, from its record.
  await sql`create function app_placement_move_sides(p_move uuid)
    returns table (org uuid, src text, dst text, step text, from_kind text, to_kind text, copy_xmin xid8)
    language sql stable security definer set search_path = pg_catalog, public as $$
      select m.organization_id,
             case m.from_kind when 'schema' then public.app_tenant_schema_name(m.organization_id) else 'public' end,
             case m.to_kind when 'schema' then public.app_tenant_schema_name(m.organization_id) else 'public' end,
             m.step, m.from_kind, m.to_kind, m.copy_xmin
        from public.placement_moves m where m.id = p_move $$`.execute(db);

  // The SQL pieces of one placed table (it must exist in the organization's schema: so never a directory
  // table), its key columns checked against the catalog. `$1` is the organization, `$2` a key as text[].
  await sql`create function app_placement_move_table(p_org uuid, p_dst text, p_table text, p_keys text[])
    returns table (names text[], cols text, scols text, skeys text, bkeys text, bkeys_desc text,
                   bkeytext text, skeytext text, casts text, tail text)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_rel regclass; v_pk text[]; v_types text[]; v_sets text;
    begin
      v_rel := to_regclass(format('%I.%I', public.app_tenant_schema_name(p_org), p_table));
      if v_rel is null or p_keys is null or cardinality(p_keys) = 0 or exists (
          select 1 from pg_class c where c.oid = v_rel and (c.relispartition or c.relkind not in ('r', 'p'))) then
        raise exception 'not a placed table of the organization: %', p_table using errcode = 'invalid_parameter_value';
      end if;
      select array_agg(a.attname::text order by a.attnum) filter (where a.attgenerated = '')
        into names from pg_attribute a where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped;
      select array_agg(format_type(a.atttypid, a.atttypmod) order by k.i) into v_types
        from unnest(p_keys) with ordinality k(name, i)
        join pg_attribute a on a.attrelid = v_rel and a.attname = k.name and a.attnum > 0 and not a.attisdropped;
      if cardinality(v_types) is distinct from cardinality(p_keys) then
        raise exception 'unknown key column of %', p_table using errcode = 'invalid_parameter_value';
      end if;
      cols := (select string_agg(quote_ident(n), ', ') from unnest(names) n);
      scols := (select string_agg('s.' || quote_ident(n), ', ') from unnest(names) n);
      skeys := (select string_agg('s.' || quote_ident(n), ', ') from unnest(p_keys) n);
      bkeys := (select string_agg('b.' || quote_ident(n), ', ') from unnest(p_keys) n);
      bkeys_desc := (select string_agg('b.' || quote_ident(n) || ' desc', ', ') from unnest(p_keys) n);
      bkeytext := (select string_agg('b.' || quote_ident(n) || '::text', ', ') from unnest(p_keys) n);
      skeytext := (select string_agg('s.' || quote_ident(n) || '::text', ', ') from unnest(p_keys) n);
      casts := (select string_agg(format('$2[%s]::%s', i, t), ', ') from unnest(v_types) with ordinality x(t, i));
      select array_agg(a.attname::text order by a.attnum) into v_pk
        from pg_index x join pg_attribute a on a.attrelid = x.indrelid and a.attnum = any (x.indkey)
       where x.indrelid = v_rel and x.indisprimary;
      if v_pk is null then
        tail := format('where not exists (select 1 from %I.%I x where x.organization_id = $1 and (%s) = (%s))',
          p_dst, p_table, (select string_agg('x.' || quote_ident(n), ', ') from unnest(p_keys) n), bkeys);
      else
        v_sets := (select string_agg(quote_ident(n), ', ') from unnest(names) n where n <> all (v_pk));
        tail := case when v_sets is null then format('on conflict (%s) do nothing',
            (select string_agg(quote_ident(n), ', ') from unnest(v_pk) n))
          else format('on conflict (%s) do update set (%s) = row(%s) where (%s) is distinct from (%s)',
            (select string_agg(quote_ident(n), ', ') from unnest(v_pk) n), v_sets,
            (select string_agg('excluded.' || quote_ident(n), ', ') from unnest(names) n where n <> all (v_pk)),
            (select string_agg('d.' || quote_ident(n), ', ') from unnest(names) n where n <> all (v_pk)),
            (select string_agg('excluded.' || quote_ident(n), ', ') from unnest(names) n where n <> all (v_pk)))
          end;
      end if;
      return next;
    end $$`.execute(db);

  // Starts a move of an organization to `pooled` or `schema` (a move already under way to the same
  // target: its id, to resume it), and marks its placement `moving`.
  await sql`create function app_priv_placement_move_begin(p_org uuid, p_to text, p_actor text) returns uuid
    ${sql.raw(DEFINER)} as $$
    declare v_kind text; v_id uuid; v_to text;
    begin ${outside('a placement move')}
      if p_to is null or p_to not in ('pooled', 'schema') then
        raise exception 'a placement move goes to pooled or schema (database and region targets are not supported yet)'
          using errcode = 'feature_not_supported';
      end if;
      perform 1 from public.organizations o where o.id = p_org for update;
      if not found then raise exception 'no organization %', p_org using errcode = 'no_data_found'; end if;
      select m.id, m.to_kind into v_id, v_to from public.placement_moves m
        where m.organization_id = p_org and m.step not in ('done', 'aborted', 'failed');
      if v_id is not null then
        if v_to = p_to then return v_id; end if;
        raise exception 'organization % is already moving to %', p_org, v_to using errcode = 'object_in_use';
      end if;
      select p.kind into v_kind from public.tenant_placements p where p.organization_id = p_org;
      v_kind := coalesce(v_kind, 'pooled');
      if v_kind = 'database' then
        raise exception 'moving a database placement is not supported yet' using errcode = 'feature_not_supported';
      end if;
      if v_kind = p_to then
        raise exception 'organization % is already %', p_org, p_to using errcode = 'invalid_parameter_value';
      end if;
      v_id := gen_random_uuid();
      insert into public.placement_moves (organization_id, id, from_kind, to_kind, requested_by)
        values (p_org, v_id, v_kind, p_to, coalesce(p_actor, 'unknown'));
      insert into public.tenant_placements (organization_id, kind, state) values (p_org, 'pooled', 'moving')
        on conflict (organization_id) do update set state = 'moving', updated_at = now();
      return v_id;
    end $$`.execute(db);

  // The recorded steps: preparing → copying (the copy's snapshot horizon recorded) → switching;
  // cleaning → done; preparing/copying/switching → aborting → aborted (placement active again, as it
  // was); cleaning → aborted (the caller moves it back). A null step records only the error.
  await sql`create function app_priv_placement_move_advance(p_move uuid, p_step text, p_error text) returns text
    ${sql.raw(DEFINER)} as $$
    declare m record;
    begin ${outside('a placement move')}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then ${sql.raw(notFound)}; end if;
      if p_step is null then
        update public.placement_moves x set error = p_error, updated_at = now() where x.id = p_move;
        return m.step;
      end if;
      if not ((m.step, p_step) in (('preparing', 'copying'), ('copying', 'switching'), ('cleaning', 'done'),
          ('preparing', 'aborting'), ('copying', 'aborting'), ('switching', 'aborting'),
          ('aborting', 'aborted'), ('cleaning', 'aborted'))) then
        raise exception 'placement move % is %, not a step before %', p_move, m.step, p_step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      update public.placement_moves x set step = p_step, error = p_error, updated_at = now(),
          copy_xmin = case when p_step = 'copying' then pg_snapshot_xmin(pg_current_snapshot()) else x.copy_xmin end,
          progress = case when p_step = 'copying' then '{}' else x.progress end,
          finished_at = case when p_step in ('done', 'aborted') then now() end
        where x.id = p_move;
      if p_step = 'aborted' and m.step = 'aborting' then
        update public.tenant_placements p set state = 'active', updated_at = now() where p.organization_id = m.org;
      end if;
      return p_step;
    end $$`.execute(db);

  await copyFunction(db);
  await switchFunctions(db);

  await sql`create function app_priv_placement_moves(p_org uuid, p_move uuid, p_before timestamptz,
      p_before_id uuid, p_limit integer) returns setof public.placement_moves
    ${sql.raw(DEFINER)} as $$
    begin ${outside('the placement moves list')}
      return query select m.* from public.placement_moves m
        where (p_org is null or m.organization_id = p_org) and (p_move is null or m.id = p_move)
          and (p_before is null or (m.created_at, m.id) < (p_before, p_before_id))
        order by m.created_at desc, m.id desc limit least(greatest(coalesce(p_limit, 50), 1), 100);
    end $$`.execute(db);
}

/**
 * One batch of the copy of a table's rows older than the copy's horizon (keyset by `p_keys`, the columns after organization_id that identify
 * a row), source → target, committed with its cursor in the move's progress: re-running continues after
 * the last batch committed. Existing target rows are brought up to the source (a move back after an
 * aborted one finds the old rows). A batch a foreign key refuses (a child whose parent arrived after
 * its table was copied) goes row by row, skipping such rows: they are newer than the copy's horizon,
 * so the switch's catch-up brings them, parents first.
 */
async function copyFunction(db: Kysely<unknown>): Promise<void> {
  await sql`create function app_priv_placement_move_copy(p_move uuid, p_table text, p_keys text[],
      p_limit integer) returns table (copied integer, done boolean)
    ${sql.raw(DEFINER)} as $$
    declare m record; t record; v_prog jsonb; v_after text[]; v_cond text; v_ins text; v_n integer := 0;
      v_last text[]; v_limit integer := least(greatest(coalesce(p_limit, 1000), 1), 10000); r record; v_x xid;
    begin ${outside('a placement move')}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then ${sql.raw(notFound)}; end if;
      if m.step is distinct from 'copying' then
        raise exception 'placement move % is %, not copying', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if p_table = 'audit_pending' then
        raise exception 'audit_pending moves at the switch' using errcode = 'invalid_parameter_value';
      end if;
      select * into t from public.app_placement_move_table(m.org, m.dst, p_table, p_keys);
      select coalesce(x.progress -> p_table, '{}') into v_prog from public.placement_moves x where x.id = p_move;
      if coalesce((v_prog ->> 'done')::boolean, false) then
        return query select 0, true;
        return;
      end if;
      if jsonb_typeof(v_prog -> 'after') = 'array' then
        v_after := array(select jsonb_array_elements_text(v_prog -> 'after'));
      end if;
      v_cond := case when v_after is null then 'true' else format('(%s) > (%s)', t.skeys, t.casts) end;
      -- Only rows older than the copy's horizon: newer ones are the switch's (a writer appending in key
      -- order would otherwise stay ahead of the copy forever).
      v_x := ((m.copy_xmin::text::bigint % 4294967296)::text)::xid;
      v_ins := format('insert into %I.%I as d (%s) select %s from b %s', m.dst, p_table, t.cols,
        (select string_agg('b.' || quote_ident(n), ', ') from unnest(t.names) n), t.tail);
      perform set_config('app.placement_move', m.org::text || '/' || m.dst, true);
      begin
        execute format('with b as materialized (select %s from %I.%I s where s.organization_id = $1 and %s
            and age(s.xmin) > age($4) order by %s limit $3), i as (%s returning 1)
          select (select count(*) from b)::int, (select array[%s] from b order by %s limit 1)',
          t.scols, m.src, p_table, v_cond, t.skeys, v_ins, t.bkeytext, t.bkeys_desc)
          into v_n, v_last using m.org, v_after, v_limit, v_x;
      exception when foreign_key_violation then
        v_n := 0;
        for r in execute format('select array[%s] as k from %I.%I s where s.organization_id = $1 and %s
            and age(s.xmin) > age($4) order by %s limit $3', t.skeytext, m.src, p_table, v_cond, t.skeys)
            using m.org, v_after, v_limit, v_x loop
          begin
            execute format('with b as (select %s from %I.%I s where s.organization_id = $1 and (%s) = (%s)) %s',
              t.scols, m.src, p_table, t.skeys, t.casts, v_ins) using m.org, r.k;
          exception when foreign_key_violation then null;
          end;
          v_n := v_n + 1;
          v_last := r.k;
        end loop;
      end;
      perform set_config('app.placement_move', '', true);
      update public.placement_moves x set updated_at = now(), progress = jsonb_set(x.progress, array[p_table],
          jsonb_build_object('after', coalesce(to_jsonb(v_last), v_prog -> 'after'),
            'copied', coalesce((v_prog ->> 'copied')::bigint, 0) + v_n, 'done', v_n < v_limit))
        where x.id = p_move;
      return query select v_n, v_n < v_limit;
    end $$`.execute(db);
}

/**
 * The switch, in the caller's ONE transaction: `sync` per table (upserts parents first, then deletions
 * children first), then `switch`. Each takes the organization's move lock exclusively (requests of the
 * organization wait for the commit). `sync` brings the target to the source: the rows written since the
 * copy's horizon (xmin newer than it), the rows deleted since; `audit_pending` (whose ids the admission
 * trigger assigns) is copied whole. `switch` checks every table's row count and checksum equal, records
 * the new placement, writes the `organization.placement_moved` event (drafted by the caller) in the
 * target's pending audit events, and moves the record to `cleaning`.
 */
async function switchFunctions(db: Kysely<unknown>): Promise<void> {
  await sql`create function app_priv_placement_move_sync(p_move uuid, p_table text, p_keys text[], p_phase text)
    returns integer ${sql.raw(DEFINER)} as $$
    declare m record; t record; v_n integer := 0; v_x xid; v_cols text;
    begin ${outside('a placement move')}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then ${sql.raw(notFound)}; end if;
      if m.step is distinct from 'switching' or p_phase not in ('upsert', 'delete') then
        raise exception 'placement move % is %, not switching', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      perform pg_advisory_xact_lock(public.app_placement_move_key(m.org));
      select * into t from public.app_placement_move_table(m.org, m.dst, p_table, p_keys);
      perform set_config('app.placement_move', m.org::text || '/' || m.dst, true);
      if p_table = 'audit_pending' then
        if p_phase = 'upsert' then
          execute format('delete from %I.audit_pending where organization_id = $1', m.dst) using m.org;
          v_cols := (select string_agg(quote_ident(n), ', ') from unnest(t.names) n where n <> 'pending_id');
          execute format('insert into %I.audit_pending (%s) select %s from %I.audit_pending s
              where s.organization_id = $1 order by s.pending_id', m.dst, v_cols, v_cols, m.src) using m.org;
          get diagnostics v_n = row_count;
        end if;
      elsif p_phase = 'upsert' then
        v_x := ((m.copy_xmin::text::bigint % 4294967296)::text)::xid;
        execute format('with b as materialized (select %s from %I.%I s where s.organization_id = $1
            and age(s.xmin) <= age($2)), i as (insert into %I.%I as d (%s) select %s from b %s returning 1)
          select count(*)::int from b', t.scols, m.src, p_table, m.dst, p_table, t.cols,
          (select string_agg('b.' || quote_ident(n), ', ') from unnest(t.names) n), t.tail)
          into v_n using m.org, v_x;
      else
        execute format('delete from %I.%I d where d.organization_id = $1 and not exists (
            select 1 from %I.%I s where s.organization_id = $1 and (%s) = (%s))', m.dst, p_table, m.src, p_table,
          t.skeys, (select string_agg('d.' || quote_ident(n), ', ') from unnest(p_keys) n)) using m.org;
        get diagnostics v_n = row_count;
      end if;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);

  await sql`create function app_priv_placement_move_switch(p_move uuid, p_schema_version text, p_audit jsonb)
    returns jsonb ${sql.raw(DEFINER)} as $$
    declare m record; r record; v_counts jsonb := '{}'; v_sn bigint; v_ss text; v_dn bigint; v_ds text;
    begin ${outside('a placement move')}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then ${sql.raw(notFound)}; end if;
      if m.step is distinct from 'switching' then
        raise exception 'placement move % is %, not switching', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if p_audit ->> 'action' is distinct from 'organization.placement_moved'
          or p_audit ->> 'target_id' is distinct from m.org::text then
        raise exception 'the switch records organization.placement_moved of its organization'
          using errcode = 'invalid_parameter_value';
      end if;
      perform pg_advisory_xact_lock(public.app_placement_move_key(m.org));
      for r in select c.relname::text as t from pg_class c
          where c.relnamespace = public.app_tenant_schema_name(m.org)::regnamespace and c.relkind in ('r', 'p')
            and not c.relispartition order by 1 loop
        execute format('select count(*), coalesce(sum(hashtextextended((to_jsonb(x) - ''pending_id'')::text, 0)
            ::numeric), 0)::text from %I.%I x where x.organization_id = $1', m.src, r.t) into v_sn, v_ss using m.org;
        execute format('select count(*), coalesce(sum(hashtextextended((to_jsonb(x) - ''pending_id'')::text, 0)
            ::numeric), 0)::text from %I.%I x where x.organization_id = $1', m.dst, r.t) into v_dn, v_ds using m.org;
        if v_sn <> v_dn or v_ss <> v_ds then
          raise exception 'placement move %: % differs after the catch-up (% rows in %, % in %)',
            p_move, r.t, v_sn, m.src, v_dn, m.dst using errcode = 'data_exception';
        end if;
        v_counts := v_counts || jsonb_build_object(r.t, jsonb_build_object('rows', v_sn, 'checksum', v_ss));
      end loop;
      update public.tenant_placements p set kind = m.to_kind, database_key = null, state = 'active',
          schema_version = case when m.to_kind = 'schema' then p_schema_version end, updated_at = now()
        where p.organization_id = m.org;
      execute format('insert into %I.audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type,
          actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
        values ($1, ($2 ->> ''id'')::uuid, ($2 ->> ''occurred_at'')::timestamptz, $2 ->> ''prefix'',
          $2 ->> ''suffix'', $2 ->> ''actor_type'', $2 ->> ''actor_id'', $2 ->> ''action'', $2 ->> ''target_type'',
          $2 ->> ''target_id'', null, null, $2 ->> ''request_id'', nullif($2 -> ''changes'', ''null''),
          nullif($2 -> ''metadata'', ''null''))', m.dst) using m.org, p_audit;
      -- The freeze: from the transaction's start (its first statement queued for the lock; the
      -- organization's new transactions queued behind it) to now, COMMIT aside.
      update public.placement_moves x set step = 'cleaning', counts = v_counts, switched_at = now(),
          error = null, updated_at = now(),
          freeze_ms = ceil(extract(epoch from clock_timestamp() - now()) * 1000)::integer
        where x.id = p_move;
      return v_counts;
    end $$`.execute(db);

  // Deletes a batch of the organization's rows of one placed table from the schema NOT holding its
  // placement: the source while cleaning, the target while aborting. Answers how many went.
  await sql`create function app_priv_placement_move_discard(p_move uuid, p_table text, p_limit integer)
    returns integer ${sql.raw(DEFINER)} as $$
    declare m record; v_schema text; v_kind text; v_n integer;
    begin ${outside('a placement move')}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then ${sql.raw(notFound)}; end if;
      v_schema := case m.step when 'cleaning' then m.src when 'aborting' then m.dst end;
      if v_schema is null then
        raise exception 'placement move % is %: nothing to discard', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      select p.kind into v_kind from public.tenant_placements p where p.organization_id = m.org;
      if v_schema = (case when v_kind = 'schema' then public.app_tenant_schema_name(m.org) else 'public' end) then
        raise exception 'refused: % holds the placement of %', v_schema, m.org using errcode = 'insufficient_privilege';
      end if;
      perform 1 from public.app_placement_move_table(m.org, v_schema, p_table, array['organization_id']);
      perform set_config('app.placement_move', m.org::text || '/' || v_schema, true);
      execute format('delete from %I.%I d where d.organization_id = $1 and (d.tableoid, d.ctid) in (
          select s.tableoid, s.ctid from %I.%I s where s.organization_id = $1 limit $2)',
        v_schema, p_table, v_schema, p_table) using m.org, least(greatest(coalesce(p_limit, 1000), 1), 10000);
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);
}
