import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './platform/config.js';
import { tenantDatabaseList } from './platform/config-tenant-databases.js';
import { loadSecrets } from './platform/secrets.js';
import { createLogger } from './platform/logger.js';
import { setStatementCache } from './platform/tenancy/pipelined-query.js';
import { prepareDatabase } from './platform/db/prepare.js';
import { tenantDatabasesBehind, tenantDatabasesRefusal } from './platform/db/tenant-database-migrations.js';
import { compose } from './app/compose.js';
import { runServer } from './app/run-server.js';
import { securityHeaderOptions } from './platform/http/security-headers.js';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** `Secure` cookies everywhere except plain-http localhost outside production. */
function needsSecureCookies(nodeEnv: string, publicUrl: string): boolean {
  const u = new URL(publicUrl);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  return !(nodeEnv !== 'production' && u.protocol === 'http:' && local);
}

/** A one-line cause for a failed start, whatever was thrown (some libraries reject with nothing). */
function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string' && err) return err;
  if (err === undefined || err === null)
    return 'failed without a reason (run with LOG_LEVEL=debug for details)';
  try {
    return JSON.stringify(err) ?? typeof err;
  } catch {
    return typeof err;
  }
}

/** Entry point of `npm start`. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`saasready: invalid configuration: ${(err as Error).message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Process-wide, before any query: behind a transaction-pooling PgBouncer nothing may be prepared by name.
  setStatementCache(config.dbStatementCache);
  const log = createLogger({ level: config.logLevel });
  let secrets;
  try {
    secrets = await loadSecrets(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`saasready: invalid configuration: ${(err as Error).message}\n`);
      process.exit(1);
    }
    throw err;
  }
  let db;
  try {
    db = await prepareDatabase(config, log);
  } catch (err) {
    process.stderr.write(`saasready: database not ready: ${reasonOf(err)}\n`);
    process.exit(1);
  }
  // A dedicated tenant database is migrated by `npx saasready migrate`, a step of its own, not at start:
  // one that is behind would meet this version's queries with old tables, so the server does not start.
  const refusal = tenantDatabasesRefusal(
    await tenantDatabasesBehind(tenantDatabaseList(config.tenantDatabases)),
  );
  if (refusal) {
    process.stderr.write(`saasready: not starting: ${refusal}\n`);
    await db.stop();
    process.exit(1);
  }
  if (!db.keyVaultUrl) {
    process.stderr.write(
      'saasready: invalid configuration: KEY_VAULT_DATABASE_URL is required with an external database (the key vault: its own database and role, see docs/encryption.md)\n',
    );
    await db.stop();
    process.exit(1);
  }
  const publicUrl = config.publicUrl ?? `http://localhost:${config.port}`;
  const composition = await compose({
    databaseUrl: db.url,
    workerDatabaseUrl: db.workerUrl,
    // The owner role it migrated with: the platform-admin API's placement moves (their schema DDL).
    owner: { url: db.migrationUrl, roles: db.roles },
    keyVaultUrl: db.keyVaultUrl,
    tenantKeys: config.tenantKeys,
    poolSize: config.dbPoolSize,
    placementCacheTtlMs: config.placementCacheTtlMs,
    tenantSetter: config.tenantSetter,
    tenantDatabases: config.tenantDatabases,
    log,
    bodyLimitBytes: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    redisUrl: config.redisUrl,
    version,
    publicUrl,
    secureCookies: needsSecureCookies(config.nodeEnv, publicUrl),
    securityHeaders: securityHeaderOptions(config.nodeEnv, publicUrl),
    secrets,
    auditRetiredKeys: config.auditRetiredKeys,
    baseDomain: config.baseDomain,
    smtpUrl: config.smtpUrl,
    mailFrom: config.mailFrom,
    requireVerifiedEmail: config.requireVerifiedEmail,
    usage: config.usage,
    orgDeletionGraceDays: config.orgDeletionGraceDays,
    stripe: config.stripe,
    gdpr: config.gdpr,
    scimRateLimit: config.scimRateLimit,
    closeLocalPeriods: config.billingClosePeriods,
    webhooks: config.webhooks,
    socialSignIn: config.socialSignIn,
    devMailbox: config.nodeEnv === 'development' && !config.smtpUrl,
  });
  await runServer({ composition, config, log, onStopped: () => db.stop() });
}

main().catch((err: unknown) => {
  process.stderr.write(`saasready: failed to start: ${reasonOf(err)}\n`);
  process.exit(1);
});
