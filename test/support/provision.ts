import { dropControlForeignKeys } from '../../src/platform/db/tenant-database-migrations.js';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  bootstrapDatabase,
  dropDatabase,
  withDatabase,
  type DatabaseUrls,
  type RoleNames,
} from '../../src/platform/db/bootstrap.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../../src/platform/db/embedded.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import {
  bootstrapKeyVault,
  dropKeyVault,
  keyVaultNamesFor,
} from '../../src/platform/tenant-keys/key-vault-bootstrap.js';

/** A throwaway, fully migrated database with its own roles. */
export interface ProvisionedDatabase extends ThrowawayDatabase {
  /** The key vault's role on its own database `<database>_keyvault` (wrapped data keys). */
  readonly keyVaultUrl: string;
  readonly serverVersion: string;
}

/** Finds a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/**
 * Starts an embedded cluster in a fresh temporary directory (removed by `stop`), with `fsync` off: a
 * commit's WAL is still written before it returns (`synchronous_commit` stays on), only not flushed to
 * the disk, so a crashed or killed postmaster loses nothing; only a crash of the machine could, and the
 * directory is thrown away. On this suite's disk a flush cost about 4 ms per commit (0.1 ms without).
 */
export async function startThrowawayCluster(): Promise<EmbeddedCluster> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-pg-'));
  const cluster = await startEmbeddedPostgres({ dir: path.join(base, 'pg'), port: await freePort() });
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: cluster.superuserUrl });
  await c.connect();
  try {
    await c.query('alter system set fsync = off');
    await c.query('select pg_reload_conf()');
  } finally {
    await c.end();
  }
  return {
    superuserUrl: cluster.superuserUrl,
    async stop() {
      await cluster.stop();
      await fs.rm(base, { recursive: true, force: true });
    },
  };
}

/** A throwaway database with its own roles, not migrated yet. */
export interface ThrowawayDatabase extends DatabaseUrls {
  readonly database: string;
  readonly roles: RoleNames;
  /** Superuser, connected to this database (tests use it to inspect catalogs and bypass nothing else). */
  readonly adminUrl: string;
  /** Superuser, connected to the cluster's `postgres` database. */
  readonly superuserUrl: string;
}

/** Creates a database named `<label>_<random>` with roles of the same stem and random passwords. */
export async function bootstrapThrowaway(superuserUrl: string, label: string): Promise<ThrowawayDatabase> {
  const stem = `${label}_${randomBytes(4).toString('hex')}`;
  const roles: RoleNames = {
    owner: `${stem}_owner`,
    runtime: `${stem}_app`,
    definer: `${stem}_definer`,
    worker: `${stem}_worker`,
  };
  const urls = await bootstrapDatabase({
    superuserUrl,
    database: stem,
    roles,
    passwords: {
      owner: randomBytes(16).toString('hex'),
      runtime: randomBytes(16).toString('hex'),
      worker: randomBytes(16).toString('hex'),
    },
  });
  return { database: stem, roles, ...urls, adminUrl: withDatabase(superuserUrl, stem), superuserUrl };
}

/** Drops what `bootstrapThrowaway` made. */
export async function dropThrowaway(db: ThrowawayDatabase): Promise<void> {
  await dropDatabase(db.superuserUrl, db.database, db.roles);
}

/** Creates a database named `<label>_<random>` with roles of the same stem, and migrates it. */
export async function provisionDatabase(
  superuserUrl: string,
  label = 'sr_test',
  opts: { tenantDatabase?: boolean } = {},
): Promise<ProvisionedDatabase> {
  const db = await bootstrapThrowaway(superuserUrl, label);
  await migrateToLatest(db.migrationUrl, db.roles);
  // A tenant database (`database` placements) is migrated as `npx saasready migrate` migrates one.
  if (opts.tenantDatabase) await dropControlForeignKeys(db.migrationUrl);
  const keyVaultUrl = await bootstrapKeyVault({
    superuserUrl,
    names: keyVaultNamesFor(db.database),
    password: randomBytes(16).toString('hex'),
  });
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: superuserUrl });
  await c.connect();
  const v = await c.query<{ server_version: string }>('show server_version');
  await c.end();
  return { ...db, keyVaultUrl, serverVersion: v.rows[0]?.server_version ?? 'unknown' };
}

/** Drops what `provisionDatabase` made. */
export async function dropProvisioned(db: ProvisionedDatabase): Promise<void> {
  await dropThrowaway(db);
  await dropKeyVault(db.superuserUrl, keyVaultNamesFor(db.database));
}
