import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * The tasks the runtime role may queue through `app_enqueue_job` (created with the job queue's
 * privileges in `src/platform/jobs/queue-schema.ts`, after graphile-worker's schema exists). A module
 * that queues a new task adds its row in a migration; recurring tasks are queued only by the worker's
 * crontab and are not listed. Only the definer role (the function's owner) reads the table.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`create table enqueueable_tasks (
    task text primary key constraint enqueueable_tasks_shape check (task ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
    description text not null
  )`.execute(db);
  await sql`revoke all on enqueueable_tasks from public`.execute(db);
  await sql`grant select on enqueueable_tasks to ${sql.id(ctx.roles.definer)}`.execute(db);
  await sql`insert into enqueueable_tasks (task, description)
    values ('mail.send', 'a mail (verification, password reset, invitation), sent by the worker')`.execute(
    db,
  );
}
