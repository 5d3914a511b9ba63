import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { PLATFORM_SCOPE } from './sql-helpers.js';

/**
 * The platform organization list did not say where each organization is placed: the console guessed it
 * from the organization's latest placement move, which is wrong for an organization placed without a move
 * (or whose moves were purged) and for a `database` placement, which no move makes.
 * `app_priv_platform_placements(ids)` answers the placement of each organization named (at most 200, a
 * page of the list), as `tenant_placements` records it: the kind, the schema for a `schema` placement
 * (derived by `app_tenant_schema_name`, never stored), the database key for a `database` placement, and
 * the state (`moving` while an online move runs). An organization without a row is `pooled` and `active`.
 * One row per distinct id named, in no particular order. Guarded like the other platform functions (the
 * platform scope of a platform administrator's live session) and plannable on Citus: `tenant_placements`
 * (distributed) is read with `organization_id = any (ids)` alone, and the defaults are filled in from the
 * ids array, never by joining it. `app_priv_platform_organizations` is unchanged: the list reads the page
 * first, then its placements, in the same platform scope.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  await sql`create function app_priv_platform_placements(p_ids uuid[])
    returns table (organization_id uuid, kind text, schema_name text, database_key text, state text)
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_token text; v_actor uuid; v_ids uuid[]; v_found uuid[]; v_kinds text[]; v_keys text[];
      v_states text[];
    begin ${sql.raw(PLATFORM_SCOPE('the platform placement list'))}
      v_ids := array(select distinct x from unnest(coalesce(p_ids, '{}')) x where x is not null);
      if cardinality(v_ids) > 200 then
        raise exception 'the placement list takes at most 200 organizations' using errcode = 'invalid_parameter_value';
      end if;
      select coalesce(array_agg(p.organization_id), '{}'), coalesce(array_agg(p.kind), '{}'),
             coalesce(array_agg(p.database_key), '{}'), coalesce(array_agg(p.state), '{}')
        into v_found, v_kinds, v_keys, v_states
        from public.tenant_placements p where p.organization_id = any (v_ids);
      return query select i.id, k.kind,
                 case k.kind when 'schema' then public.app_tenant_schema_name(i.id) end,
                 case k.kind when 'database' then v_keys[array_position(v_found, i.id)] end,
                 coalesce(v_states[array_position(v_found, i.id)], 'active')
          from unnest(v_ids) as i(id),
               lateral (select coalesce(v_kinds[array_position(v_found, i.id)], 'pooled') as kind) k;
    end $$`.execute(db);
  await sql`alter function app_priv_platform_placements(uuid[]) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_priv_platform_placements(uuid[]) from public`.execute(db);
  await sql`grant execute on function app_priv_platform_placements(uuid[]) to ${runtime}`.execute(db);
}
