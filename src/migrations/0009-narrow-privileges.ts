import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** Refuses when the caller is inside a tenant scope (the function's question is not a tenant's). */
const OUTSIDE_TENANT_SCOPE = (what: string) => `
      if public.app_current_tenant() is not null then
        raise exception '% is refused inside a tenant scope', '${what}' using errcode = 'insufficient_privilege';
      end if;`;

/**
 * The platform scope: no tenant set, and `app.platform_actor` (set transaction-locally by
 * `withPlatformScope`) names a platform administrator. Leaves the actor in `v_actor`.
 */
const PLATFORM_SCOPE = (what: string) => `
      v_actor := nullif(current_setting('app.platform_actor', true), '')::uuid;
      if public.app_current_tenant() is not null or v_actor is null or not exists (
          select 1 from public.users u where u.id = v_actor and u.is_platform_admin) then
        raise exception '% needs the platform scope of a platform administrator', '${what}'
          using errcode = 'insufficient_privilege';
      end if;`;

const PLATFORM_APPEND_SIGNATURE = `app_platform_audit_append(text, text, uuid, timestamptz, text, text, text,
  text, text, text, text, text, jsonb, jsonb)`;

/** The columns of `users` the runtime role may write. `is_platform_admin` is not one of them. */
const USER_INSERT_COLUMNS = [
  'id',
  'email',
  'email_normalized',
  'password_hash',
  'email_verified_at',
  'totp_secret_enc',
  'totp_enabled_at',
  'last_organization_id',
  'credentials_changed_at',
  'created_at',
  'updated_at',
  'totp_last_step',
  'two_factor_pending_secret_enc',
];
const USER_UPDATE_COLUMNS = USER_INSERT_COLUMNS.filter((c) => c !== 'id' && c !== 'created_at');

/**
 * Issue 8, items 3 and 4: every definer function gets the narrowest contract it can have (refused
 * inside a tenant scope; platform functions only in the platform scope; the user-organizations lookup
 * only with a proof of the user; the API key lookup only with the key's secret, never handing out its
 * hash), the unused organization-id lister goes, and the runtime role loses what it does not use,
 * `users.is_platform_admin` included (platform administrators are made by the owner: the CLI).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const own = async (fn: string) => {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  };

  // Unused: scheduled work that needs every organization must name its own narrow question.
  await sql`drop function app_priv_list_organization_ids(uuid, integer)`.execute(db);

  // What the platform scope and the user proofs read.
  await sql`grant select (id, is_platform_admin) on users to ${definer}`.execute(db);
  await sql`grant select (user_id, token_hash, revoked_at, idle_expires_at, absolute_expires_at)
    on sessions to ${definer}`.execute(db);
  await sql`grant select (family_id, user_id, used_at, revoked_at, expires_at) on refresh_tokens
    to ${definer}`.execute(db);

  // Tenant resolution by slug happens before any scope exists.
  await sql`create or replace function app_priv_organization_id_by_slug(p_slug text) returns uuid
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('organization lookup by slug'))}
      return (select o.id from public.organizations o where o.slug = lower(p_slug));
    end $$`.execute(db);

  // Accepting an invitation link: the caller proves the token (its hash); outside any tenant scope.
  await sql`create or replace function app_priv_invitation_by_token(p_hash bytea)
    returns table (organization_id uuid, invitation_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('invitation lookup'))}
      return query select i.organization_id, i.id from public.invitations i where i.token_hash = p_hash;
    end $$`.execute(db);

  // The hourly checkpoint job (a system task, outside any tenant scope).
  await sql`create or replace function app_priv_audit_chains_to_checkpoint(p_key_id text, p_after uuid,
      p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the checkpoint scan'))}
      return query select h.organization_id from public.audit_chain_heads h
          where (p_after is null or h.organization_id > p_after)
            and h.seq > coalesce((select max(c.seq) from public.audit_checkpoints c
                                   where c.organization_id = h.organization_id and c.key_id = p_key_id), 0)
          order by h.organization_id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);

  // "My organizations": only for a user the caller proves, by the SHA-256 of a live session token of
  // that user, or by a live refresh-token family of that user (what a bearer access token names).
  await sql`drop function app_priv_user_organizations(uuid)`.execute(db);
  await sql`create function app_priv_user_organizations(p_user uuid, p_session_hash bytea,
      p_refresh_family uuid)
    returns table (organization_id uuid, slug text, name text, role text, personal boolean)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the user organization list'))}
      if p_user is null or not (
          (p_session_hash is not null and exists (
            select 1 from public.sessions s where s.token_hash = p_session_hash and s.user_id = p_user
              and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()))
          or (p_refresh_family is not null and exists (
            select 1 from public.refresh_tokens r where r.family_id = p_refresh_family and r.user_id = p_user
              and r.used_at is null and r.revoked_at is null and r.expires_at > now()))) then
        raise exception 'the user organization list needs a live credential of that user'
          using errcode = 'insufficient_privilege';
      end if;
      return query select o.id, o.slug, o.name, m.role, o.personal
          from public.memberships m join public.organizations o on o.id = m.organization_id
          where m.user_id = p_user and m.status = 'active' and o.deletion_requested_at is null
          order by o.name, o.id;
    end $$`.execute(db);
  await own('app_priv_user_organizations(uuid, bytea, uuid)');

  // API key authentication: the row only for the key's own secret (its SHA-256), never the stored hash.
  await sql`drop function app_priv_api_key_by_key_id(text)`.execute(db);
  await sql`create function app_priv_api_key_by_key_id(p_key_id text, p_secret_hash bytea)
    returns table (organization_id uuid, id uuid, scopes text[], expires_at timestamptz,
                   revoked_at timestamptz, rate_limit_per_minute integer)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the API key lookup'))}
      return query select k.organization_id, k.id, k.scopes, k.expires_at, k.revoked_at,
                 k.rate_limit_per_minute
          from public.api_keys k where k.key_id = p_key_id and k.secret_hash = p_secret_hash;
    end $$`.execute(db);
  await own('app_priv_api_key_by_key_id(text, bytea)');

  // Platform administration: only inside the platform scope.
  await sql`create or replace function app_priv_platform_organizations(p_after uuid, p_limit integer)
    returns table (id uuid, slug text, name text, personal boolean, created_at timestamptz,
                   suspended_at timestamptz, deletion_requested_at timestamptz, members bigint)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('the platform organization list'))}
      return query select o.id, o.slug, o.name, o.personal, o.created_at, o.suspended_at,
                 o.deletion_requested_at,
                 (select count(*) from public.memberships m where m.organization_id = o.id and m.status = 'active')
          from public.organizations o
          where p_after is null or o.id < p_after
          order by o.id desc limit least(greatest(p_limit, 1), 200);
    end $$`.execute(db);

  // The platform chain: only inside the platform scope, and only events whose actor is its administrator.
  await sql`create or replace function app_platform_audit_append(p_prefix text, p_suffix text, p_id uuid,
      p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text, p_target_type text,
      p_target_id text, p_ip text, p_user_agent text, p_request_id text, p_changes jsonb, p_metadata jsonb)
    returns table (seq bigint, hash bytea) language plpgsql security definer
    set search_path = pg_catalog, public as $$
    declare v_actor uuid; v_seq bigint; v_prev bytea; v_hash bytea;
    begin ${sql.raw(PLATFORM_SCOPE('a platform audit append'))}
      if p_actor_type is distinct from 'user' or p_actor_id is distinct from v_actor::text then
        raise exception 'a platform audit event must name the administrator of its platform scope'
          using errcode = 'insufficient_privilege';
      end if;
      select h.seq, h.hash into v_seq, v_prev from public.platform_audit_head h where h.singleton for update;
      if not found then
        insert into public.platform_audit_head (singleton, seq, hash)
          values (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (singleton) do nothing;
        select h.seq, h.hash into v_seq, v_prev from public.platform_audit_head h where h.singleton for update;
      end if;
      v_seq := v_seq + 1;
      v_hash := sha256(v_prev || convert_to(p_prefix || v_seq::text || p_suffix, 'UTF8'));
      insert into public.platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        values (v_seq, p_id, p_occurred_at, p_actor_type, p_actor_id, p_action, p_target_type,
          p_target_id, p_ip, p_user_agent, p_request_id, p_changes, p_metadata, v_prev, v_hash);
      update public.platform_audit_head h set seq = v_seq, hash = v_hash, updated_at = now()
        where h.singleton;
      return query select v_seq, v_hash;
    end $$`.execute(db);
  await sql`revoke all on function ${sql.raw(PLATFORM_APPEND_SIGNATURE)} from public`.execute(db);

  // Grants: column-level on users (no is_platform_admin, no delete); nothing the runtime does not use.
  const cols = (list: string[]) => sql.raw(list.map((c) => `"${c}"`).join(', '));
  await sql`revoke insert, update, delete on users from ${runtime}`.execute(db);
  await sql`grant insert (${cols(USER_INSERT_COLUMNS)}) on users to ${runtime}`.execute(db);
  await sql`grant update (${cols(USER_UPDATE_COLUMNS)}) on users to ${runtime}`.execute(db);
  await sql`revoke all on kysely_migration_lock from ${runtime}`.execute(db);
  // Never deleted by the application (revoked or used, they stay as records).
  await sql`revoke delete on refresh_tokens, invitations, api_keys from ${runtime}`.execute(db);
}
