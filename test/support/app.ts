import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { allPermissions } from '../../src/platform/authz/permissions.js';
import type { Authenticated, Authenticator, ResolvedTenant } from '../../src/platform/http/auth.js';
import { createLogger } from '../../src/platform/logger.js';
import { compose, type ComposeOptions, type Composition } from '../../src/app/compose.js';
import { defaultTestSetter, testDb } from './tenancy.js';
import { testJwtKey } from '../../src/modules/tokens/tokens.test-support.js';
import { TEST_KEK } from './job-key.js';
import { createAuditSigner, createAuditVerifier } from '../../src/platform/audit/signing.js';
import { createAuditService, type AuditService } from '../../src/modules/audit/audit.service.js';
import type { WithTenant } from '../../src/platform/tenancy/with-tenant.js';

/**
 * Another provisioned database than the suite's for a test app: its runtime and worker URLs, its key
 * vault, and (for placement moves) its owner role.
 */
export interface TestAppDatabase {
  readonly url: string;
  readonly workerUrl: string;
  readonly keyVaultUrl?: string;
  readonly owner?: NonNullable<ComposeOptions['owner']>;
}

/** Captured log lines of a test app, parsed. */
export type LogLines = Record<string, unknown>[];

/** Options of {@link createTestAuthenticator}. */
export interface TestAuthenticatorOptions {
  /**
   * Resolves the tenant of a token from real data (e.g. the memberships module's lookup) instead of the
   * role and permissions fixed at `issue()`: null answers the 404 of a missing organization.
   */
  readonly resolveTenant?: (tenantId: string, userId: string) => Promise<ResolvedTenant | null>;
}

/** What a test token carries besides its tenant. */
export interface TestTokenOptions {
  readonly permissions?: ResolvedTenant['permissions'];
  readonly role?: string;
  /** A real user id (e.g. a row of `users`); a random placeholder otherwise. */
  readonly userId?: string;
  /** Stand in for a browser session with this id (null: an API-token-like principal). */
  readonly sessionId?: string;
  /** The proof of the user the request presents (a real live session's token hash, for example). */
  readonly credential?: Authenticated['credential'];
  /** Whether the user's email address is verified (default true). */
  readonly emailVerified?: boolean;
}

/**
 * An authenticator for tests only: bearer tokens minted by `issue()` map to a user and a tenant (null: a
 * token for `user` routes only, which no tenant route accepts). It stands in for the identity module's
 * verified sources; it lives under test/ and is never wired in production.
 */
export function createTestAuthenticator(opts: TestAuthenticatorOptions = {}): {
  authenticator: Authenticator & { delayMs?: number };
  issue: (tenantId: string | null, opts?: TestTokenOptions) => string;
} {
  const tokens = new Map<string, { who: Authenticated; userId: string; tenant: ResolvedTenant | null }>();
  const lookup = (req: FastifyRequest) => {
    const h = req.headers.authorization;
    const token = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : undefined;
    return token ? tokens.get(token) : undefined;
  };
  const authenticator: Authenticator & { delayMs?: number } = {
    async authenticate(req) {
      if (authenticator.delayMs) await new Promise((r) => setTimeout(r, authenticator.delayMs));
      return lookup(req)?.who ?? null;
    },
    async resolveTenant(req) {
      const entry = lookup(req);
      if (!entry?.tenant) return null;
      return opts.resolveTenant ? opts.resolveTenant(entry.tenant.tenantId, entry.userId) : entry.tenant;
    },
  };
  return {
    authenticator,
    issue: (tenantId, tokenOpts = {}) => {
      const token = randomBytes(16).toString('hex');
      const userId = tokenOpts.userId ?? `user-${token.slice(0, 6)}`;
      tokens.set(token, {
        who: {
          principal: { kind: 'user', userId },
          userId,
          sessionId: tokenOpts.sessionId ?? null,
          isPlatformAdmin: false,
          emailVerified: tokenOpts.emailVerified ?? true,
          ...(tokenOpts.credential ? { credential: tokenOpts.credential } : {}),
        },
        userId,
        tenant:
          tenantId === null
            ? null
            : {
                tenantId,
                role: tokenOpts.role ?? 'owner',
                permissions: tokenOpts.permissions ?? new Set(allPermissions),
              },
      });
      return token;
    },
  };
}

let auditKey: ReturnType<typeof testJwtKey> | undefined;
/** The audit checkpoint key every test app of this process signs with (the CLI tests pass it on). */
export function testAuditKey(): ReturnType<typeof testJwtKey> {
  auditKey ??= testJwtKey();
  return auditKey;
}

/** The audit service over `withTenant`, signing checkpoints with {@link testAuditKey} and verifying them. */
export async function testAuditService(withTenant: WithTenant): Promise<AuditService> {
  const signer = createAuditSigner(await testAuditKey());
  return createAuditService({ withTenant, signer, verifier: createAuditVerifier([signer.publicKey]) });
}

/** Webhook settings of every test app: receivers listen on 127.0.0.1 over http; retries after 1 s. */
const TEST_WEBHOOKS = {
  allowedCidrs: ['127.0.0.1/32'],
  allowHttp: true,
  retryScheduleSeconds: [1, 1],
  timeoutMs: 5000,
};

/** The real composition on the test database, with logs captured. */
export async function buildTestApp(
  opts: {
    authenticator?: Authenticator;
    bodyLimitBytes?: number;
    smtpUrl?: string;
    runJobs?: boolean;
    baseDomain?: string;
    publicUrl?: string;
    redisUrl?: string;
    /** Another provisioned database than the suite's (e.g. on a cluster the test stops and starts). */
    database?: TestAppDatabase;
    /** REQUIRE_VERIFIED_EMAIL (default true). */
    requireVerifiedEmail?: boolean;
    /** The JWT keys (instances of one deployment share them); a fresh key by default. */
    jwtKeys?: Awaited<ReturnType<typeof testJwtKey>>[];
    /** The Stripe billing provider (e.g. pointed at stripe-fake-server.ts); the local one by default. */
    stripe?: ComposeOptions['stripe'];
    /** Quota enforcement settings (a clock, the reload interval). */
    quotas?: { refreshMs?: number; now?: () => number };
    /** Social sign-in providers (e.g. pointed at an in-process OIDC provider); none by default. */
    socialSignIn?: ComposeOptions['socialSignIn'];
    /** Per-organization encryption: KMS settings, key cache TTL (local KMS on TEST_KEK by default). */
    tenantKeys?: ComposeOptions['tenantKeys'];
    /** Webhook delivery settings (SSRF exceptions, a short retry schedule, the crash hook). */
    webhooks?: ComposeOptions['webhooks'];
    /** Metering intervals (how often the aggregator runs, recorded usage is flushed); defaults otherwise. */
    usage?: ComposeOptions['usage'];
    /** TRUST_PROXY: the proxies whose `X-Forwarded-For` names the client (default false: none). */
    trustProxy?: false | string[];
    /** PLACEMENT_CACHE_TTL_MS (also how long a placement move's copy waits before its switch). */
    placementCacheTtlMs?: number;
    /** `database` placements: tenant databases and their connection cap (none by default). */
    tenantDatabases?: ComposeOptions['tenantDatabases'];
    /** TENANT_SETTER (default: TEST_TENANT_SETTER, else pooled; never detected, so no connection at build). */
    tenantSetter?: ComposeOptions['tenantSetter'];
    /** Single sign-on: http issuers, a fake TXT resolver. */
    sso?: ComposeOptions['sso'];
    /** `/scim/v2` requests per minute per token and per organization (defaults otherwise). */
    scimRateLimit?: ComposeOptions['scimRateLimit'];
  } = {},
): Promise<Composition & { logs: LogLines }> {
  const logs: LogLines = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const composition = await compose({
    databaseUrl: opts.database?.url ?? testDb().url,
    workerDatabaseUrl: opts.database?.workerUrl ?? testDb().workerUrl,
    // The owner role (placement moves): the suite database's, or the other database's when given.
    ...(opts.database
      ? opts.database.owner
        ? { owner: opts.database.owner }
        : {}
      : { owner: { url: testDb().migrationUrl, roles: testDb().roles } }),
    ...(opts.placementCacheTtlMs !== undefined ? { placementCacheTtlMs: opts.placementCacheTtlMs } : {}),
    tenantSetter: opts.tenantSetter ?? defaultTestSetter(),
    keyVaultUrl: opts.database?.keyVaultUrl ?? testDb().keyVaultUrl,
    poolSize: 4,
    log: createLogger({ level: 'info', destination }),
    bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024,
    trustProxy: opts.trustProxy ?? false,
    version: 'test',
    authenticator: opts.authenticator,
    publicUrl: opts.publicUrl ?? 'http://app.saasready.test',
    secureCookies: true,
    secrets: {
      jwtKeys: opts.jwtKeys ?? [await testJwtKey()],
      kek: TEST_KEK,
      auditKey: await testAuditKey(),
    },
    baseDomain: opts.baseDomain,
    smtpUrl: opts.smtpUrl,
    mailFrom: 'SaaSReady <no-reply@saasready.test>',
    devMailbox: false,
    // Deletions run only where test/e2e/organization-deletion.test.ts runs them (see compose.ts).
    scheduleDeletions: false,
    runJobs: opts.runJobs ?? false,
    redisUrl: opts.redisUrl,
    requireVerifiedEmail: opts.requireVerifiedEmail,
    stripe: opts.stripe,
    socialSignIn: opts.socialSignIn,
    quotas: opts.quotas,
    tenantKeys: opts.tenantKeys,
    // Every app of a test database runs jobs from the same queue, so any of them may send another app's
    // webhook delivery: they all share the receivers' settings (loopback allowed, short retries) and a
    // test passes only what is its own (the crash hook).
    webhooks: { ...TEST_WEBHOOKS, ...opts.webhooks },
    usage: opts.usage,
    tenantDatabases: opts.tenantDatabases,
    sso: opts.sso,
    scimRateLimit: opts.scimRateLimit,
  });
  return Object.assign(composition, { logs });
}
