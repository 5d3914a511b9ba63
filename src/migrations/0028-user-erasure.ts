import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** Same check as the platform functions of migration 0018 (a live platform administrator session). */
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
 * Issue 12, erasure of a user.
 *
 * `personal_keys`: one AES-256 data key per data subject, stored only wrapped by the KMS provider's
 * key-encryption key (src/platform/user-keys/): per user (subject id = the user id), and per e-mail address
 * (subject id derived from the address with a keyed hash: an invitation names an address before any account
 * exists). They seal the personal fields of audit entries (ip, user agent, an invitee's address in
 * metadata) written from this migration on; the chain's hash covers the sealed text, so erasure destroys
 * the keys (a user's row stays with its wrapped key gone, so none is created again; an address's key is
 * replaced by a new one) and every chain keeps verifying. Entries written before this migration keep their plaintext fields: they are
 * inside hashed bytes, and docs/erasure.md says what erasure does and does not remove from them. A global
 * table (a person belongs to many organizations), like `users`; the runtime role reads and creates keys
 * and may only replace or null a key out, never delete the row. No foreign key: an address is no user.
 *
 * `users.erased_at`: the user row is kept as a tombstone (its id stays valid for foreign keys and audit
 * actor ids) with no e-mail, name or credential left.
 *
 * `app_platform_user_memberships(user)`: the organizations a user belongs to (any membership status),
 * for the platform administrator's erasure path, in the platform scope only.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`create table personal_keys (
    subject_id uuid primary key,
    subject_kind text not null check (subject_kind in ('user', 'email')),
    wrapped bytea check (octet_length(wrapped) <= 4096),
    kek_id text check (octet_length(kek_id) <= 512),
    created_at timestamptz not null default now(),
    destroyed_at timestamptz,
    check ((wrapped is null) = (kek_id is null)),
    check ((wrapped is null) = (destroyed_at is not null))
  )`.execute(db);
  await sql`grant select, insert on personal_keys to ${runtime}`.execute(db);
  await sql`grant update (wrapped, kek_id, created_at, destroyed_at) on personal_keys to ${runtime}`.execute(
    db,
  );

  await sql`alter table users add column erased_at timestamptz`.execute(db);
  await sql`grant update (erased_at, name) on users to ${runtime}`.execute(db);

  await sql`create function app_platform_user_memberships(p_user uuid)
    returns table (organization_id uuid, role text, status text)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('listing the memberships of a user'))}
      return query select m.organization_id, m.role, m.status from public.memberships m
        where m.user_id = p_user order by m.organization_id limit 10000;
    end $$`.execute(db);
  await sql`alter function app_platform_user_memberships(uuid) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_platform_user_memberships(uuid) from public`.execute(db);
  await sql`grant execute on function app_platform_user_memberships(uuid) to ${runtime}`.execute(db);
}
