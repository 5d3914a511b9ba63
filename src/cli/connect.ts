import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import { prepareDatabase, EMBEDDED_ROLES } from '../platform/db/prepare.js';

/**
 * A runtime-role pool for command-line work. With an external database: DATABASE_URL. Embedded: the
 * running server's cluster if it answers, else the cluster is started for the command and stopped after.
 */
export async function connectForCli(
  config: AppConfig,
  log: Logger,
): Promise<{ pool: pg.Pool; close: () => Promise<void> }> {
  if (config.database.mode === 'embedded') {
    const rolesFile = path.join(config.dataDir, 'pg-roles.json');
    if (existsSync(rolesFile)) {
      const { runtime } = JSON.parse(readFileSync(rolesFile, 'utf8')) as { runtime: string };
      const url = `postgres://${EMBEDDED_ROLES.runtime}:${encodeURIComponent(runtime)}@127.0.0.1:${config.database.port}/saasready`;
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      const up = await probe.connect().then(
        () => true,
        () => false,
      );
      await probe.end().catch(() => {});
      if (up) {
        const pool = new pg.Pool({ connectionString: url, max: 2 });
        return { pool, close: () => pool.end() };
      }
    }
  }
  const db = await prepareDatabase(config, log);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  return {
    pool,
    close: async () => {
      await pool.end();
      await db.stop();
    },
  };
}
