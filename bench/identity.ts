/**
 * Identity fixtures for the HTTP benchmarks: users with owner memberships inserted in bulk as superuser,
 * the real composition root on a given port, and login / token issuance over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { compose, type Composition } from '../src/app/compose.js';
import { allPermissions } from '../src/platform/authz/permissions.js';
import type { Authenticator } from '../src/platform/http/auth.js';
import { uuidv7 } from '../src/platform/ids.js';
import { createLogger } from '../src/platform/logger.js';
import type { Secrets } from '../src/platform/secrets.js';

/** A seeded user: an ACTIVE owner of `orgId` (their last organization), with a password. */
export interface BenchUser {
  readonly userId: string;
  readonly orgId: string;
  readonly email: string;
  readonly password: string;
}

/** An Ed25519 JWT key shaped like `loadSecrets()`'s (as `testJwtKey` in the tokens module's test support). */
export async function benchJwtKey(): Promise<Secrets['jwtKeys'][number]> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { kty, crv, x, d } = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty, crv, x }, 'sha256');
  return {
    kid,
    privateJwk: { kty, crv, x, d, kid, alg: 'EdDSA' },
    publicJwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' },
  };
}

/**
 * Inserts one user per organization (verified email, `passwordHashes[i]` made by the app's hasher for
 * `password`) with an ACTIVE owner membership, as superuser (RLS does not apply), in one statement each.
 */
export async function seedOwners(
  adminUrl: string,
  orgIds: readonly string[],
  password: string,
  passwordHashes: readonly string[],
): Promise<BenchUser[]> {
  if (passwordHashes.length !== orgIds.length) throw new Error('one password hash per organization');
  const run = randomBytes(3).toString('hex');
  const users: BenchUser[] = orgIds.map((orgId, i) => ({
    userId: uuidv7(),
    orgId,
    email: `bench-${run}-${i}@example.test`,
    password,
  }));
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('begin');
    await admin.query(
      `insert into users (id, email, email_normalized, password_hash, email_verified_at, last_organization_id)
       select u.id, u.email, u.email, u.hash, now(), u.org
         from unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[]) as u(id, email, hash, org)`,
      [users.map((u) => u.userId), users.map((u) => u.email), passwordHashes, users.map((u) => u.orgId)],
    );
    await admin.query(
      `insert into memberships (organization_id, user_id, role, status)
       select u.org, u.id, 'owner', 'active' from unnest($1::uuid[], $2::uuid[]) as u(id, org)`,
      [users.map((u) => u.userId), users.map((u) => u.orgId)],
    );
    await admin.query('commit');
    await admin.query('analyze users, memberships');
  } finally {
    await admin.end();
  }
  return users;
}

/** The real composition (`compose`) as the benchmarks run it: no job worker, silent log, plain-HTTP cookies. */
export async function composeBenchApp(opts: {
  databaseUrl: string;
  /** The key vault of the provisioned database (`ProvisionedDatabase.keyVaultUrl`). */
  keyVaultUrl: string;
  poolSize: number;
  publicUrl: string;
  trustProxy: false | string[];
  /** Replaces the real authenticator (the `app-noauth` reference of bench/http-read.ts). */
  authenticator?: Authenticator;
}): Promise<Composition> {
  return compose({
    databaseUrl: opts.databaseUrl,
    keyVaultUrl: opts.keyVaultUrl,
    poolSize: opts.poolSize,
    log: createLogger({ level: 'silent' }),
    bodyLimitBytes: 1024 * 1024,
    trustProxy: opts.trustProxy,
    version: 'bench',
    publicUrl: opts.publicUrl,
    secureCookies: false,
    secrets: { jwtKeys: [await benchJwtKey()], kek: randomBytes(32), auditKey: await benchJwtKey() },
    mailFrom: 'SaaSReady <no-reply@bench.test>',
    devMailbox: false,
    runJobs: false,
    authenticator: opts.authenticator,
  });
}

/**
 * A reference authenticator that verifies nothing: the user and tenant are taken from the `x-bench-user`
 * and `x-bench-org` headers, with every permission, no I/O and no crypto. With it the composition measures
 * the platform (Fastify, hooks, request context, withTenant, the projects module) without identity.
 * Benchmarks only: it must never be wired into the product's server (bench/http-app-noauth.ts serves
 * it on loopback for the `app-noauth` diagnostic of bench/http-read.ts).
 */
export function headerTrustingAuthenticator(): Authenticator {
  const permissions = new Set(allPermissions);
  const header = (v: string | string[] | undefined) => (typeof v === 'string' ? v : null);
  return {
    async authenticate(req) {
      const userId = header(req.headers['x-bench-user']);
      if (!userId) return null;
      return { principal: { kind: 'user', userId }, userId, sessionId: null, isPlatformAdmin: false };
    },
    async resolveTenant(req) {
      const tenantId = header(req.headers['x-bench-org']);
      return tenantId ? { tenantId, role: 'owner', permissions } : null;
    },
  };
}

/** `POST /v1/auth/login` over HTTP; returns the `sr_session=<token>` cookie pair. */
export async function loginOverHttp(baseUrl: string, user: BenchUser): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: user.email, password: user.password }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`login of ${user.email} answered ${res.status}: ${body}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('sr_session='));
  if (!cookie) throw new Error(`login of ${user.email} set no sr_session cookie`);
  return cookie;
}

/** `POST /v1/auth/token` with the session cookie and the allowed `Origin`; returns the access token. */
export async function issueAccessToken(
  baseUrl: string,
  origin: string,
  cookie: string,
  orgId: string,
): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, origin },
    body: JSON.stringify({ organizationId: orgId }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`token issue answered ${res.status}: ${body}`);
  return (JSON.parse(body) as { accessToken: string }).accessToken;
}

/**
 * `POST /v1/api-keys` with the session cookie and the allowed `Origin` (scope `projects:read`, a rate limit
 * the benchmark never reaches); returns the full key.
 */
export async function createApiKeyOverHttp(
  baseUrl: string,
  origin: string,
  cookie: string,
  orgId: string,
): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, origin, 'x-organization': orgId },
    body: JSON.stringify({ name: 'bench', scopes: ['projects:read'], rateLimitPerMinute: 100_000_000 }),
  });
  const body = await res.text();
  if (res.status !== 201) throw new Error(`api key creation answered ${res.status}: ${body}`);
  return (JSON.parse(body) as { secret: string }).secret;
}
