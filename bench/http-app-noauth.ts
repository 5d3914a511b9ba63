/**
 * The `app-noauth` diagnostic of bench/http-read.ts (BENCH_TARGETS=all): the app composed as
 * src/main.ts composes it, from the same environment (external database, production secrets, its log
 * level), but with a header-trusting authenticator instead of identity, in a process of its own. The
 * difference from the real app's figures is what identity costs. Benchmarks only: the authenticator
 * verifies nothing.
 */
import { readFileSync } from 'node:fs';
import { compose } from '../src/app/compose.js';
import { runServer } from '../src/app/run-server.js';
import { loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { loadSecrets } from '../src/platform/secrets.js';
import { securityHeaderOptions } from '../src/platform/http/security-headers.js';
import { headerTrustingAuthenticator } from './identity.js';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
const config = loadConfig();
if (config.database.mode !== 'external') throw new Error('http-app-noauth: DATABASE_URL etc. are required');
if (!config.publicUrl) throw new Error('http-app-noauth: PUBLIC_URL is required');
if (!config.tenantKeys.keyVaultUrl) throw new Error('http-app-noauth: KEY_VAULT_DATABASE_URL is required');
// It trusts headers: never reachable from anything but this machine.
if (config.host !== '127.0.0.1') throw new Error('http-app-noauth: HOST must be 127.0.0.1');
const log = createLogger({ level: config.logLevel });
const composition = await compose({
  databaseUrl: config.database.url,
  workerDatabaseUrl: config.database.workerUrl,
  keyVaultUrl: config.tenantKeys.keyVaultUrl,
  tenantKeys: config.tenantKeys,
  poolSize: config.dbPoolSize,
  log,
  bodyLimitBytes: config.bodyLimitBytes,
  trustProxy: config.trustProxy,
  redisUrl: config.redisUrl,
  version,
  publicUrl: config.publicUrl,
  secureCookies: true,
  securityHeaders: securityHeaderOptions(config.nodeEnv, config.publicUrl),
  secrets: await loadSecrets(config),
  mailFrom: config.mailFrom,
  authenticator: headerTrustingAuthenticator(),
});
await runServer({ composition, config, log, onStopped: async () => {} });
