/**
 * The database's variables, read by `loadConfig`: DATABASE_URL, MIGRATION_DATABASE_URL, WORKER_DATABASE_URL
 * (all three or none), EMBEDDED_PG_PORT.
 */
import { ConfigError, int, read, secretUrl } from './config-read.js';

/** Where the database comes from: an embedded cluster under DATA_DIR, or an external server. */
export type DatabaseConfig =
  | { mode: 'embedded'; port: number }
  | { mode: 'external'; url: string; migrationUrl: string; workerUrl: string };

export function database(env: NodeJS.ProcessEnv): DatabaseConfig {
  const urls = {
    DATABASE_URL: read(env, 'DATABASE_URL'),
    MIGRATION_DATABASE_URL: read(env, 'MIGRATION_DATABASE_URL'),
    WORKER_DATABASE_URL: read(env, 'WORKER_DATABASE_URL'),
  };
  const given = Object.entries(urls).filter(([, v]) => v !== undefined);
  if (given.length === 0) {
    return { mode: 'embedded', port: int(env, 'EMBEDDED_PG_PORT', 54329, 1, 65535) };
  }
  const all = 'set all three for an external database, or none for the embedded one';
  const [firstSet] = given[0]!;
  for (const [name, value] of Object.entries(urls)) {
    if (value === undefined) {
      throw new ConfigError(name, `${name} is required when ${firstSet} is set (${all})`);
    }
  }
  const schemes = ['postgres:', 'postgresql:'];
  return {
    mode: 'external',
    url: secretUrl('DATABASE_URL', urls.DATABASE_URL!, schemes, true),
    migrationUrl: secretUrl('MIGRATION_DATABASE_URL', urls.MIGRATION_DATABASE_URL!, schemes, true),
    workerUrl: secretUrl('WORKER_DATABASE_URL', urls.WORKER_DATABASE_URL!, schemes, true),
  };
}
