/**
 * Test fixture for `audit seal-legacy` (imported by its tests only): what a run seals and signs with, as
 * the command builds it, on the suite's KEK.
 */
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { testJwtKey } from '../../modules/tokens/tokens.test-support.js';
import type { Database } from '../db/schema.js';
import type { LegacySealDeps } from './legacy-seal.js';
import { personalKeyStore } from './personal-keys.test-support.js';
import { createAuditSigner, createAuditVerifier } from './signing.js';

/**
 * A key vault on `keyVaultUrl` (the caller closes it), a user key store over it that caches nothing (the
 * tests destroy keys and read again at once), an audit signing key, and the run's dependencies on the
 * owner role's `pool` and `db`.
 */
export async function legacySealFixture(opts: { keyVaultUrl: string; pool: pg.Pool; db: Kysely<Database> }) {
  const { vault, store } = await personalKeyStore({ keyVaultUrl: opts.keyVaultUrl, ttlMs: 0 });
  const key = await testJwtKey();
  const signer = createAuditSigner(key);
  const verifier = createAuditVerifier([signer.publicKey]);
  const deps: LegacySealDeps = { pool: opts.pool, db: opts.db, userKeys: store, signingKey: key, verifier };
  return { vault, store, signer, verifier, deps };
}

/**
 * Ends the owner role's `db` and `pool`: Kysely ends the pool only once it has run a query through `db`,
 * and an idle connection of a pool left open (or one still closing) is terminated when the test database
 * is dropped, an error the pool then raises with nobody listening.
 */
export async function endOwnerPool(
  db: Kysely<Database> | undefined,
  pool: pg.Pool | undefined,
): Promise<void> {
  // A connection still closing when the database is dropped is terminated (57P01): expected, not a failure.
  pool?.on('error', () => {});
  await db?.destroy();
  if (pool && !pool.ended) await pool.end();
}
