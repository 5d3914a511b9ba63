import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

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

/**
 * The platform administrators' organization list gains a search and the targeting fields (issue 9, the
 * console's platform screen): `p_q` keeps the organizations whose name or slug contains it, ignoring case
 * (a plain substring: `strpos`, so `%` and `_` are not wildcards), at most 100 characters; `plan` and
 * `attributes` are what the screen edits. The keyset (`id` descending) is unchanged, so a cursor taken
 * from a filtered page continues the same filtered list. Same contract as before: only in the platform
 * scope of a platform administrator's live session.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`drop function app_priv_platform_organizations(uuid, integer)`.execute(db);
  await sql`create function app_priv_platform_organizations(p_after uuid, p_limit integer, p_q text)
    returns table (id uuid, slug text, name text, personal boolean, created_at timestamptz,
                   suspended_at timestamptz, deletion_requested_at timestamptz, members bigint,
                   plan text, attributes jsonb)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid; v_q text;
    begin ${sql.raw(PLATFORM_SCOPE('the platform organization list'))}
      if length(p_q) > 100 then
        raise exception 'the organization search is at most 100 characters' using errcode = 'invalid_parameter_value';
      end if;
      v_q := lower(nullif(p_q, ''));
      return query select o.id, o.slug, o.name, o.personal, o.created_at, o.suspended_at,
                 o.deletion_requested_at,
                 (select count(*) from public.memberships m where m.organization_id = o.id and m.status = 'active'),
                 o.plan, o.attributes
          from public.organizations o
          where (p_after is null or o.id < p_after)
            and (v_q is null or strpos(lower(o.name), v_q) > 0 or strpos(lower(o.slug), v_q) > 0)
          order by o.id desc limit least(greatest(p_limit, 1), 200);
    end $$`.execute(db);
  await sql`alter function app_priv_platform_organizations(uuid, integer, text) owner to ${definer}`.execute(
    db,
  );
  await sql`revoke all on function app_priv_platform_organizations(uuid, integer, text) from public`.execute(
    db,
  );
  await sql`grant execute on function app_priv_platform_organizations(uuid, integer, text) to ${runtime}`.execute(
    db,
  );
}
