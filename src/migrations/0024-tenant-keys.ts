import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 12, per-organization envelope encryption (docs/encryption.md). The wrapped data keys are NOT
 * here: they live in the key vault, a database of their own that dumps of this one never contain (that
 * is what makes crypto-shredding hold for backups). This database only learns the two jobs a rotation
 * queues: an organization's re-encryption (queued in its own scope) and the KEK re-wrap (no tenant,
 * queued by a platform administrator).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`insert into enqueueable_tasks (task, description) values
    ('tenant_keys.reencrypt', 're-encrypts an organization''s sealed columns under its new data key'),
    ('tenant_keys.rewrap', 're-wraps every organization data key under the current KEK')`.execute(db);
}
