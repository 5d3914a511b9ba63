import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 9 (web console): users get an optional display name, shown in the console and set on the account
 * page (`PATCH /v1/auth/me`). 1 to 100 characters, no leading or trailing space, no control characters
 * (C0, DEL, C1) and no invisible or direction-changing ones (zero-width, bidi embeddings, overrides and
 * isolates, line/paragraph separators, BOM), so a name shown to others cannot disguise itself or what
 * follows it: the API trims and checks the same, the constraint holds for every writer. The runtime
 * role may UPDATE the column and nothing more (sign-up does not write it).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  await sql`alter table users add column name text null
    constraint users_name_check check (
      char_length(name) between 1 and 100
      and name = btrim(name)
      and name !~ '[\\x01-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff]'
    )`.execute(db);
  await sql`grant update (name) on users to ${runtime}`.execute(db);
}
