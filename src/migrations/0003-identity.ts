import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Identity: users and their credentials (global, user-scoped: no organization_id), memberships, custom
 * roles and invitations (tenant-scoped, forced RLS), and the privileged lookups identity needs.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`alter table organizations
    add column personal boolean not null default false,
    add column settings jsonb not null default '{}'::jsonb,
    add column require_two_factor boolean not null default false,
    add column deletion_requested_at timestamptz,
    add column suspended_at timestamptz,
    add column updated_at timestamptz not null default now()`.execute(db);

  // Global identity tables. They hold no tenant data; only the identity module touches them.
  await sql`create table users (
    id uuid primary key,
    email text not null,
    email_normalized text not null,
    password_hash text,
    email_verified_at timestamptz,
    totp_secret_enc text,
    totp_enabled_at timestamptz,
    last_organization_id uuid references organizations (id) on delete set null,
    is_platform_admin boolean not null default false,
    credentials_changed_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`create unique index users_email_key on users (email_normalized)`.execute(db);

  await sql`create table sessions (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    token_hash bytea not null,
    current_organization_id uuid references organizations (id) on delete set null,
    two_factor_verified boolean not null default false,
    user_agent text,
    ip text,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    idle_expires_at timestamptz not null,
    absolute_expires_at timestamptz not null,
    revoked_at timestamptz
  )`.execute(db);
  await sql`create unique index sessions_token_key on sessions (token_hash)`.execute(db);
  await sql`create index sessions_user_idx on sessions (user_id)`.execute(db);

  await sql`create table refresh_tokens (
    id uuid primary key,
    family_id uuid not null,
    user_id uuid not null references users (id) on delete cascade,
    -- the org claim of the tokens this refresh token mints (a user credential, not tenant data)
    current_organization_id uuid references organizations (id) on delete cascade,
    token_hash bytea not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null default now()
  )`.execute(db);
  await sql`create unique index refresh_tokens_token_key on refresh_tokens (token_hash)`.execute(db);
  await sql`create index refresh_tokens_family_idx on refresh_tokens (family_id)`.execute(db);

  await sql`create table email_tokens (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    purpose text not null check (purpose in ('verify_email', 'reset_password')),
    token_hash bytea not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now()
  )`.execute(db);
  await sql`create unique index email_tokens_token_key on email_tokens (token_hash)`.execute(db);

  await sql`create table recovery_codes (
    user_id uuid not null references users (id) on delete cascade,
    code_hash bytea not null,
    used_at timestamptz,
    primary key (user_id, code_hash)
  )`.execute(db);

  for (const t of ['users', 'sessions', 'refresh_tokens', 'email_tokens', 'recovery_codes']) {
    await sql`grant select, insert, update, delete on ${sql.id(t)} to ${runtime}`.execute(db);
  }

  // Tenant-scoped identity tables.
  await createTenantTable(db, ctx, {
    name: 'memberships',
    columns: `user_id uuid not null references users (id) on delete cascade,
      role text not null,
      status text not null check (status in ('pending', 'active')),
      permissions_version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()`,
    primaryKey: ['user_id'],
  });
  await sql`create index memberships_user_idx on memberships (user_id)`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'roles',
    columns: `key text not null check (key ~ '^[a-z][a-z0-9_]{1,39}$'),
      name text not null,
      permissions text[] not null,
      created_at timestamptz not null default now()`,
    primaryKey: ['key'],
  });

  await createTenantTable(db, ctx, {
    name: 'invitations',
    columns: `id uuid not null,
      email_normalized text not null,
      role text not null,
      token_hash bytea not null,
      status text not null check (status in ('pending', 'accepted', 'revoked')),
      invited_by uuid references users (id) on delete set null,
      expires_at timestamptz not null,
      accepted_at timestamptz,
      created_at timestamptz not null default now()`,
    primaryKey: ['id'],
  });
  await sql`create unique index invitations_token_key on invitations (token_hash)`.execute(db);
  await sql`create unique index invitations_pending_email_key on invitations (organization_id, email_normalized)
    where status = 'pending'`.execute(db);

  // Named privileged lookups for identity (see src/platform/tenancy/privileged.ts).
  await sql`grant select on memberships, invitations to ${definer}`.execute(db);
  await sql`create function app_priv_user_organizations(p_user uuid)
    returns table (organization_id uuid, slug text, name text, role text, personal boolean)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select o.id, o.slug, o.name, m.role, o.personal
          from public.memberships m join public.organizations o on o.id = m.organization_id
          where m.user_id = p_user and m.status = 'active' and o.deletion_requested_at is null
          order by o.name, o.id $$`.execute(db);
  await sql`create function app_priv_invitation_by_token(p_hash bytea)
    returns table (organization_id uuid, invitation_id uuid)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select i.organization_id, i.id from public.invitations i where i.token_hash = p_hash $$`.execute(
    db,
  );
  for (const fn of ['app_priv_user_organizations(uuid)', 'app_priv_invitation_by_token(bytea)']) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  }
}
