import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Organization API keys (tenant-scoped, forced RLS) and the one named privileged lookup authentication
 * needs: the key's organization is not known until the key is found by its public id.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await createTenantTable(db, ctx, {
    name: 'api_keys',
    columns: `id uuid not null,
      key_id text not null check (key_id ~ '^[0-9a-f]{16}$'),
      name text not null check (char_length(name) between 1 and 200),
      scopes text[] not null,
      secret_hash bytea not null check (octet_length(secret_hash) = 32),
      created_by_user_id uuid references users (id) on delete set null,
      created_by_key_id uuid,
      rate_limit_per_minute integer check (rate_limit_per_minute > 0),
      created_at timestamptz not null default now(),
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz`,
    primaryKey: ['id'],
  });
  // The public key id is looked up before the tenant is known: unique across every organization.
  await sql`create unique index api_keys_key_id_key on api_keys (key_id)`.execute(db);

  await sql`grant select on api_keys to ${definer}`.execute(db);
  await sql`create function app_priv_api_key_by_key_id(p_key_id text)
    returns table (organization_id uuid, id uuid, secret_hash bytea, scopes text[], expires_at timestamptz,
                   revoked_at timestamptz, rate_limit_per_minute integer)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select k.organization_id, k.id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at,
                 k.rate_limit_per_minute
          from public.api_keys k where k.key_id = p_key_id $$`.execute(db);
  await sql`alter function app_priv_api_key_by_key_id(text) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_priv_api_key_by_key_id(text) from public`.execute(db);
  await sql`grant execute on function app_priv_api_key_by_key_id(text) to ${runtime}`.execute(db);
}
