import { generateKeyPairSync, randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function ed25519Jwk(): { kty: string; crv: string; d: string; x: string } {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', d: jwk.d!, x: jwk.x! };
}

const b64 = (n: number): string => randomBytes(n).toString('base64');
const prodSecrets = (): NodeJS.ProcessEnv => ({
  SESSION_SECRET: b64(48),
  KEK: randomBytes(32).toString('base64url'),
  JWT_PRIVATE_KEY: JSON.stringify(ed25519Jwk()),
  AUDIT_SIGNING_KEY: JSON.stringify(ed25519Jwk()),
});
const external = {
  DATABASE_URL: 'postgres://app:pw@db:5432/x',
  MIGRATION_DATABASE_URL: 'postgresql://owner@db/x',
  WORKER_DATABASE_URL: 'postgres://worker:pw@db/x',
};

/** Loads the config expecting a ConfigError; checks it is one clean line naming the variable. */
function failure(env: NodeJS.ProcessEnv, variable: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.variable).toBe(variable);
  expect(err.message).toContain(variable);
  expect(err.message).not.toMatch(/[\r\n]|\(\S+:\d+:\d+\)/);
  return err;
}

describe('loadConfig: defaults', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      nodeEnv: 'development',
      host: '0.0.0.0',
      port: 3000,
      publicUrl: undefined,
      dataDir: path.resolve('./.data'),
      database: { mode: 'embedded', port: 54329 },
      dbPoolSize: 10,
      dbStatementCache: true,
      placementCacheTtlMs: 60_000,
      tenantSetter: 'auto',
      redisUrl: undefined,
      logLevel: 'info',
      bodyLimitBytes: 1048576,
      shutdownTimeoutMs: 10000,
      trustProxy: false,
      smtpUrl: undefined,
      mailFrom: 'SaaSReady <no-reply@saasready.local>',
      requireVerifiedEmail: true,
      usage: { latenessDays: 7, retentionDays: 400 },
      gdpr: {
        linkTtlSeconds: 600,
        archiveRetentionHours: 168,
        maxArchiveBytes: 104_857_600,
        retention: {
          sessions: 30,
          refreshTokens: 30,
          emailTokens: 7,
          invitations: 90,
          idempotencyKeys: 7,
          webhooks: 30,
        },
      },
      scimRateLimit: { perToken: 600, perOrganization: 1200 },
      orgDeletionGraceDays: 30,
      billingClosePeriods: true,
      socialSignIn: { providers: [] },
      webhooks: {
        allowedCidrs: [],
        allowHttp: false,
        retryScheduleSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000],
        timeoutMs: 10000,
        disableAfterDays: 5,
        secretOverlapHours: 24,
      },
      tenantKeys: {
        kmsProvider: 'local',
        aws: undefined,
        kekPrevious: [],
        keyVaultUrl: undefined,
        keyCacheTtlMs: 300_000,
      },
      tenantDatabases: {
        databases: {},
        regions: {},
        maxConnections: 20,
        poolSize: 10,
        idleTimeoutMs: 30_000,
        acquireTimeoutMs: 5_000,
      },
      baseDomain: undefined,
      secretsFromEnv: {},
      auditRetiredKeys: [],
    });
  });

  it('reads the SCIM rate limits within their bounds', () => {
    expect(
      loadConfig({ SCIM_RATE_LIMIT_PER_MINUTE: '60', SCIM_ORG_RATE_LIMIT_PER_MINUTE: '90' }).scimRateLimit,
    ).toEqual({ perToken: 60, perOrganization: 90 });
    expect(() => loadConfig({ SCIM_RATE_LIMIT_PER_MINUTE: '0' })).toThrow(/SCIM_RATE_LIMIT_PER_MINUTE/);
    expect(() => loadConfig({ SCIM_ORG_RATE_LIMIT_PER_MINUTE: 'many' })).toThrow(
      /SCIM_ORG_RATE_LIMIT_PER_MINUTE/,
    );
  });

  it('reads the usage metering settings within their bounds', () => {
    expect(loadConfig({ USAGE_LATENESS_DAYS: '3', USAGE_RETENTION_DAYS: '90' }).usage).toEqual({
      latenessDays: 3,
      retentionDays: 90,
    });
    expect(loadConfig({}).orgDeletionGraceDays).toBe(30);
    expect(loadConfig({ ORG_DELETION_GRACE_DAYS: '7' }).orgDeletionGraceDays).toBe(7);
    expect(() => loadConfig({ ORG_DELETION_GRACE_DAYS: '0' })).toThrow(/ORG_DELETION_GRACE_DAYS/);
    expect(() => loadConfig({ ORG_DELETION_GRACE_DAYS: 'soon' })).toThrow(/ORG_DELETION_GRACE_DAYS/);
    expect(() => loadConfig({ USAGE_LATENESS_DAYS: '31' })).toThrow(/USAGE_LATENESS_DAYS/);
    // Never shorter than the longest lateness window plus the partitions kept behind it.
    expect(() => loadConfig({ USAGE_RETENTION_DAYS: '59' })).toThrow(/USAGE_RETENTION_DAYS/);
  });

  it('reads the GDPR export and retention settings within their bounds', () => {
    const gdpr = loadConfig({
      EXPORT_LINK_TTL_SECONDS: '60',
      EXPORT_RETENTION_HOURS: '24',
      EXPORT_MAX_BYTES: '1048576',
      RETENTION_SESSIONS_DAYS: '1',
      RETENTION_REFRESH_TOKENS_DAYS: '2',
      RETENTION_EMAIL_TOKENS_DAYS: '3',
      RETENTION_INVITATIONS_DAYS: '3650',
      RETENTION_IDEMPOTENCY_KEYS_DAYS: '365',
      RETENTION_WEBHOOKS_DAYS: '14',
    }).gdpr;
    expect(gdpr).toEqual({
      linkTtlSeconds: 60,
      archiveRetentionHours: 24,
      maxArchiveBytes: 1_048_576,
      retention: {
        sessions: 1,
        refreshTokens: 2,
        emailTokens: 3,
        invitations: 3650,
        idempotencyKeys: 365,
        webhooks: 14,
      },
    });
    for (const [name, bad] of [
      ['EXPORT_LINK_TTL_SECONDS', '3601'],
      ['EXPORT_RETENTION_HOURS', '0'],
      ['EXPORT_MAX_BYTES', '1000'],
      ['RETENTION_SESSIONS_DAYS', '0'],
      ['RETENTION_IDEMPOTENCY_KEYS_DAYS', '366'],
      ['RETENTION_INVITATIONS_DAYS', 'soon'],
      ['RETENTION_WEBHOOKS_DAYS', '0'],
    ]) {
      expect(() => loadConfig({ [name!]: bad })).toThrow(new RegExp(`^${name} must be an integer`));
    }
  });

  it('reads the Stripe provider settings: none without a key, both secrets with one, validated mappings', () => {
    expect(loadConfig({}).stripe).toBeUndefined();
    const key = 'sk_test_abc123';
    expect(() => loadConfig({ STRIPE_SECRET_KEY: key })).toThrow(/STRIPE_WEBHOOK_SECRET is required/);
    expect(() => loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_1' })).toThrow(/STRIPE_SECRET_KEY is required/);
    expect(() => loadConfig({ STRIPE_SECRET_KEY: 'pk_test_1', STRIPE_WEBHOOK_SECRET: 'whsec_1' })).toThrow(
      /STRIPE_SECRET_KEY must be/,
    );
    const stripe = loadConfig({
      STRIPE_SECRET_KEY: key,
      STRIPE_WEBHOOK_SECRET: 'whsec_xyz',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      STRIPE_GRACE_DAYS: '3',
      STRIPE_PRICES: '{"pro":"price_123"}',
      STRIPE_METER_EVENTS: '{"api_requests":"api_calls"}',
    }).stripe;
    expect(stripe).toEqual({
      secretKey: key,
      webhookSecret: 'whsec_xyz',
      apiBase: { host: '127.0.0.1', port: 12111, protocol: 'http' },
      graceDays: 3,
      planPrices: { pro: 'price_123' },
      meterEvents: { api_requests: 'api_calls' },
    });
    const base = { STRIPE_SECRET_KEY: key, STRIPE_WEBHOOK_SECRET: 'whsec_xyz' };
    expect(loadConfig(base).stripe).toMatchObject({ apiBase: undefined, graceDays: 7 });
    expect(() => loadConfig({ ...base, STRIPE_GRACE_DAYS: '0' })).toThrow(/STRIPE_GRACE_DAYS/);
    expect(() => loadConfig({ ...base, STRIPE_PRICES: '["x"]' })).toThrow(/STRIPE_PRICES/);
    expect(() => loadConfig({ ...base, STRIPE_PRICES: '{"pro":"price 1"}' })).toThrow(/STRIPE_PRICES/);
    expect(() => loadConfig({ ...base, STRIPE_API_BASE: 'ftp://x' })).toThrow(/STRIPE_API_BASE/);
    // Review 2: http only to this machine; no credentials or query dropped silently; every meter key;
    // one plan per price.
    expect(() => loadConfig({ ...base, STRIPE_API_BASE: 'http://proxy.example.com' })).toThrow(/https/);
    expect(loadConfig({ ...base, STRIPE_API_BASE: 'http://localhost:12111' }).stripe?.apiBase?.port).toBe(
      12111,
    );
    expect(loadConfig({ ...base, STRIPE_API_BASE: 'https://proxy.example.com' }).stripe?.apiBase?.host).toBe(
      'proxy.example.com',
    );
    expect(() => loadConfig({ ...base, STRIPE_API_BASE: 'https://u:p@proxy.example.com' })).toThrow(
      /credentials/,
    );
    expect(() => loadConfig({ ...base, STRIPE_API_BASE: 'https://proxy.example.com?x=1' })).toThrow(/query/);
    expect(
      loadConfig({
        ...base,
        STRIPE_METER_EVENTS: '{"storage.gb":"storage","a_63_chars_meter_key_is_fine_here.and-long-ok":"e"}',
      }).stripe?.meterEvents['storage.gb'],
    ).toBe('storage');
    expect(() => loadConfig({ ...base, STRIPE_PRICES: '{"pro":"price_1","team":"price_1"}' })).toThrow(
      /repeats/,
    );
    // Review 3: a meter event name is at most 100 characters (Stripe's limit and the ledger's column).
    expect(
      loadConfig({ ...base, STRIPE_METER_EVENTS: JSON.stringify({ m: 'e'.repeat(100) }) }).stripe?.meterEvents
        .m,
    ).toHaveLength(100);
    expect(() =>
      loadConfig({ ...base, STRIPE_METER_EVENTS: JSON.stringify({ m: 'e'.repeat(101) }) }),
    ).toThrow(/STRIPE_METER_EVENTS/);
    // A message never shows a secret.
    try {
      loadConfig({ STRIPE_SECRET_KEY: 'sk_live_secret!value', STRIPE_WEBHOOK_SECRET: 'whsec_1' });
    } catch (err) {
      expect((err as Error).message).not.toContain('secret!value');
    }
  });

  it('treats empty values as unset and ignores unknown variables', () => {
    const config = loadConfig({ PORT: '', LOG_LEVEL: '  ', TRUST_PROXY: '', SOMETHING_ELSE: '!!' });
    expect(config.port).toBe(3000);
    expect(config.logLevel).toBe('info');
    expect(config.trustProxy).toBe(false);
  });

  it('parses valid values', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      PUBLIC_URL: 'https://app.example.com/',
      DATA_DIR: 'rel/dir',
      DB_POOL_SIZE: '200',
      REDIS_URL: 'rediss://:pw@cache:6380/0',
      LOG_LEVEL: 'silent',
      BODY_LIMIT_BYTES: '1024',
      SHUTDOWN_TIMEOUT_MS: '600000',
      TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1/128',
      BASE_DOMAIN: 'saas.example.com',
    });
    expect(config).toMatchObject({
      nodeEnv: 'test',
      host: '127.0.0.1',
      port: 0,
      publicUrl: 'https://app.example.com',
      dataDir: path.resolve('rel/dir'),
      dbPoolSize: 200,
      redisUrl: 'rediss://:pw@cache:6380/0',
      logLevel: 'silent',
      bodyLimitBytes: 1024,
      shutdownTimeoutMs: 600000,
      trustProxy: ['10.0.0.0/8', '127.0.0.1', '::1/128'],
      baseDomain: 'saas.example.com',
    });
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ DB_STATEMENT_CACHE: 'off' }).dbStatementCache).toBe(false);
  });
});

describe('loadConfig: database modes', () => {
  it('is embedded when neither URL is set, on EMBEDDED_PG_PORT', () => {
    expect(loadConfig({ EMBEDDED_PG_PORT: '6000' }).database).toEqual({ mode: 'embedded', port: 6000 });
  });

  it('is external when the three URLs are set', () => {
    expect(loadConfig({ ...external, EMBEDDED_PG_PORT: 'ignored' }).database).toEqual({
      mode: 'external',
      url: external.DATABASE_URL,
      migrationUrl: external.MIGRATION_DATABASE_URL,
      workerUrl: external.WORKER_DATABASE_URL,
    });
  });

  it('names a missing one when only some URLs are set', () => {
    const { WORKER_DATABASE_URL, ...withoutWorker } = external;
    failure({ DATABASE_URL: external.DATABASE_URL }, 'MIGRATION_DATABASE_URL');
    failure({ MIGRATION_DATABASE_URL: external.MIGRATION_DATABASE_URL }, 'DATABASE_URL');
    failure(withoutWorker, 'WORKER_DATABASE_URL');
    failure({ WORKER_DATABASE_URL }, 'DATABASE_URL');
  });
});

describe('loadConfig: each bad variable gives one clear line', () => {
  const cases: [variable: string, env: NodeJS.ProcessEnv][] = [
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['HOST', { HOST: 'bad host!' }],
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '65536' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '80.5' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'ftp://files.example.com' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'example.com' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'https://host.example/tenant;v=2' }],
    ['DATABASE_URL', { ...external, DATABASE_URL: 'mysql://app:pw@db/x' }],
    ['DATABASE_URL', { ...external, DATABASE_URL: 'postgres://db:5432/x' }],
    ['MIGRATION_DATABASE_URL', { ...external, MIGRATION_DATABASE_URL: 'not a url' }],
    ['WORKER_DATABASE_URL', { ...external, WORKER_DATABASE_URL: 'postgres://db/x' }],
    ['EMBEDDED_PG_PORT', { EMBEDDED_PG_PORT: '0' }],
    ['EMBEDDED_PG_PORT', { EMBEDDED_PG_PORT: 'x' }],
    ['DB_POOL_SIZE', { DB_POOL_SIZE: '0' }],
    ['DB_POOL_SIZE', { DB_POOL_SIZE: '201' }],
    ['DB_STATEMENT_CACHE', { DB_STATEMENT_CACHE: 'false' }],
    ['REDIS_URL', { REDIS_URL: 'http://cache:6379' }],
    ['REDIS_URL', { REDIS_URL: 'nope' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '1023' }],
    ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '104857601' }],
    ['SHUTDOWN_TIMEOUT_MS', { SHUTDOWN_TIMEOUT_MS: '99' }],
    ['SHUTDOWN_TIMEOUT_MS', { SHUTDOWN_TIMEOUT_MS: '1e4' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'true' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/33' }],
    ['TRUST_PROXY', { TRUST_PROXY: '127.0.0.1,::1/129' }],
    ['TRUST_PROXY', { TRUST_PROXY: '1.2.3' }],
    ['TRUST_PROXY', { TRUST_PROXY: '10.0.0.0/8/8' }],
    ['BASE_DOMAIN', { BASE_DOMAIN: 'Example.com' }],
    ['BASE_DOMAIN', { BASE_DOMAIN: 'exa mple.com' }],
    ['BASE_DOMAIN', { BASE_DOMAIN: '-example.com' }],
    ['SESSION_SECRET', { SESSION_SECRET: b64(31) }],
    ['SESSION_SECRET', { SESSION_SECRET: 'not*base64*at*all*not*base64*at*all*not*base64' }],
    ['KEK', { KEK: b64(31) }],
    ['KEK', { KEK: b64(33) }],
    ['JWT_PRIVATE_KEY', { JWT_PRIVATE_KEY: '{not json' }],
    ['JWT_PRIVATE_KEY', { JWT_PRIVATE_KEY: JSON.stringify({ ...ed25519Jwk(), crv: 'X25519' }) }],
    ['JWT_PRIVATE_KEY', { JWT_PRIVATE_KEY: JSON.stringify({ ...ed25519Jwk(), d: undefined }) }],
    ['JWT_PRIVATE_KEY', { JWT_PRIVATE_KEY: JSON.stringify({ ...ed25519Jwk(), x: ed25519Jwk().x }) }],
    ['JWT_PRIVATE_KEY', { JWT_PRIVATE_KEY: JSON.stringify({ ...ed25519Jwk(), kid: 7 }) }],
    ['JWT_PRIVATE_KEY', { JWT_PRIVATE_KEY: '[]' }],
  ];

  it.each(cases)('%s: %j', (variable, env) => {
    failure(env, variable);
  });

  it('shows the offending value for plain settings', () => {
    expect(failure({ PORT: 'abc' }, 'PORT').message).toBe(
      'PORT must be an integer from 0 to 65535 (got "abc")',
    );
  });

  it('never echoes secret values', () => {
    const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQ';
    expect(failure({ SESSION_SECRET: secret }, 'SESSION_SECRET').message).not.toContain(secret);
    expect(failure({ KEK: secret }, 'KEK').message).not.toContain(secret);
    const jwk = { ...ed25519Jwk(), crv: 'P-256' };
    expect(failure({ JWT_PRIVATE_KEY: JSON.stringify(jwk) }, 'JWT_PRIVATE_KEY').message).not.toContain(jwk.d);
    const db = { ...external, DATABASE_URL: 'mysql://app:hunter2@db/x' };
    expect(failure(db, 'DATABASE_URL').message).not.toContain('hunter2');
    expect(failure({ REDIS_URL: 'http://:hunter2@cache' }, 'REDIS_URL').message).not.toContain('hunter2');
  });

  it('reports the first problem in a fixed order', () => {
    failure({ LOG_LEVEL: 'loud', PORT: 'abc', KEK: 'x' }, 'PORT');
    failure({ KEK: 'x', LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
  });
});

describe('loadConfig: secrets from the environment', () => {
  it('decodes base64 and base64url secrets and the JWK', () => {
    const session = randomBytes(40);
    const kek = randomBytes(32);
    const jwk = { ...ed25519Jwk(), kid: 'k1' };
    const config = loadConfig({
      SESSION_SECRET: session.toString('base64url'),
      KEK: kek.toString('base64'),
      JWT_PRIVATE_KEY: JSON.stringify(jwk),
    });
    expect(config.secretsFromEnv.sessionSecret?.equals(session)).toBe(true);
    expect(config.secretsFromEnv.kek?.equals(kek)).toBe(true);
    expect(config.secretsFromEnv.jwtPrivateJwk).toEqual(jwk);
  });

  it('requires all four in production, in order', () => {
    const all = prodSecrets();
    const prod = { NODE_ENV: 'production' };
    const err = failure(prod, 'SESSION_SECRET');
    expect(err.message).toBe('SESSION_SECRET is required when NODE_ENV=production');
    failure({ ...prod, SESSION_SECRET: all.SESSION_SECRET }, 'KEK');
    failure({ ...prod, SESSION_SECRET: all.SESSION_SECRET, KEK: all.KEK }, 'JWT_PRIVATE_KEY');
    failure({ ...prod, KEK: all.KEK, JWT_PRIVATE_KEY: all.JWT_PRIVATE_KEY }, 'SESSION_SECRET');
    failure(
      { ...prod, SESSION_SECRET: all.SESSION_SECRET, KEK: all.KEK, JWT_PRIVATE_KEY: all.JWT_PRIVATE_KEY },
      'AUDIT_SIGNING_KEY',
    );
    failure({ ...prod, ...all, AUDIT_SIGNING_KEY: '{not json' }, 'AUDIT_SIGNING_KEY');
    const config = loadConfig({ ...prod, ...all });
    expect(config.nodeEnv).toBe('production');
    expect(Object.keys(config.secretsFromEnv).sort()).toEqual([
      'auditPrivateJwk',
      'jwtPrivateJwk',
      'kek',
      'sessionSecret',
    ]);
  });

  it('reads retired audit public keys, refusing private ones', () => {
    const { d: _d, ...pub } = ed25519Jwk();
    expect(
      loadConfig({ AUDIT_RETIRED_KEYS: JSON.stringify([{ ...pub, kid: 'old' }]) }).auditRetiredKeys,
    ).toEqual([{ kid: 'old', jwk: { ...pub, kid: 'old' } }]);
    expect(loadConfig({}).auditRetiredKeys).toEqual([]);
    failure({ AUDIT_RETIRED_KEYS: JSON.stringify([{ ...ed25519Jwk(), kid: 'old' }]) }, 'AUDIT_RETIRED_KEYS');
    failure({ AUDIT_RETIRED_KEYS: '{"kid":"x"}' }, 'AUDIT_RETIRED_KEYS');
    failure({ AUDIT_RETIRED_KEYS: JSON.stringify([pub]) }, 'AUDIT_RETIRED_KEYS');
  });

  it('TENANT_SETTER is auto, pooled or citus (default auto)', () => {
    expect(loadConfig({}).tenantSetter).toBe('auto');
    expect(loadConfig({ TENANT_SETTER: 'citus' }).tenantSetter).toBe('citus');
    expect(loadConfig({ TENANT_SETTER: 'pooled' }).tenantSetter).toBe('pooled');
    expect(() => loadConfig({ TENANT_SETTER: 'set_config' })).toThrow(/TENANT_SETTER must be one of/);
  });

  it('BILLING_CLOSE_PERIODS is true unless set to false, and nothing else', () => {
    expect(loadConfig({}).billingClosePeriods).toBe(true);
    expect(loadConfig({ BILLING_CLOSE_PERIODS: 'false' }).billingClosePeriods).toBe(false);
    expect(() => loadConfig({ BILLING_CLOSE_PERIODS: 'no' })).toThrow(/BILLING_CLOSE_PERIODS/);
  });

  it('WEBHOOK_* settings: CIDRs, http, the retry schedule and the limits, each validated', () => {
    const w = loadConfig({
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32, 10.1.0.0/16,::1',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_RETRY_SCHEDULE: '1,2,3',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_DISABLE_AFTER_DAYS: '2',
      WEBHOOK_SECRET_OVERLAP_HOURS: '0',
    }).webhooks;
    expect(w).toEqual({
      allowedCidrs: ['127.0.0.1/32', '10.1.0.0/16', '::1'],
      allowHttp: true,
      retryScheduleSeconds: [1, 2, 3],
      timeoutMs: 2000,
      disableAfterDays: 2,
      secretOverlapHours: 0,
    });
    expect(() => loadConfig({ WEBHOOK_SECRET_OVERLAP_HOURS: '169' })).toThrow(/WEBHOOK_SECRET_OVERLAP_HOURS/);
    expect(() => loadConfig({ WEBHOOK_ALLOWED_CIDRS: '10.0.0.0/33' })).toThrow(/WEBHOOK_ALLOWED_CIDRS/);
    expect(() => loadConfig({ WEBHOOK_ALLOW_HTTP: 'yes' })).toThrow(/WEBHOOK_ALLOW_HTTP/);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '5,x' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '0' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: '10' })).toThrow(/WEBHOOK_TIMEOUT_MS/);
    expect(() => loadConfig({ WEBHOOK_DISABLE_AFTER_DAYS: '0' })).toThrow(/WEBHOOK_DISABLE_AFTER_DAYS/);
  });

  it('REQUIRE_VERIFIED_EMAIL is true unless set to false, and nothing else', () => {
    expect(loadConfig({ REQUIRE_VERIFIED_EMAIL: 'false' }).requireVerifiedEmail).toBe(false);
    expect(loadConfig({ REQUIRE_VERIFIED_EMAIL: 'true' }).requireVerifiedEmail).toBe(true);
    expect(() => loadConfig({ REQUIRE_VERIFIED_EMAIL: 'no' })).toThrow(
      /REQUIRE_VERIFIED_EMAIL must be one of/,
    );
  });

  it('does not require secrets outside production', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).secretsFromEnv).toEqual({});
  });
});
