import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 12: the per-person keys (`personal_keys`, migration 0028) move to the key vault, beside the
 * organizations' data keys, so that a backup of the application database taken before an erasure never
 * holds the erased person's wrapped key, and the KEK rotation job re-wraps them with the others.
 *
 * The owner role running migrations cannot reach the vault (its own database and role), so the rows are
 * moved right after the migrations by the server's start (`movePersonalKeysToVault`,
 * src/platform/user-keys/move-to-vault.ts, as this owner role): copied into the vault, then the table
 * dropped. Here: the runtime role loses every privilege on the table at once (it never reads or writes it
 * again), an empty table (a new database) is dropped, and a table holding keys is renamed
 * `personal_keys_to_vault` until the move. Instances of the previous version write keys into
 * `personal_keys`: stop them before upgrading (their audited writes fail once the table is gone).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`revoke all on personal_keys from ${sql.id(ctx.roles.runtime)}`.execute(db);
  await sql`do $$ begin
    if exists (select 1 from personal_keys) then
      alter table personal_keys rename to personal_keys_to_vault;
    else
      drop table personal_keys;
    end if;
  end $$`.execute(db);
}
