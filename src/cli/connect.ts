import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import type { RoleNames } from '../platform/db/bootstrap.js';
import { startEmbeddedPostgres } from '../platform/db/embedded.js';
import { prepareDatabase, EMBEDDED_ROLES, type PrepareOptions } from '../platform/db/prepare.js';
import { keyVaultNamesFor } from '../platform/tenant-keys/key-vault-bootstrap.js';

type Role = 'runtime' | 'owner';

/** A connection for a command: its pool, the pool's URL and the database's role names. */
export interface CliConnection {
  readonly pool: pg.Pool;
  /** The URL the pool connects with (the chosen role's). */
  readonly url: string;
  readonly roles: RoleNames;
  readonly keyVaultUrl: string | undefined;
  /** Migrations applied to the control database while connecting (none with a running server's). */
  readonly applied: readonly string[];
  readonly close: () => Promise<void>;
}

function rolesFile(config: AppConfig): string {
  return path.join(config.dataDir, 'pg-roles.json');
}

/** The embedded cluster's URL for a role, from the passwords file (undefined before the first start). */
function embeddedUrl(config: AppConfig, role: Role): string | undefined {
  const file = rolesFile(config);
  if (config.database.mode !== 'embedded' || !existsSync(file)) return undefined;
  const passwords = JSON.parse(readFileSync(file, 'utf8')) as { runtime: string; owner: string };
  const user = role === 'owner' ? EMBEDDED_ROLES.owner : EMBEDDED_ROLES.runtime;
  return `postgres://${user}:${encodeURIComponent(passwords[role])}@127.0.0.1:${config.database.port}/saasready`;
}

/** The running embedded cluster's key vault (its role and database are both `saasready_keyvault`). */
function embeddedVaultUrl(config: AppConfig): string | undefined {
  if (config.database.mode !== 'embedded') return undefined;
  const passwords = JSON.parse(readFileSync(rolesFile(config), 'utf8')) as { keyVault?: string };
  if (!passwords.keyVault) return undefined;
  const { database, role: user } = keyVaultNamesFor('saasready');
  return `postgres://${user}:${encodeURIComponent(passwords.keyVault)}@127.0.0.1:${config.database.port}/${database}`;
}

/** True when something answers as the role at `url` (the running server's embedded cluster). */
async function answers(url: string): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  const up = await probe.connect().then(
    () => true,
    () => false,
  );
  await probe.end().catch(() => {});
  return up;
}

function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

/**
 * A runtime-role pool (or, for what only the owner may do, such as making a platform administrator, an
 * owner-role pool) for command-line work. With an external database: DATABASE_URL (owner:
 * MIGRATION_DATABASE_URL), migrated first. Embedded: the
 * running server's cluster if it answers, else the cluster is started for the command and stopped after.
 * `keyVaultUrl`: the key vault's (KEY_VAULT_DATABASE_URL, or the embedded cluster's), when known.
 * `prepare`: passed to `prepareDatabase` when this command prepares the database itself.
 */
export async function connectForCli(
  config: AppConfig,
  log: Logger,
  role: Role = 'runtime',
  prepare: PrepareOptions = {},
): Promise<CliConnection> {
  if (config.database.mode === 'embedded') {
    const url = embeddedUrl(config, role);
    if (url && (await answers(url))) {
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      return {
        pool,
        url,
        roles: EMBEDDED_ROLES,
        keyVaultUrl: embeddedVaultUrl(config),
        applied: [],
        close: () => pool.end(),
      };
    }
  }
  const db = await prepareDatabase(config, log, prepare);
  const url =
    role === 'runtime'
      ? db.url
      : config.database.mode === 'external'
        ? config.database.migrationUrl
        : (embeddedUrl(config, 'owner') ?? db.url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    pool,
    url,
    roles: db.roles,
    keyVaultUrl: db.keyVaultUrl,
    applied: db.applied,
    close: async () => {
      await pool.end();
      await db.stop();
    },
  };
}

/**
 * An owner-role pool on the control database WITHOUT migrating anything (`migrate status` reports what is
 * there). Embedded: the running server's cluster, else the cluster started for the command.
 */
export async function connectOwnerAsIs(config: AppConfig, log: Logger): Promise<CliConnection> {
  if (config.database.mode === 'external') {
    const url = config.database.migrationUrl;
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const roles: RoleNames = {
      owner: userOf(url),
      runtime: userOf(config.database.url),
      definer: process.env.DEFINER_ROLE ?? 'saasready_definer',
      worker: userOf(config.database.workerUrl),
    };
    const keyVaultUrl = config.tenantKeys.keyVaultUrl;
    return { pool, url, roles, keyVaultUrl, applied: [], close: () => pool.end() };
  }
  const url = embeddedUrl(config, 'owner');
  if (!url) throw new Error(`no embedded database in ${config.dataDir} yet: nothing is migrated`);
  const open = (stop: () => Promise<void>): CliConnection => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    return {
      pool,
      url,
      roles: EMBEDDED_ROLES,
      keyVaultUrl: embeddedVaultUrl(config),
      applied: [],
      close: async () => {
        await pool.end();
        await stop();
      },
    };
  };
  if (await answers(url)) return open(async () => {});
  const cluster = await startEmbeddedPostgres({
    dir: path.join(config.dataDir, 'pg'),
    port: config.database.port,
    onLog: (line) => log.debug({ component: 'embedded-postgres' }, line),
    onNotice: (line) => log.warn({ component: 'embedded-postgres' }, line),
  });
  return open(() => cluster.stop());
}
