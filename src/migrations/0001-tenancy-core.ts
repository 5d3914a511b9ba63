import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** Tenancy core: the tenant function, organizations, placements, idempotency keys, named privileged paths. */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  // The one function every policy compares with. STABLE and inlinable; nullif makes an unset or
  // reset setting ('' after a transaction-local value ends) mean "no tenant" instead of a cast error.
  await sql`create function app_current_tenant() returns uuid language sql stable parallel safe
    as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$`.execute(db);

  await sql`grant select on kysely_migration, kysely_migration_lock to ${runtime}`.execute(db);

  await sql`create table organizations (
    id uuid primary key,
    slug text not null,
    name text not null,
    created_at timestamptz not null default now(),
    constraint organizations_slug_format check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$')
  )`.execute(db);
  await sql`create unique index organizations_slug_key on organizations (slug)`.execute(db);
  // The organization row is its own tenant: visible and writable only inside its own scope.
  await sql`alter table organizations enable row level security`.execute(db);
  await sql`alter table organizations force row level security`.execute(db);
  await sql`create policy tenant_isolation on organizations as permissive for all to ${runtime}
    using (id = app_current_tenant()) with check (id = app_current_tenant())`.execute(db);
  await sql`grant select, insert, update on organizations to ${runtime}`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'tenant_placements',
    columns: `kind text not null default 'pooled' check (kind in ('pooled', 'schema', 'database')),
      database_key text,
      updated_at timestamptz not null default now(),
      check ((kind = 'database') = (database_key is not null))`,
    primaryKey: [],
  });

  await createTenantTable(db, ctx, {
    name: 'idempotency_keys',
    columns: `scope text not null,
      key text not null,
      request_hash text not null,
      response jsonb not null,
      created_at timestamptz not null default now()`,
    primaryKey: ['scope', 'key'],
  });

  // Named privileged paths: SECURITY DEFINER functions owned by the NOLOGIN BYPASSRLS definer role,
  // each answering one narrow question across tenants. EXECUTE goes to the runtime role only.
  await sql`grant select on organizations to ${definer}`.execute(db);
  await sql`create function app_priv_organization_id_by_slug(p_slug text) returns uuid
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select id from public.organizations where slug = lower(p_slug) $$`.execute(db);
  await sql`create function app_priv_list_organization_ids(p_after uuid, p_limit integer)
    returns table (id uuid)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select o.id from public.organizations o
          where p_after is null or o.id > p_after
          order by o.id limit least(greatest(p_limit, 1), 1000) $$`.execute(db);
  for (const fn of [
    'app_priv_organization_id_by_slug(text)',
    'app_priv_list_organization_ids(uuid, integer)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  }
}
