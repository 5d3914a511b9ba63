import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** Platform administration: one named privileged read of the tenant list; identity lookup indexes. */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`create index refresh_tokens_user_idx on refresh_tokens (user_id)`.execute(db);
  await sql`create index email_tokens_user_idx on email_tokens (user_id)`.execute(db);
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  // A tenant scope may record its placement when the organization is created, never move itself.
  await sql`revoke update, delete on tenant_placements from ${runtime}`.execute(db);
  await sql`create function app_priv_platform_organizations(p_after uuid, p_limit integer)
    returns table (id uuid, slug text, name text, personal boolean, created_at timestamptz,
                   suspended_at timestamptz, deletion_requested_at timestamptz, members bigint)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select o.id, o.slug, o.name, o.personal, o.created_at, o.suspended_at, o.deletion_requested_at,
                 (select count(*) from public.memberships m where m.organization_id = o.id and m.status = 'active')
          from public.organizations o
          where p_after is null or o.id < p_after
          order by o.id desc limit least(greatest(p_limit, 1), 200) $$`.execute(db);
  await sql`alter function app_priv_platform_organizations(uuid, integer) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_priv_platform_organizations(uuid, integer) from public`.execute(db);
  await sql`grant execute on function app_priv_platform_organizations(uuid, integer) to ${runtime}`.execute(
    db,
  );
}
