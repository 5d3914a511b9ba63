import path from 'node:path';
import type { JWK } from 'jose';
import { stripeConfig, type StripeConfig } from './config-stripe.js';
import { webhookConfig, type WebhookConfig } from './config-webhooks.js';
import { socialSignInConfig, type SocialSignInConfig } from './config-social.js';
import { tenantKeysConfig, type TenantKeysConfig } from './config-keys.js';
import { gdprConfig, type GdprConfig } from './config-gdpr.js';
import { retiredAuditKeys } from './config-audit.js';
import { tenantDatabasesConfig, type TenantDatabasesConfig } from './config-tenant-databases.js';
import { ConfigError, int, oneOf, read, secretUrl } from './config-read.js';
import { baseDomain, host, publicUrl, trustProxy } from './config-http.js';
import { database, type DatabaseConfig } from './config-database.js';
import { secretsFromEnv, type SecretsFromEnv } from './config-secrets.js';

export { ConfigError } from './config-read.js';
export type { DatabaseConfig } from './config-database.js';
export { ed25519JwkProblem, type SecretsFromEnv } from './config-secrets.js';

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated process configuration. */
export interface AppConfig {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  publicUrl: string | undefined;
  dataDir: string;
  database: DatabaseConfig;
  dbPoolSize: number;
  /** DB_STATEMENT_CACHE (`on`, default, or `off`): each runtime connection prepares every query once and
   *  then only binds it; `off` sends every statement unnamed, for a PgBouncer in transaction pooling mode
   *  (docs/pgbouncer.md). */
  dbStatementCache: boolean;
  /** How long an instance trusts a cached tenant placement (PLACEMENT_CACHE_TTL_MS, default 60 s): an
   *  online placement move waits at least this long between marking the organization moving and its switch. */
  placementCacheTtlMs: number;
  /** TENANT_SETTER (default `auto`): how scopes set the tenant. `pooled`: `set_config` (plain PostgreSQL);
   *  `citus`: `SET LOCAL` in explicit transactions (the only form Citus propagates to its workers);
   *  `auto`: `citus` when the citus extension is installed in the control database (checked at start). */
  tenantSetter: 'auto' | 'pooled' | 'citus';
  redisUrl: string | undefined;
  logLevel: LogLevel;
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  trustProxy: false | string[];
  baseDomain: string | undefined;
  /** SMTP server for mail (`smtp://` or `smtps://`); unset: a development mailbox. */
  smtpUrl: string | undefined;
  /** From address of outgoing mail. */
  mailFrom: string;
  /**
   * REQUIRE_VERIFIED_EMAIL (default true): an account whose email address is not verified may not send
   * invitations, create API keys or mint access tokens (403 EMAIL_NOT_VERIFIED).
   */
  requireVerifiedEmail: boolean;
  /** Usage metering: USAGE_LATENESS_DAYS (default 7, 1-30): events older than this are refused;
   *  USAGE_RETENTION_DAYS (default 400, 60-3650): raw events are kept this long. */
  usage: { latenessDays: number; retentionDays: number };
  /** The Stripe billing provider (STRIPE_* variables, config-stripe.ts); undefined: the local provider. */
  stripe: StripeConfig | undefined;
  /** GDPR export links, archive limits and retention periods (config-gdpr.ts). */
  gdpr: GdprConfig;
  /** `/scim/v2` requests per minute: SCIM_RATE_LIMIT_PER_MINUTE per token (default 600) and
   *  SCIM_ORG_RATE_LIMIT_PER_MINUTE per organization (default 1200), each 1-100000. */
  scimRateLimit: { perToken: number; perOrganization: number };
  /** ORG_DELETION_GRACE_DAYS (default 30, 1-365): how long a scheduled organization deletion waits
   *  (pending, cancellable by an owner) before the hard delete. */
  orgDeletionGraceDays: number;
  /**
   * BILLING_CLOSE_PERIODS (default true): the local billing provider's hourly period close runs (where the
   * job worker runs). `false` turns it off, e.g. when another billing provider issues the invoices.
   */
  billingClosePeriods: boolean;
  /** Webhook delivery (WEBHOOK_* variables, config-webhooks.ts): SSRF exceptions, schedule, limits. */
  webhooks: WebhookConfig;
  /** Social sign-in providers (SOCIAL_PROVIDERS, SOCIAL_<ID>_*; config-social.ts); none by default. */
  socialSignIn: SocialSignInConfig;
  /** Per-organization encryption: KMS_PROVIDER, AWS_*, KEK_PREVIOUS, KEY_VAULT_DATABASE_URL (config-keys.ts). */
  tenantKeys: TenantKeysConfig;
  /** `database` placements: TENANT_DATABASES(_FILE) and TENANT_DB_* (config-tenant-databases.ts). */
  tenantDatabases: TenantDatabasesConfig;
  secretsFromEnv: SecretsFromEnv;
  /** Public keys of retired audit checkpoint keys (AUDIT_RETIRED_KEYS): older checkpoints still verify. */
  auditRetiredKeys: RetiredAuditKey[];
}

/** The public half of a rotated-out audit signing key. */
export interface RetiredAuditKey {
  kid: string;
  jwk: JWK;
}

const NODE_ENVS: readonly NodeEnv[] = ['development', 'production', 'test'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Validates the environment and returns the configuration. Variables are checked in a fixed order
 * (NODE_ENV, HOST, PORT, PUBLIC_URL, DATA_DIR, DATABASE_URL/MIGRATION_DATABASE_URL/WORKER_DATABASE_URL,
 * EMBEDDED_PG_PORT,
 * DB_POOL_SIZE, DB_STATEMENT_CACHE, REDIS_URL, LOG_LEVEL, BODY_LIMIT_BYTES, SHUTDOWN_TIMEOUT_MS, TRUST_PROXY, BASE_DOMAIN,
 * SESSION_SECRET, KEK, JWT_PRIVATE_KEY) and the first problem is reported. Empty values count as unset;
 * unknown variables are ignored.
 *
 * @param env - the environment to read (default `process.env`)
 * @throws ConfigError naming the variable, with a one-line message that never includes a secret value
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const nodeEnv = oneOf(env, 'NODE_ENV', NODE_ENVS, 'development');
  const hostValue = host(env);
  const port = int(env, 'PORT', 3000, 0, 65535);
  const publicUrlValue = publicUrl(env);
  const dataDir = path.resolve(read(env, 'DATA_DIR') ?? './.data');
  const databaseValue = database(env);
  const dbPoolSize = int(env, 'DB_POOL_SIZE', 10, 1, 200);
  const dbStatementCache = oneOf(env, 'DB_STATEMENT_CACHE', ['on', 'off'], 'on') === 'on';
  const placementCacheTtlMs = int(env, 'PLACEMENT_CACHE_TTL_MS', 60_000, 100, 3_600_000);
  const tenantSetter = oneOf(env, 'TENANT_SETTER', ['auto', 'pooled', 'citus'] as const, 'auto');
  const redisRaw = read(env, 'REDIS_URL');
  const redisUrl =
    redisRaw === undefined ? undefined : secretUrl('REDIS_URL', redisRaw, ['redis:', 'rediss:'], false);
  const logLevel = oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
  const bodyLimitBytes = int(env, 'BODY_LIMIT_BYTES', 1_048_576, 1024, 104_857_600);
  const shutdownTimeoutMs = int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000);
  const trustProxyValue = trustProxy(env);
  const baseDomainValue = baseDomain(env);
  const smtpRaw = read(env, 'SMTP_URL');
  const smtpUrl =
    smtpRaw === undefined ? undefined : secretUrl('SMTP_URL', smtpRaw, ['smtp:', 'smtps:'], false);
  const mailFrom = read(env, 'MAIL_FROM') ?? 'SaaSReady <no-reply@saasready.local>';
  if (!/^[^\r\n]{3,200}$/.test(mailFrom) || !mailFrom.includes('@')) {
    throw new ConfigError('MAIL_FROM', 'MAIL_FROM must be an address such as "Acme <no-reply@acme.test>"');
  }
  const requireVerifiedEmail = oneOf(env, 'REQUIRE_VERIFIED_EMAIL', ['true', 'false'], 'true') === 'true';
  const billingClosePeriods = oneOf(env, 'BILLING_CLOSE_PERIODS', ['true', 'false'], 'true') === 'true';
  const orgDeletionGraceDays = int(env, 'ORG_DELETION_GRACE_DAYS', 30, 1, 365);
  const usage = {
    latenessDays: int(env, 'USAGE_LATENESS_DAYS', 7, 1, 30),
    retentionDays: int(env, 'USAGE_RETENTION_DAYS', 400, 60, 3650),
  };
  return {
    nodeEnv,
    host: hostValue,
    port,
    publicUrl: publicUrlValue,
    dataDir,
    database: databaseValue,
    dbPoolSize,
    dbStatementCache,
    placementCacheTtlMs,
    tenantSetter,
    redisUrl,
    logLevel,
    bodyLimitBytes,
    shutdownTimeoutMs,
    trustProxy: trustProxyValue,
    baseDomain: baseDomainValue,
    smtpUrl,
    mailFrom,
    requireVerifiedEmail,
    usage,
    gdpr: gdprConfig((name, fallback, min, max) => int(env, name, fallback, min, max)),
    scimRateLimit: {
      perToken: int(env, 'SCIM_RATE_LIMIT_PER_MINUTE', 600, 1, 100_000),
      perOrganization: int(env, 'SCIM_ORG_RATE_LIMIT_PER_MINUTE', 1200, 1, 100_000),
    },
    orgDeletionGraceDays,
    stripe: stripeConfig(
      env,
      (name, fallback, min, max) => int(env, name, fallback, min, max),
      (name, message) => new ConfigError(name, message),
    ),
    billingClosePeriods,
    socialSignIn: socialSignInConfig(env, (name, message) => new ConfigError(name, message)),
    webhooks: webhookConfig(
      env,
      (name, fallback, min, max) => int(env, name, fallback, min, max),
      (name, message) => new ConfigError(name, message),
    ),
    tenantKeys: tenantKeysConfig(
      env,
      (name, fallback, min, max) => int(env, name, fallback, min, max),
      (name, message) => new ConfigError(name, message),
    ),
    tenantDatabases: tenantDatabasesConfig(
      env,
      (name, fallback, min, max) => int(env, name, fallback, min, max),
      (name, message) => new ConfigError(name, message),
    ),
    secretsFromEnv: secretsFromEnv(env, nodeEnv),
    auditRetiredKeys: retiredAuditKeys(env, (message) => new ConfigError('AUDIT_RETIRED_KEYS', message)),
  };
}
