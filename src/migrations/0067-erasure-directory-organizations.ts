import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Erasure of a user (docs/erasure.md) reaches the SCIM directory records of organizations the user is not
 * a member of. A directory can hold a record of a person without a membership (created `active: false`,
 * linked to an existing account, or deprovisioned with `active: false`, which keeps the record so that
 * `active: true` restores it); erasure found organizations only through memberships and left those records,
 * with the person's address and names, served by the organization's SCIM API.
 *
 * `app_priv_erasure_directory_organizations(session token, user, refresh family)`: the ids of the
 * organizations holding a `scim_users` row of that user, wherever the organization is placed (`public`,
 * then each schema of `app_placement_schemas()`, as the cross-tenant scans of 0039 do, `pg_temp` last as
 * 0046 requires), and nothing else
 * (no record, no name: erasure then deletes each record in that organization's own scope). Only in one of
 * the two erasure contexts, outside any tenant scope:
 * - the self path: a live credential of that user, proven exactly as `app_priv_user_organizations` proves
 *   it (the RAW session token, whose user must be `p_user`; or a live refresh-token family of `p_user`);
 * - the platform path: the platform scope of a platform administrator's live session (`app.platform_session`,
 *   the check of `app_platform_user_memberships`).
 * Otherwise it raises `insufficient_privilege`. VOLATILE: `app_placement_schemas()` takes the move locks of
 * moving organizations. Owned by the definer (BYPASSRLS, SELECT on every placed table), EXECUTE for the
 * runtime role only.
 *
 * `scim_users (user_id)`: that lookup reads one user's rows of every organization; without the index it
 * would read every record of every schema (as `memberships (user_id)` serves a user's organization list).
 * Schema placements get it from public's catalog at their next synchronization.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`create index scim_users_user_idx on scim_users (user_id)`.execute(db);

  await sql`create function app_priv_erasure_directory_organizations(p_session_token text, p_user uuid,
      p_refresh_family uuid)
    returns table (organization_id uuid)
    language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_token text; v_user uuid; v_schema text; v_found uuid[] := '{}';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the erasure directory lookup'))}
      v_token := nullif(current_setting('app.platform_session', true), '');
      if p_user is null then
        v_user := null;
      elsif v_token is not null and exists (
          select 1 from public.sessions s join public.users u on u.id = s.user_id
           where s.token_hash = sha256(convert_to(v_token, 'UTF8'))
             and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()
             and u.is_platform_admin and (u.totp_enabled_at is null or s.two_factor_verified)) then
        v_user := p_user;
      elsif p_session_token is not null then
        select s.user_id into v_user from public.sessions s
          where s.token_hash = sha256(convert_to(p_session_token, 'UTF8'))
            and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now();
        if v_user is distinct from p_user then
          v_user := null;
        end if;
      elsif p_refresh_family is not null and exists (
          select 1 from public.refresh_tokens r where r.family_id = p_refresh_family and r.user_id = p_user
            and r.used_at is null and r.revoked_at is null and r.expires_at > now()) then
        v_user := p_user;
      end if;
      if v_user is null then
        raise exception 'the erasure directory lookup needs a live credential of that user or the platform scope of a platform administrator''s live session'
          using errcode = 'insufficient_privilege';
      end if;
      for v_schema in select public.app_placement_schemas() loop
        -- pg_temp last (0046): no temporary table of the caller's stands in for scim_users.
        perform set_config('search_path', 'pg_catalog, ' || quote_ident(v_schema) || ', public, pg_temp', true);
        v_found := v_found || array(select s.organization_id from scim_users s where s.user_id = v_user);
      end loop;
      -- A moving organization's rows may be on both sides: each organization once.
      return query select distinct f from unnest(v_found) f order by 1;
    end $$`.execute(db);
  await sql`alter function app_priv_erasure_directory_organizations(text, uuid, uuid) owner to ${definer}`.execute(
    db,
  );
  await sql`revoke all on function app_priv_erasure_directory_organizations(text, uuid, uuid) from public`.execute(
    db,
  );
  await sql`grant execute on function app_priv_erasure_directory_organizations(text, uuid, uuid)
    to ${runtime}`.execute(db);
}
