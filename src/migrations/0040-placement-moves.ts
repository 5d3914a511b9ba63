import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { MOVE_FUNCTIONS, moveFunctions } from './0040-placement-moves-functions.js';

/**
 * Issue 13, online moves of an organization between the pooled schema and its own schema of the control
 * database (docs/isolation-models.md, "Online moves"; the engine: src/modules/tenant-placement/).
 *
 * - `placement_moves` (a DIRECTORY table: read by the engine whatever the placement): one row per move,
 *   its step (`preparing` → `copying` → `switching` → `cleaning` → `done`, or `aborting` → `aborted`),
 *   per-table progress, counts and checksums, the freeze's duration, the last error.
 * - `app_placement_move_key(org)`: the advisory lock key of an organization's move. Requests of a moving
 *   organization take it SHARED (`app_enter_moving_tenant`), the switch EXCLUSIVE.
 * - `app_enter_moving_tenant(org, read_only)`: the prelude of a moving organization's transactions
 *   (INVOKER, runtime EXECUTE, no SET clause so its settings stay): tenant, shared lock, THEN the
 *   placement read and the search path, so a transaction that waited out the switch runs on the new one.
 * - `app_priv_placement_move_*`: the move's data path, SECURITY DEFINER, EXECUTE for the OWNER role only
 *   (the role that also runs the schema's DDL). Each derives the source and target schemas from the
 *   move's record, never from its caller, and writes only the moving organization's rows.
 * - The guards of append-only tables (audit, invoices) let the definer delete (and for invoices update)
 *   the moving organization's rows in the schema NOT holding its placement, named in the
 *   transaction-local `app.placement_move` those functions set: the organization purge's kind of escape.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const owner = sql.id(ctx.roles.owner);
  const runtime = sql.id(ctx.roles.runtime);
  const definerLit = sql.lit(ctx.roles.definer);

  await createTenantTable(db, ctx, {
    name: 'placement_moves',
    columns: `id uuid not null,
      from_kind text not null check (from_kind in ('pooled', 'schema')),
      to_kind text not null check (to_kind in ('pooled', 'schema')),
      step text not null default 'preparing' check (step in
        ('preparing', 'copying', 'switching', 'cleaning', 'done', 'aborting', 'aborted', 'failed')),
      requested_by text not null,
      copy_xmin xid8,
      progress jsonb not null default '{}',
      counts jsonb,
      freeze_ms integer,
      error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      switched_at timestamptz,
      finished_at timestamptz`,
    primaryKey: ['id'],
  });
  // One move at a time per organization.
  await sql`create unique index placement_moves_one_active on placement_moves (organization_id)
    where step not in ('done', 'aborted', 'failed')`.execute(db);
  // The runtime role reads moves (its own organization's, RLS); the definer functions write them.
  await sql`revoke insert, update, delete on placement_moves from ${runtime}`.execute(db);

  // The definer copies rows with their exact values (usage_events.xid, which the runtime role may not
  // set; generated ids): INSERT and UPDATE on every placed table, replicated to each organization's
  // schema by its synchronization (the ACL of public's table).
  await sql`do $$ declare r record; begin
    for r in select c.oid::regclass::text as t from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
          and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'organization_id')
          and c.relname not in ('organizations', 'memberships', 'invitations', 'api_keys', 'tenant_placements',
                                'stripe_customers', 'placement_moves') loop
      execute format('grant insert, update on %s to %I', r.t, ${definerLit}::text);
    end loop;
  end $$`.execute(db);

  await sql`create function app_placement_move_key(p_org uuid) returns bigint
    language sql immutable strict parallel safe set search_path = pg_catalog
    as $$ select hashtextextended('placement-move:' || p_org::text, 0) $$`.execute(db);
  await sql`revoke all on function app_placement_move_key(uuid) from public`.execute(db);
  await sql`grant execute on function app_placement_move_key(uuid) to ${runtime}, ${definer}`.execute(db);

  // No SET clause: the settings it makes are the transaction's. Qualified names only (it runs with the
  // caller's search path, which it changes).
  await sql`create function app_enter_moving_tenant(p_org uuid, p_read_only boolean) returns void
    language plpgsql volatile as $$
    declare v_kind text;
    begin
      perform pg_catalog.set_config('app.tenant_id', p_org::text, true);
      perform pg_catalog.pg_advisory_xact_lock_shared(public.app_placement_move_key(p_org));
      select p.kind into v_kind from public.tenant_placements p where p.organization_id = p_org;
      if v_kind = 'schema' then
        perform pg_catalog.set_config('search_path',
          pg_catalog.quote_ident('t_' || pg_catalog.replace(p_org::text, '-', '')) || ', public, pg_temp', true);
      end if;
      if p_read_only then
        perform pg_catalog.set_config('transaction_read_only', 'on', true);
      end if;
    end $$`.execute(db);
  await sql`revoke all on function app_enter_moving_tenant(uuid, boolean) from public`.execute(db);
  await sql`grant execute on function app_enter_moving_tenant(uuid, boolean) to ${runtime}`.execute(db);

  await guards(db, definerLit);
  await moveFunctions(db);

  for (const fn of MOVE_FUNCTIONS) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    if (fn.startsWith('app_priv_')) {
      await sql`grant execute on function ${sql.raw(fn)} to ${owner}`.execute(db);
    }
  }
  await sql`grant select, insert, update on placement_moves to ${definer}`.execute(db);
  await sql`grant select, insert, update on tenant_placements to ${definer}`.execute(db);
}

/** The append-only guards, each as its latest migration left it, plus the move's escape. */
async function guards(db: Kysely<unknown>, definerLit: ReturnType<typeof sql.lit>): Promise<void> {
  await sql`create or replace function app_audit_refuse_change() returns trigger language plpgsql as $$
    declare v_cut text;
    begin
      if tg_op = 'DELETE' and pg_trigger_depth() > 1 then return old; end if;
      if tg_op = 'DELETE' and tg_table_name <> 'platform_audit_events' and current_user = ${definerLit} then
        if current_setting('app.purging_organization', true) is not null then
          if old.organization_id::text = current_setting('app.purging_organization', true) then
            return old;
          end if;
        end if;
        -- An online move (migration 0040): the organization's rows in the schema not holding its placement.
        if old.organization_id::text || '/' || tg_table_schema = current_setting('app.placement_move', true) then
          return old;
        end if;
        -- worker_api.app_retention_purge_audit: the events up to the cut, the checkpoints below it.
        v_cut := nullif(current_setting('app.audit_retention_cut', true), '');
        if v_cut is not null and old.organization_id::text = split_part(v_cut, '/', 1) then
          if tg_table_name = 'audit_events' and old.seq <= split_part(v_cut, '/', 2)::bigint then
            return old;
          end if;
          if tg_table_name = 'audit_checkpoints' and old.seq < split_part(v_cut, '/', 2)::bigint then
            return old;
          end if;
        end if;
      end if;
      raise exception 'audit records are append-only: % on % refused', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`create or replace function app_invoice_guard() returns trigger language plpgsql
    set search_path = pg_catalog, public as $$
    begin
      -- An online move (migration 0040): the organization's rows in the schema not holding its placement.
      if tg_op in ('DELETE', 'UPDATE') and current_user = ${definerLit}
          and old.organization_id::text || '/' || tg_table_schema = current_setting('app.placement_move', true) then
        return case when tg_op = 'DELETE' then old else new end;
      end if;
      if tg_op = 'DELETE' then
        if old.status = 'draft' then
          return old;
        end if;
        if current_user = ${definerLit}
            and old.organization_id::text = current_setting('app.purging_organization', true) then
          return old;
        end if;
        raise exception 'invoice % is % and cannot be deleted: refused', old.id, old.status
          using errcode = 'insufficient_privilege';
      end if;
      if old.status = 'draft' then
        if new.status = 'draft' or (new.status = 'finalized' and current_user = ${definerLit}) then
          return new;
        end if;
      elsif old.status = 'finalized' and new.status = 'void'
          and (new.organization_id, new.id, new.number, new.currency, new.period_start, new.period_end,
               new.subtotal, new.total, new.lines, new.minor_units, new.customer_name, new.issuer,
               new.created_at, new.finalized_at)
          is not distinct from
              (old.organization_id, old.id, old.number, old.currency, old.period_start, old.period_end,
               old.subtotal, old.total, old.lines, old.minor_units, old.customer_name, old.issuer,
               old.created_at, old.finalized_at) then
        return new;
      end if;
      raise exception 'invoice % is % and immutable: refused', old.id, old.status
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
}
