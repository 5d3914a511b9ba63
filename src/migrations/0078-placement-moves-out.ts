import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { XMOVE_OUT_DATA_FUNCTIONS, xmoveOutDataFunctions } from './0078-placement-moves-out-data.js';

/**
 * Issue 13, online moves OUT of a `database` placement: back to `pooled`, into the organization's schema of
 * the control database, or into another tenant database (docs/isolation-models.md, "Online moves out of a
 * tenant database"; the engine: src/modules/tenant-placement/database-move-out.ts).
 *
 * - `placement_moves.from_database_key`: the tenant database a move leaves; `mirror_side`: on a tenant
 *   database's record of a move (its mirror), which side of it that database is (`source` or `target`; null:
 *   0076's mirrors, all targets).
 * - `app_priv_placement_move_begin` (0040) and `app_priv_placement_xmove_begin` (0076) restated: a `database`
 *   organization may move to `pooled` or `schema`, or into another tenant database.
 * - `app_priv_placement_xmove_source_mirror(...)`: in the tenant database a move leaves, its record there;
 *   its step authorizes the reads of the copy (`copying`, `switching`) and the discard (`cleaning`), and
 *   the freeze moves it to `cleaning` in a PREPARED transaction that the control database's COMMIT decides.
 * - `app_priv_placement_xmove_out_switch(...)`: in the control database, a move to `pooled` or `schema`:
 *   the final delta was written in the same transaction, whose COMMIT is the decision: the placement
 *   (`pooled`, or `schema` at the current version) `active`, the region none, the move's audit event admitted
 *   there, the move `cleaning`.
 * - `app_enter_moving_placed(org, read_only)`: the guarded path's prelude on a tenant database (a `database`
 *   organization that is `moving`): the tenant set, the move lock taken SHARED, then the organization's
 *   latest move record there read under a row lock, waiting up to 1 s for a prepared part holding it (then:
 *   route again, SQLSTATE `SRM01`): a move that left this database (`cleaning`, `done`), or one into it that has
 *   not switched, refuses with `SRM01` and `withTenant` routes the scope again.
 * - `app_priv_placement_xmove_step`, `_hold`, `_activate` and 0076's `app_priv_placement_move_advance`
 *   restated to take moves from a database too (a move that switched only goes to `done`).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const owner = sql.id(ctx.roles.owner);
  const runtime = sql.id(ctx.roles.runtime);

  await sql`alter table placement_moves add column from_database_key text,
    add column mirror_side text check (mirror_side in ('source', 'target')),
    add constraint placement_moves_from_database_key check ((from_kind = 'database') = (from_database_key is not null))`.execute(
    db,
  );
  // The tenant database a move leaves keeps its organization row as a tombstone (slug and name
  // `org-<id>`, as a region's creation writes them): its record of the move says where it went.
  await sql`grant update (slug, name) on organizations to ${definer}`.execute(db);
  await begins(db);
  await steps(db);
  await switchOut(db);
  await horizon(db);
  await entering(db, ctx);
  await xmoveOutDataFunctions(db);
  for (const fn of [...OUT_FUNCTIONS, ...XMOVE_OUT_DATA_FUNCTIONS]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    if (fn.startsWith('app_priv_')) {
      await sql`grant execute on function ${sql.raw(fn)} to ${owner}`.execute(db);
    }
  }
  await sql`grant execute on function app_enter_moving_placed(uuid, boolean) to ${runtime}`.execute(db);
}

const OUT_FUNCTIONS = [
  'app_priv_placement_xmove_source_mirror(uuid, uuid, text, text, text, text, integer)',
  'app_priv_placement_xmove_out_switch(uuid, integer, text, text, jsonb)',
  'app_moving_tenant_elsewhere(uuid)',
  'app_priv_placement_xmove_horizon(uuid)',
];

const DEFINER = 'language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp';
const outside = sql.raw(OUTSIDE_TENANT_SCOPE('a placement move'));

async function begins(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_priv_placement_move_begin(p_org uuid, p_to text, p_actor text) returns uuid
    ${sql.raw(DEFINER)} as $$
    declare v_kind text; v_key text; v_id uuid; v_to text;
    begin ${outside}
      if p_to is null or p_to not in ('pooled', 'schema') then
        raise exception 'a placement move goes to pooled or schema (a tenant database: app_priv_placement_xmove_begin)'
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
      select p.kind, p.database_key into v_kind, v_key from public.tenant_placements p where p.organization_id = p_org;
      v_kind := coalesce(v_kind, 'pooled');
      if v_kind = p_to then
        raise exception 'organization % is already %', p_org, p_to using errcode = 'invalid_parameter_value';
      end if;
      v_id := gen_random_uuid();
      insert into public.placement_moves (organization_id, id, from_kind, to_kind, from_database_key, requested_by)
        values (p_org, v_id, v_kind, p_to, case when v_kind = 'database' then v_key end, coalesce(p_actor, 'unknown'));
      insert into public.tenant_placements (organization_id, kind, state) values (p_org, 'pooled', 'moving')
        on conflict (organization_id) do update set state = 'moving', updated_at = now();
      return v_id;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_begin(p_org uuid, p_key text, p_actor text)
    returns uuid ${sql.raw(DEFINER)} as $$
    declare v_kind text; v_id uuid; v_to text; v_key text;
    begin ${outside}
      if p_key is null or p_key !~ '^[a-z][a-z0-9_-]{0,62}$' then
        raise exception 'a tenant database key: %', p_key using errcode = 'invalid_parameter_value';
      end if;
      perform 1 from public.organizations o where o.id = p_org for update;
      if not found then raise exception 'no organization %', p_org using errcode = 'no_data_found'; end if;
      select m.id, m.to_kind, m.database_key into v_id, v_to, v_key from public.placement_moves m
        where m.organization_id = p_org and m.step not in ('done', 'aborted', 'failed');
      if v_id is not null then
        if v_to = 'database' and v_key = p_key then return v_id; end if;
        raise exception 'organization % is already moving to %', p_org, v_to || coalesce(':' || v_key, '')
          using errcode = 'object_in_use';
      end if;
      select p.kind, p.database_key into v_kind, v_key from public.tenant_placements p where p.organization_id = p_org;
      v_kind := coalesce(v_kind, 'pooled');
      if v_kind = 'database' and v_key = p_key then
        raise exception 'organization % is already in database %', p_org, p_key using errcode = 'invalid_parameter_value';
      end if;
      v_id := gen_random_uuid();
      insert into public.placement_moves (organization_id, id, from_kind, to_kind, database_key, from_database_key,
          requested_by)
        values (p_org, v_id, v_kind, 'database', p_key, case when v_kind = 'database' then v_key end,
          coalesce(p_actor, 'unknown'));
      insert into public.tenant_placements (organization_id, kind, state) values (p_org, 'pooled', 'moving')
        on conflict (organization_id) do update set state = 'moving', updated_at = now();
      return v_id;
    end $$`.execute(db);
}

async function steps(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_priv_placement_xmove_step(p_move uuid) returns text
    ${sql.raw(DEFINER)} as $$
    declare v_step text;
    begin ${outside}
      select m.step into v_step from public.placement_moves m
        where m.id = p_move and (m.to_kind = 'database' or m.from_kind = 'database') for share;
      return v_step;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_hold(p_move uuid, p_on boolean) returns void
    ${sql.raw(DEFINER)} as $$
    declare v_org uuid;
    begin ${outside}
      select m.organization_id into v_org from public.placement_moves m
        where m.id = p_move and (m.to_kind = 'database' or m.from_kind = 'database');
      if v_org is null then raise exception 'no placement move %', p_move using errcode = 'no_data_found'; end if;
      if p_on then
        perform pg_advisory_lock(public.app_placement_move_key(v_org));
      else
        perform pg_advisory_unlock(public.app_placement_move_key(v_org));
      end if;
    end $$`.execute(db);

  await sql`create or replace function app_priv_placement_xmove_activate(p_move uuid) returns void
    ${sql.raw(DEFINER)} as $$
    declare m record;
    begin ${outside}
      select * into m from public.placement_moves x
        where x.id = p_move and (x.to_kind = 'database' or x.from_kind = 'database');
      if m.id is null or m.step not in ('cleaning', 'done') then
        raise exception 'placement move % has not switched', p_move using errcode = 'object_not_in_prerequisite_state';
      end if;
      update public.tenant_placements p set state = 'active', updated_at = now()
        where p.organization_id = m.organization_id and p.kind = m.to_kind
          and p.database_key is not distinct from m.database_key;
    end $$`.execute(db);

  // 0076's, a switched move out of a database too only going to done.
  await sql`create or replace function app_priv_placement_move_advance(p_move uuid, p_step text, p_error text)
    returns text ${sql.raw(DEFINER)} as $$
    declare m record; v_db boolean;
    begin ${outside}
      perform 1 from public.placement_moves x where x.id = p_move for update;
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then raise exception 'no placement move %', p_move using errcode = 'no_data_found'; end if;
      if p_step is null then
        update public.placement_moves x set error = p_error, updated_at = now() where x.id = p_move;
        return m.step;
      end if;
      v_db := m.to_kind = 'database' or m.from_kind = 'database';
      if v_db and m.step = 'cleaning' and p_step <> 'done' then
        raise exception 'placement move % has switched (a tenant database is one side): only done follows', p_move
          using errcode = 'object_not_in_prerequisite_state';
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

  // The record of a move in the tenant database it leaves. Steps only go forward: copying → switching →
  // cleaning → done, or → aborting → aborted; p_run fences as 0076's mirror. At done the organization row
  // there is a tombstone: slug and name `org-<id>` (its placed rows were discarded at cleaning).
  await sql`create function app_priv_placement_xmove_source_mirror(p_move uuid, p_org uuid, p_from_key text,
      p_to_kind text, p_to_key text, p_step text, p_run integer) returns text ${sql.raw(DEFINER)} as $$
    declare v_step text; v_org uuid; v_run integer; v_side text;
    begin ${outside}
      if p_step is not null and p_step not in ('copying', 'switching', 'cleaning', 'aborting', 'aborted', 'done') then
        raise exception 'not a step: %', p_step using errcode = 'invalid_parameter_value';
      end if;
      if p_run is null then raise exception 'a run number' using errcode = 'invalid_parameter_value'; end if;
      if exists (select 1 from public.tenant_placements p where p.organization_id = p_org) then
        raise exception 'organization % is placed from this database: the record of its move out is a tenant database''s', p_org
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if not exists (select 1 from public.organizations o where o.id = p_org) then
        raise exception 'organization % has no row in this database', p_org using errcode = 'no_data_found';
      end if;
      select m.step, m.organization_id, m.run_no, m.mirror_side into v_step, v_org, v_run, v_side
        from public.placement_moves m where m.id = p_move for update;
      if v_step is null and p_step is null then return null; end if;
      if v_step is not null and v_side is distinct from 'source' then
        raise exception 'placement move % comes into this database', p_move using errcode = 'invalid_parameter_value';
      end if;
      if v_step is not null and p_run < v_run then
        raise exception 'placement move %: run % is not its live run (%)', p_move, p_run, v_run
          using errcode = 'SRM02';
      end if;
      if v_step is not null and p_run > v_run then
        update public.placement_moves x set run_no = p_run where x.id = p_move;
      end if;
      if p_step is null then return v_step; end if;
      if v_step is null then
        if p_step <> 'copying' and p_step <> 'aborting' then
          raise exception 'placement move % has no record here to move to %', p_move, p_step
            using errcode = 'object_not_in_prerequisite_state';
        end if;
        -- copy_xmin: this database's horizon of the copy (the control database's means nothing here).
        insert into public.placement_moves (organization_id, id, from_kind, to_kind, database_key, from_database_key,
            mirror_side, requested_by, step, run_no, copy_xmin)
          values (p_org, p_move, 'database', p_to_kind, p_to_key, p_from_key, 'source', 'placement move', p_step, p_run,
            pg_snapshot_xmin(pg_current_snapshot()));
        return p_step;
      end if;
      if v_org <> p_org then
        raise exception 'placement move % is of another organization', p_move using errcode = 'invalid_parameter_value';
      end if;
      if v_step = p_step then return v_step; end if;
      if not ((v_step, p_step) in (('copying', 'switching'), ('switching', 'cleaning'), ('cleaning', 'done'),
          ('copying', 'aborting'), ('switching', 'aborting'), ('aborting', 'aborted'))) then
        raise exception 'placement move % is % here, not a step before %', p_move, v_step, p_step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      update public.placement_moves x set step = p_step, updated_at = now(),
          finished_at = case when p_step in ('done', 'aborted') then now() end
        where x.id = p_move;
      if p_step = 'done' then
        update public.organizations o set slug = 'org-' || p_org::text, name = 'org-' || p_org::text where o.id = p_org;
      end if;
      return p_step;
    end $$`.execute(db);
}

/** The copy's horizon of a move in the database it leaves (its record's `copy_xmin`), as text. */
async function horizon(db: Kysely<unknown>): Promise<void> {
  await sql`create function app_priv_placement_xmove_horizon(p_move uuid) returns text ${sql.raw(DEFINER)} as $$
    begin ${outside}
      return (select m.copy_xmin::text from public.placement_moves m where m.id = p_move);
    end $$`.execute(db);
}

/** The decision of a move from a tenant database into the control database (`pooled` or `schema`). */
async function switchOut(db: Kysely<unknown>): Promise<void> {
  await sql`create function app_priv_placement_xmove_out_switch(p_move uuid, p_run integer, p_gid text,
      p_schema_version text, p_audit jsonb) returns void ${sql.raw(DEFINER)} as $$
    declare m record; v_here text;
    begin ${outside}
      select * into m from public.placement_moves x where x.id = p_move and x.from_kind = 'database'
        and x.to_kind in ('pooled', 'schema') for update;
      if m.id is null then raise exception 'no placement move % out of a database', p_move using errcode = 'no_data_found'; end if;
      if m.run_no is distinct from p_run then
        raise exception 'placement move %: run % is not its live run (%)', p_move, p_run, m.run_no
          using errcode = 'SRM02';
      end if;
      if m.step <> 'switching' then
        raise exception 'placement move % is %, not switching', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if p_audit ->> 'action' is distinct from 'organization.placement_moved'
          or p_audit ->> 'target_id' is distinct from m.organization_id::text then
        raise exception 'the switch records organization.placement_moved of its organization'
          using errcode = 'invalid_parameter_value';
      end if;
      v_here := case when m.to_kind = 'schema' then public.app_tenant_schema_name(m.organization_id) else 'public' end;
      update public.tenant_placements p set kind = m.to_kind, database_key = null, state = 'active',
          schema_version = case when m.to_kind = 'schema' then p_schema_version end, updated_at = now()
        where p.organization_id = m.organization_id;
      update public.organizations o set region = null where o.id = m.organization_id;
      execute format('insert into %I.audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type,
          actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
        values ($1, ($2 ->> ''id'')::uuid, ($2 ->> ''occurred_at'')::timestamptz, $2 ->> ''prefix'',
          $2 ->> ''suffix'', $2 ->> ''actor_type'', $2 ->> ''actor_id'', $2 ->> ''action'',
          $2 ->> ''target_type'', $2 ->> ''target_id'', null, null, $2 ->> ''request_id'',
          nullif($2 -> ''changes'', ''null''), nullif($2 -> ''metadata'', ''null''))', v_here)
        using m.organization_id, p_audit;
      update public.placement_moves x set step = 'cleaning', switched_at = now(), error = null, updated_at = now(),
          progress = x.progress || jsonb_build_object('gid', p_gid),
          freeze_ms = ceil(extract(epoch from clock_timestamp() - now()) * 1000)::integer
        where x.id = p_move;
    end $$`.execute(db);
}

/** The guarded path's prelude on a tenant database, and its check (see the header). */
async function entering(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  // True: the organization's scope must not run here now (route again).
  // The record read FOR SHARE, waiting up to 1 s for a part that holds it (the few milliseconds between the
  // control database's decision and the part's COMMIT PREPARED), then refusing (route again). A part of the
  // move prepared more than 2 s ago is a dead run's (a live run commits it at once): refused without waiting,
  // so the organization's scopes do not hold the database's pooled connections that others need.
  await sql`create function app_moving_tenant_elsewhere(p_org uuid) returns boolean ${sql.raw(DEFINER)}
    set lock_timeout = '1s' as $$
    declare v_id uuid; v_side text; v_step text;
    begin
      if p_org is distinct from public.app_current_tenant() then
        raise exception 'the organization of this scope only' using errcode = 'insufficient_privilege';
      end if;
      select m.id into v_id from public.placement_moves m
        where m.organization_id = p_org order by m.created_at desc, m.id desc limit 1;
      if v_id is null then return false; end if;
      if exists (select 1 from pg_catalog.pg_prepared_xacts x
                  where x.database = current_database()
                    and x.gid in ('sr_ms_' || replace(v_id::text, '-', ''), 'sr_mv_' || replace(v_id::text, '-', ''))
                    and x.prepared < clock_timestamp() - interval '2 seconds') then
        return true;
      end if;
      begin
        select coalesce(m.mirror_side, 'target'), m.step into v_side, v_step from public.placement_moves m
          where m.id = v_id for share;
      exception when lock_not_available then
        return true;
      end;
      if v_step is null then return false; end if;
      return (v_side = 'source') = (v_step in ('cleaning', 'done'));
    end $$`.execute(db);
  await sql`grant execute on function app_moving_tenant_elsewhere(uuid) to ${sql.id(ctx.roles.runtime)}`.execute(
    db,
  );

  // No SET clause: the settings it makes are the transaction's (as 0040's app_enter_moving_tenant).
  await sql`create function app_enter_moving_placed(p_org uuid, p_read_only boolean) returns void
    language plpgsql volatile as $$
    begin
      perform pg_catalog.set_config('app.tenant_id', p_org::text, true);
      perform pg_catalog.pg_advisory_xact_lock_shared(public.app_placement_move_key(p_org));
      if public.app_moving_tenant_elsewhere(p_org) then
        raise exception 'organization % is not placed in this database now: route again', p_org using errcode = 'SRM01';
      end if;
      if p_read_only then
        perform pg_catalog.set_config('transaction_read_only', 'on', true);
      end if;
    end $$`.execute(db);
  await sql`revoke all on function app_enter_moving_placed(uuid, boolean) from public`.execute(db);
}
