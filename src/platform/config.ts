import { createPrivateKey, createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import type { JWK } from 'jose';
import { stripeConfig, type StripeConfig } from './config-stripe.js';
import { webhookConfig, type WebhookConfig } from './config-webhooks.js';
import { socialSignInConfig, type SocialSignInConfig } from './config-social.js';
import { tenantKeysConfig, type TenantKeysConfig } from './config-keys.js';
import { gdprConfig, type GdprConfig } from './config-gdpr.js';
import { retiredAuditKeys } from './config-audit.js';
import { tenantDatabasesConfig, type TenantDatabasesConfig } from './config-tenant-databases.js';

/** A bad or missing environment variable. The message is one line and never contains a secret value. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Where the database comes from: an embedded cluster under DATA_DIR, or an external server. */
export type DatabaseConfig =
  | { mode: 'embedded'; port: number }
  | { mode: 'external'; url: string; migrationUrl: string; workerUrl: string };

/** Secrets given in the environment (all required in production; optional elsewhere). */
export interface SecretsFromEnv {
  sessionSecret?: Buffer;
  kek?: Buffer;
  jwtPrivateJwk?: JWK;
  /** Signs audit checkpoints (AUDIT_SIGNING_KEY). */
  auditPrivateJwk?: JWK;
}

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
const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Quotes a (non-secret) value for an error message: single line, bounded length. */
function shown(value: string): string {
  const cut = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return JSON.stringify(cut);
}

/** Reads a variable; empty or whitespace-only counts as unset. */
function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `${name} must be an integer from ${min} to ${max} (got ${shown(raw)})`);
  }
  return n;
}

function oneOf<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `${name} must be one of ${allowed.join(', ')} (got ${shown(raw)})`);
  }
  return raw as T;
}

/** Validates a URL whose value may hold a password: the message shows at most its scheme. */
function secretUrl(name: string, raw: string, schemes: readonly string[], needsUser: boolean): string {
  const expected = `${name} must be a ${schemes.map((s) => `${s}//`).join(' or ')} URL`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `${expected} (the value does not parse as a URL)`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new ConfigError(name, `${expected} (got scheme ${shown(url.protocol)})`);
  }
  if (needsUser && !url.username) throw new ConfigError(name, `${expected} with a user name (none given)`);
  return raw;
}

function publicUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = read(env, 'PUBLIC_URL');
  if (raw === undefined) return undefined;
  let ok = false;
  try {
    const url = new URL(raw);
    ok = (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok)
    throw new ConfigError('PUBLIC_URL', `PUBLIC_URL must be an http:// or https:// URL (got ${shown(raw)})`);
  return raw.replace(/\/+$/, '');
}

function host(env: NodeJS.ProcessEnv): string {
  const raw = read(env, 'HOST');
  if (raw === undefined) return '0.0.0.0';
  if (isIP(raw) === 0 && !HOSTNAME.test(raw.toLowerCase())) {
    throw new ConfigError('HOST', `HOST must be an IP address or a host name (got ${shown(raw)})`);
  }
  return raw;
}

function database(env: NodeJS.ProcessEnv): DatabaseConfig {
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

function trustProxy(env: NodeJS.ProcessEnv): false | string[] {
  const raw = read(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false') return false;
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    const [addr = '', prefix, extra] = entry.split('/');
    const family = isIP(addr);
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(
        'TRUST_PROXY',
        `TRUST_PROXY must be "false" or a comma-separated list of IP addresses or CIDRs (bad entry ${shown(entry)})`,
      );
    }
  }
  return entries.length > 0 ? entries : false;
}

function baseDomain(env: NodeJS.ProcessEnv): string | undefined {
  const raw = read(env, 'BASE_DOMAIN');
  if (raw === undefined) return undefined;
  if (!HOSTNAME.test(raw)) {
    throw new ConfigError(
      'BASE_DOMAIN',
      `BASE_DOMAIN must be a lowercase host name like example.com (got ${shown(raw)})`,
    );
  }
  return raw;
}

/** Decodes base64 or base64url; the message never shows the value. */
function key(env: NodeJS.ProcessEnv, name: string, bytes: number, exact: boolean): Buffer | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const want = exact ? `exactly ${bytes} bytes` : `at least ${bytes} bytes`;
  if (!BASE64.test(raw)) {
    throw new ConfigError(
      name,
      `${name} must be base64 or base64url encoding ${want} (it contains other characters)`,
    );
  }
  const decoded = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (exact ? decoded.length !== bytes : decoded.length < bytes) {
    throw new ConfigError(name, `${name} must decode to ${want} (it decodes to ${decoded.length})`);
  }
  return decoded;
}

/**
 * Checks that a value is a private Ed25519 JWK (kty OKP, crv Ed25519, `d` and a matching `x`, optional
 * string `kid`).
 *
 * @returns a short description of the problem, or undefined when the key is valid
 */
export function ed25519JwkProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const jwk = value as Record<string, unknown>;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') return 'must have kty "OKP" and crv "Ed25519"';
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') return 'must have string members "d" and "x"';
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === ''))
    return 'has a "kid" that is not a string';
  try {
    const privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x },
      format: 'jwk',
    });
    if (createPublicKey(privateKey).export({ format: 'jwk' }).x !== jwk.x)
      return 'has an "x" that does not match "d"';
  } catch {
    return 'is not a valid Ed25519 private key';
  }
  return undefined;
}

function jwtKey(env: NodeJS.ProcessEnv, name = 'JWT_PRIVATE_KEY'): JWK | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, `${name} must be a JSON Ed25519 private JWK (it is not valid JSON)`);
  }
  const problem = ed25519JwkProblem(parsed);
  if (problem) throw new ConfigError(name, `${name} must be an Ed25519 private JWK; it ${problem}`);
  return parsed as JWK;
}

function secretsFromEnv(env: NodeJS.ProcessEnv, nodeEnv: NodeEnv): SecretsFromEnv {
  const required = (name: string): never => {
    throw new ConfigError(name, `${name} is required when NODE_ENV=production`);
  };
  const sessionSecret = key(env, 'SESSION_SECRET', 32, false);
  if (!sessionSecret && nodeEnv === 'production') required('SESSION_SECRET');
  const kek = key(env, 'KEK', 32, true);
  if (!kek && nodeEnv === 'production') required('KEK');
  const jwtPrivateJwk = jwtKey(env);
  if (!jwtPrivateJwk && nodeEnv === 'production') required('JWT_PRIVATE_KEY');
  const auditPrivateJwk = jwtKey(env, 'AUDIT_SIGNING_KEY');
  if (!auditPrivateJwk && nodeEnv === 'production') required('AUDIT_SIGNING_KEY');
  const out: SecretsFromEnv = {};
  if (sessionSecret) out.sessionSecret = sessionSecret;
  if (kek) out.kek = kek;
  if (jwtPrivateJwk) out.jwtPrivateJwk = jwtPrivateJwk;
  if (auditPrivateJwk) out.auditPrivateJwk = auditPrivateJwk;
  return out;
}

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
