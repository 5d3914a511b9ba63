import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * `auth.password-reset`: a password-reset request queues this job whether or not the address has an
 * account (the request does the same work either way, so its timing does not tell who has one); the
 * worker looks the address up, issues the token and queues the mail, or does nothing for an unknown
 * address (src/modules/auth/password-reset-job.ts). No tenant.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`insert into enqueueable_tasks (task, description) values
    ('auth.password-reset', 'a password-reset request: the worker mails a link if the address has an account')`.execute(
    db,
  );
}
