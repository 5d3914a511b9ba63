import { sql, type Kysely } from 'kysely';

/**
 * Migration 0050's move locks for the definer's own paths (not a migration itself: src/migrations/index.ts
 * lists them). Requests of a moving organization take its move lock SHARED in `app_enter_moving_tenant`;
 * the worker's functions writing per organization (retention, usage, audit sealing, the period close...)
 * and the tenant-scope definer functions of an instance that has not re-read the placement yet did not:
 * one of their writes committed after the freeze's catch-up had read the source was left there. Both
 * resolve an organization's tables through these two helpers, so these now take the move lock first:
 *
 * - `app_placement_search_path(org)`: when the organization is moving, its move lock SHARED, THEN its
 *   placement read: a transaction that waited out the switch writes to the new placement, one that got the
 *   lock first holds the switch off until it ends (and its writes are in the freeze's catch-up).
 * - `app_placement_schemas()` (a cross-tenant scan's schemas): the move lock of every moving organization
 *   SHARED (in organization order, so two scans never deadlock on them), THEN the schemas read.
 *
 * Both become VOLATILE PL/pgSQL: a statement after the lock must read the placement as committed after
 * it, which a STABLE function (the caller's snapshot) would not. Restated in full from 0046 (the path ends
 * in `pg_temp`, see there); `create or replace` keeps owners and grants (the definer's helpers only).
 * Within the switch's own transaction they take nothing new (a backend's locks never conflict with its own).
 */
export async function moveLocks(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_placement_search_path(p_org uuid) returns text
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    begin
      if exists (select 1 from public.tenant_placements p where p.organization_id = p_org and p.state = 'moving') then
        perform pg_advisory_xact_lock_shared(public.app_placement_move_key(p_org));
      end if;
      return 'pg_catalog, ' || coalesce((
          select quote_ident(public.app_tenant_schema_name(p.organization_id)) || ', '
            from public.tenant_placements p where p.organization_id = p_org and p.kind = 'schema'), '')
        || 'public, pg_temp';
    end $$`.execute(db);
  await sql`create or replace function app_placement_schemas() returns setof text
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    begin
      perform pg_advisory_xact_lock_shared(public.app_placement_move_key(p.organization_id))
        from public.tenant_placements p where p.state = 'moving' order by p.organization_id;
      return query select 'public'::text union all (
        select s from (select public.app_tenant_schema_name(p.organization_id) as s
                         from public.tenant_placements p where p.kind = 'schema') x
         where exists (select 1 from pg_namespace n where n.nspname = x.s) order by 1);
    end $$`.execute(db);
}
