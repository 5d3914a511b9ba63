import pg from 'pg';
import type { LegacyPersonalKeyRow, PersonalKeyVault } from '../tenant-keys/key-vault-persons.js';

const BATCH = 1000;

/**
 * Moves the per-person keys left in the application database by migration 0032
 * (`personal_keys_to_vault`) into the key vault, then drops that table. Runs at start right after the
 * migrations, as the owner role (`migrationUrl`: it owns the table; the runtime role has no privilege on
 * it). Resumable and idempotent: rows are copied in batches (a row the vault has already is kept, except
 * that an erased user's tombstone wins), and the table is dropped only once every row is in the vault;
 * a crash before that copies again on the next start. Concurrent starts serialize on an advisory lock.
 * Returns how many rows were moved (0 when there was nothing to move).
 */
export async function movePersonalKeysToVault(
  migrationUrl: string,
  vault: PersonalKeyVault,
): Promise<number> {
  const c = new pg.Client({ connectionString: migrationUrl });
  await c.connect();
  try {
    await c.query('begin');
    await c.query("select pg_advisory_xact_lock(hashtext('saasready.personal_keys.move'))");
    const found = await c.query<{ t: string | null }>(
      "select to_regclass('public.personal_keys_to_vault')::text as t",
    );
    if (!found.rows[0]?.t) {
      await c.query('commit');
      return 0;
    }
    let moved = 0;
    let after: string | null = null;
    for (;;) {
      const r: pg.QueryResult<LegacyPersonalKeyRow> = await c.query<LegacyPersonalKeyRow>(
        `select subject_id, subject_kind, wrapped, kek_id, created_at, destroyed_at
           from personal_keys_to_vault where $1::uuid is null or subject_id > $1::uuid
          order by subject_id limit ${BATCH}`,
        [after],
      );
      if (r.rows.length === 0) break;
      await vault.importLegacy(r.rows);
      moved += r.rows.length;
      after = r.rows.at(-1)!.subject_id;
    }
    // Dropping unlinks the table's files: no copy of the wrapped keys stays in the live database.
    await c.query('drop table personal_keys_to_vault');
    await c.query('commit');
    return moved;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    await c.end();
  }
}
