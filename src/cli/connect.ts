import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import { prepareDatabase, EMBEDDED_ROLES } from '../platform/db/prepare.js';
import type { RoleNames } from '../platform/db/bootstrap.js';
import { keyVaultNamesFor } from '../platform/tenant-keys/key-vault-bootstrap.js';

/**
 * A runtime-role pool (or, for what only the owner may do, such as making a platform administrator, an
 * owner-role pool) for command-line work. With an external database: DATABASE_URL (owner:
 * MIGRATION_DATABASE_URL), migrated first. Embedded: the
 * running server's cluster if it answers, else the cluster is started for the command and stopped after.
 * `keyVaultUrl`: the key vault's (KEY_VAULT_DATABASE_URL, or the embedded cluster's), when known.
 */
export async function connectForCli(
  config: AppConfig,
  log: Logger,
  role: 'runtime' | 'owner' = 'runtime',
): Promise<{
  pool: pg.Pool;
  keyVaultUrl: string | undefined;
  /** The database's role names (a placement move synchronizes schemas with them). */
  roles: RoleNames;
  close: () => Promise<void>;
}> {
  const rolesFile = path.join(config.dataDir, 'pg-roles.json');
  const embeddedUrl = () => {
    if (config.database.mode !== 'embedded' || !existsSync(rolesFile)) return undefined;
    const passwords = JSON.parse(readFileSync(rolesFile, 'utf8')) as { runtime: string; owner: string };
    const user = role === 'owner' ? EMBEDDED_ROLES.owner : EMBEDDED_ROLES.runtime;
    return `postgres://${user}:${encodeURIComponent(passwords[role])}@127.0.0.1:${config.database.port}/saasready`;
  };
  /** The running embedded cluster's key vault (its role and database are both `saasready_keyvault`). */
  const embeddedVaultUrl = () => {
    if (config.database.mode !== 'embedded') return undefined;
    const passwords = JSON.parse(readFileSync(rolesFile, 'utf8')) as { keyVault?: string };
    if (!passwords.keyVault) return undefined;
    const { database, role: user } = keyVaultNamesFor('saasready');
    return `postgres://${user}:${encodeURIComponent(passwords.keyVault)}@127.0.0.1:${config.database.port}/${database}`;
  };
  if (config.database.mode === 'embedded') {
    const url = embeddedUrl();
    if (url) {
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      const up = await probe.connect().then(
        () => true,
        () => false,
      );
      await probe.end().catch(() => {});
      if (up) {
        const pool = new pg.Pool({ connectionString: url, max: 2 });
        return { pool, keyVaultUrl: embeddedVaultUrl(), roles: EMBEDDED_ROLES, close: () => pool.end() };
      }
    }
  }
  const db = await prepareDatabase(config, log);
  const pool = new pg.Pool({
    connectionString:
      role === 'runtime'
        ? db.url
        : config.database.mode === 'external'
          ? config.database.migrationUrl
          : (embeddedUrl() ?? db.url),
    max: 2,
  });
  return {
    pool,
    keyVaultUrl: db.keyVaultUrl,
    roles: db.roles,
    close: async () => {
      await pool.end();
      await db.stop();
    },
  };
}
