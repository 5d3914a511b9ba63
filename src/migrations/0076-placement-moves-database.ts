import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { XMOVE_DATA_FUNCTIONS, xmoveDataFunctions } from './0076-placement-moves-database-data.js';

/**
 * Issue 13, online moves of a pooled or schema-placed organization into a `database` placement (docs/isolation-models.md,
 * "Online moves into a tenant database"; the engine: src/modules/tenant-placement/database-move.ts).
 *
 * - `placement_moves` takes `database` as a target, with the tenant database's key (`database_key`).
 * - `app_priv_placement_xmove_begin(org, key, actor)`: starts a move of a pooled or schema organization to the
 *   tenant database `key` (a move under way to the same target: its id), marks the placement `moving`.
 * - `app_priv_placement_xmove_mirror(move, org, key, step)`: in the TENANT database, the move's record
 *   there (the same id), whose step authorizes the data functions in that database (0076-…-data.ts).
 * - `app_priv_placement_xmove_hold(move, on)`: the organization's move lock taken (released) at SESSION
 *   level in the control database: the freeze holds it from before the final delta until the tenant
 *   database's part of the switch has committed, across the control database's COMMIT.
 * - `app_priv_placement_xmove_switch_target(move, audit)`: in the tenant database, inside the freeze's
 *   prepared transaction: the mirror to `cleaning` (no more writes into the target by the move) and
 *   `organization.placement_moved` admitted to the organization's chain there.
 * - `app_priv_placement_xmove_switch(move, gid, region)`: in the control database, the decision: the placement
 *   `database` (key), still `moving`, `organizations.region` the database's region (or null), the move
 *   `cleaning` with the prepared part's name.
 * - `app_priv_placement_xmove_activate(move)`: once the tenant database's part has committed: the placement
 *   `active`.
 * - `app_priv_placement_xmove_discard(move, table, limit)`: the source's rows, batch by batch, once the
 *   placement is the target's.
 * - `app_priv_placement_xmove_step(move)`: the move's step in this database's records (the control database's
 *   row, or the tenant database's mirror), read under a row lock: a switch transaction still in flight is
 *   waited out, so the answer is the decision (`cleaning`) or its absence (`switching`).
 * - `app_priv_placement_move_advance` (0040) restated: it locks the move's row before checking its step
 *   (an abort arriving while the switch COMMITs waits for it, then sees `cleaning`), and a move into a
 *   database that has switched is never aborted or sent back from `cleaning` (moving out is not built).
 * - `app_enter_moving_tenant` (the guarded path's prelude) re-checks the placement after waiting for the
 *   move lock: placed in a database now, it refuses (SQLSTATE `SRM01`), and `withTenant` routes the scope
 *   again (the request waits, it does not fail); nothing of the scope ran on the control database.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const owner = sql.id(ctx.roles.owner);

  await sql`alter table placement_moves drop constraint placement_moves_from_kind_check,
    drop constraint placement_moves_to_kind_check,
    add constraint placement_moves_from_kind_check check (from_kind in ('pooled', 'schema', 'database')),
    add constraint placement_moves_to_kind_check check (to_kind in ('pooled', 'schema', 'database')),
    add column database_key text,
    add column run_no integer not null default 0,
    add constraint placement_moves_database_key check ((to_kind = 'database') = (database_key is not null))`.execute(
    db,
  );
  // The tenant database's copy of the organization row, written with the move's mirror (and deleted when
  // the move is aborted): the definer's, as the rest of the move's data path.
  // And in the control database the switch records the organization's region (its column only).
  await sql`grant insert, delete on organizations to ${definer}`.execute(db);
  await sql`grant update (region) on organizations to ${definer}`.execute(db);
  await enterMoving(db);
  await advance(db);
  await steps(db);
  await xmoveDataFunctions(db);
  await underWay(db, ctx);
  for (const fn of [...XMOVE_FUNCTIONS, ...XMOVE_DATA_FUNCTIONS]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    if (fn.startsWith('app_priv_'))
      await sql`grant execute on function ${sql.raw(fn)} to ${owner}`.execute(db);
  }
}

const XMOVE_FUNCTIONS = [
  'app_priv_placement_xmove_begin(uuid, text, text)',
  'app_priv_placement_xmove_run(uuid)',
  'app_priv_placement_xmove_mirror(uuid, uuid, text, text, integer)',
  'app_priv_placement_xmove_hold(uuid, boolean)',
  'app_priv_placement_xmove_switch_target(uuid, integer, jsonb)',
  'app_priv_placement_xmove_switch(uuid, text, text, integer)',
  'app_priv_placement_xmove_activate(uuid)',
  'app_priv_placement_xmove_discard(uuid, text, integer)',
  'app_priv_placement_xmove_step(uuid)',
];

const DEFINER = 'language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp';
const outside = sql.raw(OUTSIDE_TENANT_SCOPE('a placement move'));

/** 0040's prelude, plus: a `database` placement found after the lock is refused (SRM01), never run here. */
async function enterMoving(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_enter_moving_tenant(p_org uuid, p_read_only boolean) returns void
    language plpgsql volatile as $$
    declare v_kind text;
    begin
      perform pg_catalog.set_config('app.tenant_id', p_org::text, true);
      perform pg_catalog.pg_advisory_xact_lock_shared(public.app_placement_move_key(p_org));
      select p.kind into v_kind from public.tenant_placements p where p.organization_id = p_org;
      if v_kind = 'database' then
        raise exception 'organization % moved to a tenant database: route again', p_org using errcode = 'SRM01';
      end if;
      if v_kind = 'schema' then
        perform pg_catalog.set_config('search_path',
          pg_catalog.quote_ident('t_' || pg_catalog.replace(p_org::text, '-', '')) || ', public, pg_temp', true);
      end if;
      if p_read_only then
        perform pg_catalog.set_config('transaction_read_only', 'on', true);
      end if;
    end $$`.execute(db);
}

/** 0040's `app_priv_placement_move_advance`, its owner and grants kept (`create or replace`): the row locked
 *  before its step is checked; `cleaning` of a move into a database goes only to `done`. */
async function advance(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_priv_placement_move_advance(p_move uuid, p_step text, p_error text)
    returns text ${sql.raw(DEFINER)} as $$
    declare m record;
    begin ${outside}
      -- The row first: a transaction deciding the switch (or another step) is waited out, and the step
      -- checked below is the one this update replaces.
      perform 1 from public.placement_moves x where x.id = p_move for update;
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then raise exception 'no placement move %', p_move using errcode = 'no_data_found'; end if;
      if p_step is null then
        update public.placement_moves x set error = p_error, updated_at = now() where x.id = p_move;
        return m.step;
      end if;
      if m.to_kind = 'database' and m.step = 'cleaning' and p_step <> 'done' then
        raise exception 'placement move % has switched into its tenant database: only done follows', p_move
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
}

async function steps(db: Kysely<unknown>): Promise<void> {
  // Read under FOR SHARE: a transaction holding the row (the switch's, its COMMIT in flight) is waited out.
  await sql`create function app_priv_placement_xmove_step(p_move uuid) returns text
    ${sql.raw(DEFINER)} as $$
    declare v_step text;
    begin ${outside}
      select m.step into v_step from public.placement_moves m
        where m.id = p_move and m.to_kind = 'database' for share;
      return v_step;
    end $$`.execute(db);

  await sql`create function app_priv_placement_xmove_begin(p_org uuid, p_key text, p_actor text) returns uuid
    ${sql.raw(DEFINER)} as $$
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
      if v_kind not in ('pooled', 'schema') then
        raise exception 'moves into a tenant database start from pooled or schema (this organization is %)', v_kind
          using errcode = 'feature_not_supported';
      end if;
      v_id := gen_random_uuid();
      insert into public.placement_moves (organization_id, id, from_kind, to_kind, database_key, requested_by)
        values (p_org, v_id, v_kind, 'database', p_key, coalesce(p_actor, 'unknown'));
      insert into public.tenant_placements (organization_id, kind, state) values (p_org, 'pooled', 'moving')
        on conflict (organization_id) do update set state = 'moving', updated_at = now();
      return v_id;
    end $$`.execute(db);

  // A run of a move: its number, the control row's run_no incremented (the lease's holder calls it once it
  // holds the lease). The tenant database's mirror takes it (mirror below) and refuses any other run's writes.
  await sql`create function app_priv_placement_xmove_run(p_move uuid) returns integer ${sql.raw(DEFINER)} as $$
    declare v_run integer;
    begin ${outside}
      update public.placement_moves x set run_no = x.run_no + 1 where x.id = p_move returning x.run_no into v_run;
      return v_run;
    end $$`.execute(db);

  // The tenant database's record of the move. Steps only go forward: copying → switching → cleaning, or
  // → aborting → aborted; a record at cleaning or after never goes back to a step that writes.
  // p_run: the caller's run; an older one than the record's is refused (SRM02), a newer one recorded (the
  // fence: the row's lock waits for the writes of older runs in flight, which hold it FOR SHARE).
  // p_step null: the fence alone. Only in a tenant database: refused where the organization is placed.
  await sql`create function app_priv_placement_xmove_mirror(p_move uuid, p_org uuid, p_key text, p_step text,
      p_run integer) returns text ${sql.raw(DEFINER)} as $$
    declare v_step text; v_org uuid; v_run integer;
    begin ${outside}
      if p_step not in ('copying', 'switching', 'cleaning', 'aborting', 'aborted', 'done') then
        raise exception 'not a step: %', p_step using errcode = 'invalid_parameter_value';
      end if;
      if p_run is null then raise exception 'a run number' using errcode = 'invalid_parameter_value'; end if;
      if exists (select 1 from public.tenant_placements p where p.organization_id = p_org) then
        raise exception 'organization % is placed from this database: the mirror of its move is a tenant database''s', p_org
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      select m.step, m.organization_id, m.run_no into v_step, v_org, v_run from public.placement_moves m
        where m.id = p_move for update;
      if v_step is null and p_step is null then return null; end if;
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
        -- The organization row's copy first (placed tables reference it here too): as a region's creation
        -- writes it, neither slug nor name of its own.
        insert into public.organizations (id, slug, name, personal)
          values (p_org, 'org-' || p_org::text, 'org-' || p_org::text, false)
          on conflict (id) do nothing;
        insert into public.placement_moves (organization_id, id, from_kind, to_kind, database_key, requested_by, step,
            run_no)
          values (p_org, p_move, 'pooled', 'database', p_key, 'placement move', p_step, p_run);
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
      -- An aborted move's copy is gone (its rows deleted while aborting): its organization row's copy too.
      if p_step = 'aborted' then
        delete from public.organizations o where o.id = p_org and o.slug = 'org-' || p_org::text;
      end if;
      return p_step;
    end $$`.execute(db);

  await sql`create function app_priv_placement_xmove_hold(p_move uuid, p_on boolean) returns void
    ${sql.raw(DEFINER)} as $$
    declare v_org uuid;
    begin ${outside}
      select m.organization_id into v_org from public.placement_moves m where m.id = p_move and m.to_kind = 'database';
      if v_org is null then raise exception 'no placement move %', p_move using errcode = 'no_data_found'; end if;
      if p_on then
        perform pg_advisory_lock(public.app_placement_move_key(v_org));
      else
        perform pg_advisory_unlock(public.app_placement_move_key(v_org));
      end if;
    end $$`.execute(db);

  await sql`create function app_priv_placement_xmove_switch_target(p_move uuid, p_run integer, p_audit jsonb) returns void
    ${sql.raw(DEFINER)} as $$
    declare v_org uuid;
    begin ${outside}
      v_org := public.app_placement_xmove_check(p_move, null, array['switching'], 'target', p_run);
      if p_audit ->> 'action' is distinct from 'organization.placement_moved'
          or p_audit ->> 'target_id' is distinct from v_org::text then
        raise exception 'the switch records organization.placement_moved of its organization'
          using errcode = 'invalid_parameter_value';
      end if;
      update public.placement_moves x set step = 'cleaning', updated_at = now() where x.id = p_move;
      insert into audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type,
          actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
        values (v_org, (p_audit ->> 'id')::uuid, (p_audit ->> 'occurred_at')::timestamptz, p_audit ->> 'prefix',
          p_audit ->> 'suffix', p_audit ->> 'actor_type', p_audit ->> 'actor_id', p_audit ->> 'action',
          p_audit ->> 'target_type', p_audit ->> 'target_id', null, null, p_audit ->> 'request_id',
          nullif(p_audit -> 'changes', 'null'), nullif(p_audit -> 'metadata', 'null'));
    end $$`.execute(db);

  // The control database's COMMIT of this is the switch's decision (the tenant database's part is
  // prepared as p_gid): placement `database`, still `moving` until activate.
  // p_region: the region (REGIONS) whose database this is, or null: `organizations.region` says where the
  // organization's data lives from this commit on (regions are configuration, so the engine names it).
  await sql`create function app_priv_placement_xmove_switch(p_move uuid, p_gid text, p_region text, p_run integer)
    returns void ${sql.raw(DEFINER)} as $$
    declare m record;
    begin ${outside}
      select * into m from public.placement_moves x where x.id = p_move and x.to_kind = 'database' for update;
      if m.id is null then raise exception 'no placement move %', p_move using errcode = 'no_data_found'; end if;
      -- Only the live run decides (a newer run took the move's lease: this one is fenced off).
      if m.run_no is distinct from p_run then
        raise exception 'placement move %: run % is not its live run (%)', p_move, p_run, m.run_no
          using errcode = 'SRM02';
      end if;
      if m.step <> 'switching' then
        raise exception 'placement move % is %, not switching', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if not pg_try_advisory_xact_lock(public.app_placement_move_key(m.organization_id)) then
        raise exception 'the switch holds the move lock' using errcode = 'object_not_in_prerequisite_state';
      end if;
      update public.tenant_placements p set kind = 'database', database_key = m.database_key, state = 'moving',
          schema_version = null, updated_at = now()
        where p.organization_id = m.organization_id;
      update public.organizations o set region = p_region where o.id = m.organization_id;
      update public.placement_moves x set step = 'cleaning', switched_at = now(), error = null, updated_at = now(),
          progress = x.progress || jsonb_build_object('gid', p_gid),
          freeze_ms = ceil(extract(epoch from clock_timestamp() - now()) * 1000)::integer
        where x.id = p_move;
    end $$`.execute(db);

  await sql`create function app_priv_placement_xmove_activate(p_move uuid) returns void
    ${sql.raw(DEFINER)} as $$
    declare m record;
    begin ${outside}
      select * into m from public.placement_moves x where x.id = p_move and x.to_kind = 'database';
      if m.id is null or m.step not in ('cleaning', 'done') then
        raise exception 'placement move % has not switched', p_move using errcode = 'object_not_in_prerequisite_state';
      end if;
      update public.tenant_placements p set state = 'active', updated_at = now()
        where p.organization_id = m.organization_id and p.kind = 'database' and p.database_key = m.database_key;
    end $$`.execute(db);

  await sql`create function app_priv_placement_xmove_discard(p_move uuid, p_table text, p_limit integer)
    returns integer ${sql.raw(DEFINER)} as $$
    declare m record; v_n integer; v_placed text;
    begin ${outside}
      -- A placed table only (never a directory table: those rows stay), the move at cleaning.
      perform public.app_placement_xmove_check(p_move, p_table, array['cleaning'], 'source', null);
      select * into m from public.placement_moves x where x.id = p_move;
      select p.kind || ':' || p.database_key into v_placed from public.tenant_placements p
        where p.organization_id = m.organization_id;
      if v_placed is distinct from 'database:' || m.database_key then
        raise exception 'organization % is not placed in its move''s database', m.organization_id
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      perform set_config('app.placement_move', m.organization_id::text || '/public', true);
      execute format('delete from public.%I x where x.organization_id = $1 and (x.tableoid, x.ctid) in (
          select y.tableoid, y.ctid from public.%I y where y.organization_id = $1 limit $2)', p_table, p_table)
        using m.organization_id, least(greatest(coalesce(p_limit, 1000), 1), 10000);
      get diagnostics v_n = row_count;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);
}

/** Whether the organization has a move under way (a `placement_moves` row not done, aborted or failed,
 *  or a `moving` placement): its rows may be in two databases, and the router answers one of them. The
 *  deletion job waits for it (its purge would miss the other database's rows): the worker role's only. */
async function underWay(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`create function worker_api.app_priv_deletion_move_under_way(p_org uuid) returns boolean
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    begin
      return exists (select 1 from public.placement_moves m
                      where m.organization_id = p_org and m.step not in ('done', 'aborted', 'failed'))
          or exists (select 1 from public.tenant_placements p
                      where p.organization_id = p_org and p.state = 'moving');
    end $$`.execute(db);
  const fn = sql.raw('worker_api.app_priv_deletion_move_under_way(uuid)');
  await sql`alter function ${fn} owner to ${sql.id(ctx.roles.definer)}`.execute(db);
  await sql`revoke all on function ${fn} from public`.execute(db);
  await sql`grant execute on function ${fn} to ${sql.id(ctx.roles.worker)}`.execute(db);
}
