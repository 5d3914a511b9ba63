import { sql, type Kysely } from 'kysely';
import {
  createTenantTable,
  enableTenantRls,
  type MigrationContext,
} from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * SCIM 2.0 directory sync (src/modules/scim, docs/scim.md).
 *
 * - `scim_tokens` (tenant): an organization's SCIM bearer tokens: public token id, who created it, when,
 *   when revoked. The secret is never stored; its SHA-256 lives only in the lookup below.
 * - `scim_token_lookup` (GLOBAL LOOKUP, like 0047's): token id -> organization, token row and the SHA-256 of
 *   the secret, read by `app_priv_scim_token` before any tenant is known. A token is valid exactly while its
 *   lookup row exists: revocation deletes it in the transaction that marks the token revoked (the runtime
 *   role has SELECT, INSERT and DELETE on its own organization's rows, no UPDATE).
 * - `scim_users` (tenant): the directory's view of a member: externalId, userName, name, emails, active,
 *   a version for ETags; keyed by (organization_id, user_id).
 * - `scim_groups`, `scim_group_members` (tenant): directory groups, their members and an optional role.
 * - `scim_events` (tenant, append-only): the sync log, one row per SCIM request.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await createTenantTable(db, ctx, {
    name: 'scim_tokens',
    columns: `id uuid not null,
      token_id text not null check (token_id ~ '^[0-9a-f]{16}$'),
      created_by_user_id uuid,
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      last_used_at timestamptz`,
    primaryKey: ['id'],
  });
  await sql`create unique index scim_tokens_token_id_key on scim_tokens (organization_id, token_id)`.execute(
    db,
  );

  await sql`create table scim_token_lookup (
    token_id text primary key check (token_id ~ '^[0-9a-f]{16}$'),
    organization_id uuid not null references organizations (id) on delete cascade,
    scim_token_id uuid not null,
    secret_hash bytea not null check (octet_length(secret_hash) = 32)
  )`.execute(db);
  await sql`create unique index scim_token_lookup_organization
    on scim_token_lookup (organization_id, scim_token_id)`.execute(db);
  await enableTenantRls(db, ctx, 'scim_token_lookup');
  await sql`grant select, delete on scim_token_lookup to ${definer}`.execute(db);
  await sql`grant select, insert, delete on scim_token_lookup to ${runtime}`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'scim_users',
    columns: `user_id uuid not null references users (id) on delete cascade,
      user_name text not null check (char_length(user_name) between 1 and 320),
      external_id text check (char_length(external_id) <= 512),
      given_name text check (char_length(given_name) <= 200),
      family_name text check (char_length(family_name) <= 200),
      display_name text check (char_length(display_name) <= 400),
      emails jsonb not null default '[]',
      active boolean not null default true,
      version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()`,
    primaryKey: ['user_id'],
  });
  await sql`create unique index scim_users_user_name_key
    on scim_users (organization_id, lower(user_name))`.execute(db);
  await sql`create index scim_users_external_id on scim_users (organization_id, external_id)`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'scim_groups',
    columns: `id uuid not null,
      display_name text not null check (char_length(display_name) between 1 and 400),
      external_id text check (char_length(external_id) <= 512),
      role text check (char_length(role) <= 64),
      version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()`,
    primaryKey: ['id'],
  });
  await sql`create unique index scim_groups_display_name_key
    on scim_groups (organization_id, lower(display_name))`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'scim_group_members',
    columns: `group_id uuid not null,
      user_id uuid not null,
      foreign key (organization_id, group_id) references scim_groups (organization_id, id) on delete cascade,
      foreign key (organization_id, user_id) references scim_users (organization_id, user_id) on delete cascade`,
    primaryKey: ['group_id', 'user_id'],
  });
  await sql`create index scim_group_members_user on scim_group_members (organization_id, user_id)`.execute(
    db,
  );

  await createTenantTable(db, ctx, {
    name: 'scim_events',
    columns: `id uuid not null,
      at timestamptz not null default now(),
      method text not null check (char_length(method) <= 10),
      resource text not null check (char_length(resource) <= 40),
      resource_id text check (char_length(resource_id) <= 100),
      status integer not null,
      outcome text not null check (char_length(outcome) <= 200)`,
    primaryKey: ['id'],
    appendOnly: true,
  });

  // The SCIM token of a request, before any tenant is known: the organization and token row whose lookup
  // row has this token id AND this secret hash; nothing otherwise (unknown id, wrong secret, revoked).
  await sql`create function app_priv_scim_token(p_token_id text, p_secret_hash bytea)
    returns table (organization_id uuid, scim_token_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the SCIM token lookup'))}
      return query select l.organization_id, l.scim_token_id from public.scim_token_lookup l
        where l.token_id = p_token_id and l.secret_hash = p_secret_hash;
    end $$`.execute(db);
  await sql`alter function app_priv_scim_token(text, bytea) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_priv_scim_token(text, bytea) from public`.execute(db);
  await sql`grant execute on function app_priv_scim_token(text, bytea) to ${runtime}`.execute(db);
}
