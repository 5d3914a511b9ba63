import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Two-factor authentication: the last accepted TOTP time step per user (a code is accepted once) and the
 * encrypted secret of an enrollment that has not been confirmed yet. `users` is a global identity table:
 * the runtime role's table-level grants from 0003 cover the new columns.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`alter table users
    add column totp_last_step bigint,
    add column two_factor_pending_secret_enc text`.execute(db);
}
