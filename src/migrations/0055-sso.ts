import { sql, type Kysely } from 'kysely';
import {
  createTenantTable,
  enableTenantRls,
  type MigrationContext,
} from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Single sign-on (docs/sso.md): per-organization OIDC and SAML connections, verified domains, the
 * identities an IdP asserted, and the pending SP-initiated sign-ins.
 *
 * - `sso_connections` (tenant): one IdP of an organization. The OIDC client secret is SEALED with the
 *   organization's data key (`sealForTenant`, binding `sso_connections.oidc_client_secret`, row id =
 *   connection id), like webhook secrets.
 * - `sso_connection_lookup` (global lookup, like 0047's): connection id -> organization, so a callback that
 *   names only the connection finds its organization through `app_priv_sso_connection_for_sign_in`.
 * - `organization_domains` (tenant) and `verified_domain_lookup` (global lookup, primary key the domain):
 *   ONE organization only holds a verified domain. The runtime role writes the lookup row in the same
 *   transaction as the verification and deletes its own organization's row when the domain is lost or removed.
 * - `sso_identities` (tenant): (connection, IdP subject) -> user.
 * - `sso_flows` (global, no organization_id: a short-lived single-use credential like email_tokens): the
 *   state of a pending SP-initiated sign-in, keyed by the hash of the state; consumed by one DELETE ... RETURNING.
 * - `sessions.sso_connection_id`: the connection that signed the session in (revoked with the connection).
 * - `organizations.require_sso`: members (not owners) of the organization sign in through its IdP.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const own = async (fn: string) => {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  };

  await sql`alter table organizations add column require_sso boolean not null default false`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'sso_connections',
    columns: `id uuid not null,
      kind text not null check (kind in ('oidc', 'saml')),
      name text not null check (char_length(name) between 1 and 200),
      status text not null default 'active' check (status in ('active', 'inactive')),
      default_role text not null default 'member',
      role_mappings jsonb not null default '[]'::jsonb check (jsonb_typeof(role_mappings) = 'array'),
      oidc_issuer text,
      oidc_client_id text,
      oidc_client_secret text,
      oidc_scopes text[] not null default '{openid,email,profile}',
      oidc_groups_claim text,
      oidc_trust_email boolean not null default false,
      saml_idp_metadata_xml text,
      saml_idp_metadata_url text,
      saml_idp_entity_id text,
      saml_idp_sso_url text,
      saml_idp_certificates text[] not null default '{}',
      saml_want_assertions_signed boolean not null default true,
      saml_want_response_signed boolean not null default false,
      saml_allow_idp_initiated boolean not null default false,
      saml_groups_attribute text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check (kind <> 'oidc' or (oidc_issuer is not null and oidc_client_id is not null))`,
    primaryKey: ['id'],
  });

  await sql`create table sso_connection_lookup (
    connection_id uuid primary key,
    organization_id uuid not null references organizations (id) on delete cascade
  )`.execute(db);
  await sql`create unique index sso_connection_lookup_organization
    on sso_connection_lookup (organization_id, connection_id)`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'organization_domains',
    columns: `domain text not null check (domain = lower(domain) and char_length(domain) between 3 and 253),
      verification_token text not null,
      status text not null default 'pending' check (status in ('pending', 'verified')),
      verified_at timestamptz,
      last_checked_at timestamptz,
      failed_checks integer not null default 0,
      created_at timestamptz not null default now()`,
    primaryKey: ['domain'],
  });

  await sql`create table verified_domain_lookup (
    domain text primary key check (domain = lower(domain)),
    organization_id uuid not null references organizations (id) on delete cascade
  )`.execute(db);
  await sql`create index verified_domain_lookup_organization on verified_domain_lookup (organization_id, domain)`.execute(
    db,
  );

  for (const t of ['sso_connection_lookup', 'verified_domain_lookup']) {
    await enableTenantRls(db, ctx, t);
    await sql`grant select, insert, delete on ${sql.id(t)} to ${runtime}`.execute(db);
    await sql`grant select, delete on ${sql.id(t)} to ${definer}`.execute(db);
  }

  await createTenantTable(db, ctx, {
    name: 'sso_identities',
    columns: `connection_id uuid not null,
      subject text not null check (char_length(subject) between 1 and 1000),
      user_id uuid not null references users (id) on delete cascade,
      created_at timestamptz not null default now(),
      last_sign_in_at timestamptz not null default now()`,
    primaryKey: ['connection_id', 'subject'],
  });
  await sql`create index sso_identities_user on sso_identities (organization_id, user_id)`.execute(db);

  await sql`create table sso_flows (
    state_hash bytea primary key check (octet_length(state_hash) = 32),
    connection_id uuid not null,
    nonce text not null,
    code_verifier text,
    return_to text not null,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index sso_flows_expiry on sso_flows (expires_at)`.execute(db);
  await sql`grant select, insert, delete on sso_flows to ${runtime}`.execute(db);

  await sql`alter table sessions add column sso_connection_id uuid`.execute(db);
  await sql`create index sessions_sso_connection on sessions (sso_connection_id) where sso_connection_id is not null`.execute(
    db,
  );

  // The connection as loaded for a sign-in, before any tenant is known: from the lookup, then the tenant row
  // read with the lookup's organization (a stale lookup row finds nothing).
  await sql`create function app_priv_sso_connection_for_sign_in(p_connection uuid)
    returns setof public.sso_connections
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the SSO connection lookup'))}
      select l.organization_id into v_org from public.sso_connection_lookup l where l.connection_id = p_connection;
      v_org := coalesce(v_org, '00000000-0000-0000-0000-000000000000'::uuid);
      return query select c.* from public.sso_connections c
        where c.organization_id = v_org and c.id = p_connection;
    end $$`.execute(db);

  // Home-realm discovery: the organization holding a verified domain (or named by slug), whether it has
  // require_sso on, and its active connection (the oldest, if several).
  await sql`create function app_priv_sso_discover(p_domain text, p_slug text)
    returns table (organization_id uuid, require_sso boolean, connection_id uuid, kind text)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('SSO discovery'))}
      if p_domain is not null then
        select l.organization_id into v_org from public.verified_domain_lookup l where l.domain = lower(p_domain);
        select d.organization_id into v_org from public.organization_domains d
          where d.organization_id = coalesce(v_org, '00000000-0000-0000-0000-000000000000'::uuid)
            and d.domain = lower(p_domain) and d.status = 'verified';
      elsif p_slug is not null then
        select o.id into v_org from public.organizations o where o.slug = p_slug and not o.personal;
      end if;
      if v_org is null then return; end if;
      return query select o.id, o.require_sso, c.id, c.kind
        from public.organizations o
        left join lateral (select x.id, x.kind from public.sso_connections x
            where x.organization_id = v_org and x.status = 'active'
            order by x.created_at, x.id limit 1) c on true
        where o.id = v_org and o.deletion_requested_at is null and o.suspended_at is null;
    end $$`.execute(db);

  // Password sign-in under require_sso: the organization that verified the address's domain, when it
  // requires SSO and the user is an active member of it other than an owner (owners keep the password as
  // the break-glass path). No row: the password sign-in goes on.
  await sql`create function app_priv_sso_required_for(p_user uuid, p_domain text)
    returns table (organization_id uuid, slug text)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the require-SSO check'))}
      select l.organization_id into v_org from public.verified_domain_lookup l where l.domain = lower(p_domain);
      if v_org is null then return; end if;
      return query select o.id, o.slug from public.organizations o
        join public.memberships m on m.organization_id = v_org and m.user_id = p_user
        where o.id = v_org and o.require_sso and m.status = 'active' and m.role <> 'owner';
    end $$`.execute(db);

  await own('app_priv_sso_connection_for_sign_in(uuid)');
  await own('app_priv_sso_discover(text, text)');
  await own('app_priv_sso_required_for(uuid, text)');
  await sql`grant select on sso_connections, organization_domains to ${definer}`.execute(db);
  await sql`grant select (id, slug, personal, require_sso, deletion_requested_at, suspended_at) on organizations to ${definer}`.execute(
    db,
  );
  await sql`grant select (organization_id, user_id, status, role) on memberships to ${definer}`.execute(db);
}
