import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Auth hardening:
 * - `refresh_tokens.session_id`: the browser session a token family was minted from, so signing that
 *   session out (or revoking it) ends the family, and with it every access token whose `sid` names it.
 * - `invitation_sends`: one row per invitation mail (first send and every resend), so both count toward
 *   the organization's hourly allowance and the mails to one address can be capped. A tenant table.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`alter table refresh_tokens
    add column session_id uuid references sessions (id) on delete set null`.execute(db);
  await sql`create index refresh_tokens_session_idx on refresh_tokens (session_id)
    where session_id is not null`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'invitation_sends',
    columns: `id uuid not null,
      invitation_id uuid not null,
      email_normalized text not null,
      sent_at timestamptz not null default now()`,
    primaryKey: ['id'],
  });
  await sql`create index invitation_sends_sent_idx on invitation_sends (organization_id, sent_at)`.execute(
    db,
  );
  await sql`create index invitation_sends_email_idx
    on invitation_sends (organization_id, email_normalized, sent_at)`.execute(db);
}
