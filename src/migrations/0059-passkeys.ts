import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Passkeys (WebAuthn): a user's credentials and the pending ceremonies' challenges. Both are global
 * identity tables like `recovery_codes` (they belong to a user, not an organization: no
 * `organization_id`, no RLS; only the identity modules touch them).
 *
 * - `passkey_credentials`: one row per registered authenticator credential. `credential_id` (the
 *   authenticator's id, base64url) is unique across users: a sign-in finds the credential by it before
 *   anyone is known. The public key is COSE bytes (public material, nothing sealed). `counter` is the
 *   signature counter last seen (0 for authenticators that do not count).
 * - `passkey_challenges`: single-use, expiring challenges. `binding_hash` is SHA-256 of what the
 *   ceremony is bound to: the session id (registration, second factor) or a random per-browser handle
 *   kept in an HttpOnly cookie (sign-in). One pending challenge per purpose and binding; a verification
 *   deletes it whatever the outcome.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  await sql`create table passkey_credentials (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    credential_id text not null,
    public_key bytea not null,
    counter bigint not null default 0 check (counter >= 0),
    transports text[] not null default '{}',
    device_type text not null check (device_type in ('singleDevice', 'multiDevice')),
    backed_up boolean not null,
    name text not null check (char_length(name) between 1 and 100),
    created_at timestamptz not null default now(),
    last_used_at timestamptz
  )`.execute(db);
  await sql`create unique index passkey_credentials_credential_key on passkey_credentials (credential_id)`.execute(
    db,
  );
  await sql`create index passkey_credentials_user_idx on passkey_credentials (user_id, created_at, id)`.execute(
    db,
  );

  await sql`create table passkey_challenges (
    purpose text not null check (purpose in ('registration', 'sign_in', 'second_factor')),
    binding_hash bytea not null,
    user_id uuid references users (id) on delete cascade,
    challenge text not null,
    expires_at timestamptz not null,
    primary key (purpose, binding_hash)
  )`.execute(db);
  await sql`create index passkey_challenges_expiry_idx on passkey_challenges (expires_at)`.execute(db);

  for (const t of ['passkey_credentials', 'passkey_challenges']) {
    await sql`grant select, insert, update, delete on ${sql.id(t)} to ${runtime}`.execute(db);
  }
}
