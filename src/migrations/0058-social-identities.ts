import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Social sign-in (deployment-level providers: Google, Microsoft, GitHub, generic OIDC). Two global identity
 * tables, beside `users` and `sessions` (no organization_id, no RLS: they belong to a user, not to an
 * organization):
 *
 * - `social_identities`: a provider's account (provider, subject) linked to a user. One account links to
 *   one user (unique key); a user may link several. Deleted with the user's row, and by erasure.
 * - `social_sign_in_flows`: the state of a sign-in between the start and the provider's callback: the
 *   state (stored hashed), the browser binding (the SHA-256 of a cookie's random value), the PKCE verifier,
 *   the nonce and where to return. Single use (the callback deletes the row it reads) and short-lived.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  await sql`create table social_identities (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    provider text not null check (provider ~ '^[a-z0-9][a-z0-9:-]{0,40}$'),
    subject text not null check (length(subject) between 1 and 255),
    email text,
    created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now()
  )`.execute(db);
  await sql`create unique index social_identities_subject_key on social_identities (provider, subject)`.execute(
    db,
  );
  await sql`create index social_identities_user_idx on social_identities (user_id)`.execute(db);

  await sql`create table social_sign_in_flows (
    state_hash bytea primary key,
    provider text not null,
    browser_hash bytea not null,
    code_verifier text not null,
    nonce text,
    return_to text not null,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index social_sign_in_flows_expiry_idx on social_sign_in_flows (expires_at)`.execute(db);

  await sql`grant select, insert, update, delete on social_identities to ${runtime}`.execute(db);
  await sql`grant select, insert, delete on social_sign_in_flows to ${runtime}`.execute(db);
}
