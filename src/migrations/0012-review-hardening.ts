import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * The platform scope, as the definer functions check it: no tenant set, and `app.platform_session` (set
 * transaction-locally by `withPlatformScope`, as a bind parameter) holds the RAW token of a live,
 * unrevoked, unexpired session of a platform administrator, past its second factor if the administrator
 * has one. The token is hashed here (SHA-256 of its UTF-8 bytes, what `sessions.token_hash` stores): the
 * runtime role can read the hash but not the token, so it cannot forge this scope from anything it can
 * read, injected SQL included. Leaves the administrator in `v_actor`.
 */
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

const OUTSIDE_TENANT_SCOPE = (what: string) => `
      if public.app_current_tenant() is not null then
        raise exception '% is refused inside a tenant scope', '${what}' using errcode = 'insufficient_privilege';
      end if;`;

/**
 * The outside review of issue 8's changes (finding 4): the runtime role could satisfy every definer
 * contract itself (`app.platform_actor` is a setting it sets, administrator ids and session token hashes
 * are readable). The platform functions now take the raw token of an administrator's live session; the
 * user-organizations lookup takes the raw session token of a cookie principal and derives the user from it.
 * The refresh-family proof of bearer principals stays: a family id is readable by the runtime role, so that
 * path guards against mistakes in application code, not against SQL injected as the runtime role.
 * Finding 7: the checkpoint scan (every organization with audit events) moves from the runtime role to the
 * worker role, in a schema of its own (`worker_api`) so the worker still has nothing in `public`.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  const own = async (fn: string, to: typeof runtime) => {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${to}`.execute(db);
  };

  // What the session checks read, beyond migration 0009's grants.
  await sql`grant select (totp_enabled_at) on users to ${definer}`.execute(db);
  await sql`grant select (two_factor_verified) on sessions to ${definer}`.execute(db);

  await sql`create or replace function app_priv_platform_organizations(p_after uuid, p_limit integer)
    returns table (id uuid, slug text, name text, personal boolean, created_at timestamptz,
                   suspended_at timestamptz, deletion_requested_at timestamptz, members bigint)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('the platform organization list'))}
      return query select o.id, o.slug, o.name, o.personal, o.created_at, o.suspended_at,
                 o.deletion_requested_at,
                 (select count(*) from public.memberships m where m.organization_id = o.id and m.status = 'active')
          from public.organizations o
          where p_after is null or o.id < p_after
          order by o.id desc limit least(greatest(p_limit, 1), 200);
    end $$`.execute(db);

  await sql`create or replace function app_platform_audit_append(p_prefix text, p_suffix text, p_id uuid,
      p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text, p_target_type text,
      p_target_id text, p_ip text, p_user_agent text, p_request_id text, p_changes jsonb, p_metadata jsonb)
    returns table (seq bigint, hash bytea) language plpgsql security definer
    set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid; v_seq bigint; v_prev bytea; v_hash bytea;
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

  // "My organizations": a cookie principal proves itself with the RAW session token (hashed here; the
  // user is the session's); a bearer principal with a live refresh family of the user it names (readable
  // by the runtime role: a guard against mistakes, not against injected SQL).
  await sql`drop function app_priv_user_organizations(uuid, bytea, uuid)`.execute(db);
  await sql`create function app_priv_user_organizations(p_session_token text, p_user uuid,
      p_refresh_family uuid)
    returns table (organization_id uuid, slug text, name text, role text, personal boolean)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_user uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the user organization list'))}
      if p_session_token is not null then
        select s.user_id into v_user from public.sessions s
          where s.token_hash = sha256(convert_to(p_session_token, 'UTF8'))
            and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now();
        if p_user is not null and v_user is distinct from p_user then
          v_user := null;
        end if;
      elsif p_refresh_family is not null and p_user is not null and exists (
          select 1 from public.refresh_tokens r where r.family_id = p_refresh_family and r.user_id = p_user
            and r.used_at is null and r.revoked_at is null and r.expires_at > now()) then
        v_user := p_user;
      end if;
      if v_user is null then
        raise exception 'the user organization list needs a live credential of that user'
          using errcode = 'insufficient_privilege';
      end if;
      return query select o.id, o.slug, o.name, m.role, o.personal
          from public.memberships m join public.organizations o on o.id = m.organization_id
          where m.user_id = v_user and m.status = 'active' and o.deletion_requested_at is null
          order by o.name, o.id;
    end $$`.execute(db);
  await own('app_priv_user_organizations(text, uuid, uuid)', runtime);

  // The checkpoint scan: the worker's, in a schema of its own; the runtime role loses it.
  await sql`create schema worker_api`.execute(db);
  await sql`revoke all on schema worker_api from public`.execute(db);
  await sql`grant usage on schema worker_api to ${worker}`.execute(db);
  await sql`grant create on schema worker_api to ${definer}`.execute(db);
  await sql`alter function app_priv_audit_chains_to_checkpoint(text, uuid, integer)
    set schema worker_api`.execute(db);
  await own('worker_api.app_priv_audit_chains_to_checkpoint(text, uuid, integer)', worker);
  await sql`revoke all on function worker_api.app_priv_audit_chains_to_checkpoint(text, uuid, integer)
    from ${runtime}`.execute(db);
}
