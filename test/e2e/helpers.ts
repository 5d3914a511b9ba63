/**
 * End-to-end helpers: the REAL composition (real authenticator, real mail through the suite's SMTP sink),
 * driven over HTTP with `app.inject`, one cookie jar per simulated browser.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Response } from 'light-my-request';
import { buildTestApp, type LogLines, type TestAppDatabase } from '../support/app.js';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import { connect, testDb } from '../support/tenancy.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import type { Composition, ComposeOptions } from '../../src/app/compose.js';
import type { TenantDatabasesConfig } from '../../src/platform/config-tenant-databases.js';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';

/** The test public URL: the allowed CSRF origin and the base of mailed links. */
export const ORIGIN = 'http://app.saasready.test';
export const BASE_DOMAIN = 'saasready.test';

export type E2eApp = Composition & { logs: LogLines };

/** The body every "no such organization / not yours" answer has. */
export const ORG_NOT_FOUND = { error: { code: 'NOT_FOUND', message: 'organization not found' } };

/**
 * Every credential a test handled (passwords, cookies, tokens, TOTP secrets, recovery codes): what
 * {@link expectNoSecretsIn} looks for in the logs.
 */
export const secretsSeen = new Set<string>();
/** Adds a credential to {@link secretsSeen}; returns it. */
export const rememberSecret = (s: string) => {
  secretsSeen.add(s);
  return s;
};

type StartOptions = NonNullable<Parameters<typeof startApp>[0]>;

/** The real composition with jobs running and mail going to the suite's SMTP sink. */
export async function startApp(
  opts: {
    quotas?: { refreshMs?: number; now?: () => number };
    tenantKeys?: ComposeOptions['tenantKeys'];
    webhooks?: ComposeOptions['webhooks'];
    /** How often the usage aggregator runs and recorded usage is flushed (default 5 s each). */
    usage?: { aggregateEveryMs?: number; recordFlushMs?: number };
    /** Another provisioned database than the suite's (with its owner role: placement moves). */
    database?: TestAppDatabase;
    /** PLACEMENT_CACHE_TTL_MS (a placement move's copy waits this long before its switch). */
    placementCacheTtlMs?: number;
    /** TENANT_SETTER (default: the tests' default, TEST_TENANT_SETTER or pooled). */
    tenantSetter?: ComposeOptions['tenantSetter'];
    /** Social sign-in providers (none by default). */
    socialSignIn?: ComposeOptions['socialSignIn'];
    /** Single sign-on: http issuers, a fake TXT resolver. */
    sso?: ComposeOptions['sso'];
    /** SCIM requests per minute per token and per organization. */
    scimRateLimit?: ComposeOptions['scimRateLimit'];
    /** `database` placements: tenant databases and their connection cap (none by default). */
    tenantDatabases?: ComposeOptions['tenantDatabases'];
  } = {},
): Promise<E2eApp> {
  return buildTestApp({
    smtpUrl: sharedMailbox().url,
    runJobs: true,
    baseDomain: BASE_DOMAIN,
    publicUrl: ORIGIN,
    ...opts,
  });
}

/**
 * Closes what {@link startApp} built, after checking that no credential the file handled reached the
 * logs (every e2e file gets that check for free).
 */
export async function stopApp(c: E2eApp | undefined): Promise<void> {
  if (!c) return;
  try {
    expectNoSecretsIn(c.logs);
  } finally {
    await c.app.close();
    await c.close();
  }
}

/**
 * One {@link startApp} composition for the calling file (or `describe` block): started before its first
 * test and handed to `keep`, stopped by {@link stopApp} after its last. `opts` may be a function, called
 * when the app starts (after the hooks registered before this call ran: a database of the file's own).
 */
export function startAppAround(
  keep: (c: E2eApp) => void,
  opts: StartOptions | (() => StartOptions) = {},
): void {
  let c: E2eApp | undefined;
  beforeAll(async () => {
    c = await startApp(typeof opts === 'function' ? opts() : opts);
    keep(c);
  });
  afterAll(() => stopApp(c));
}

/**
 * A migrated database of the calling file's own (`label`, test/support/provision.ts): provisioned before
 * its first test and handed to `keep`, dropped after its last (after the hooks registered after this call).
 */
export function ownDatabaseAround(label: string, keep: (db: ProvisionedDatabase) => void): void {
  let db: ProvisionedDatabase | undefined;
  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, label);
    keep(db);
  });
  afterAll(async () => {
    if (db) await dropProvisioned(db);
  });
}

/**
 * The `tenantDatabases` option of {@link startApp}: `databases` with connection sizes `size` (and regions,
 * when given), idle and acquire timeouts at TENANT_DB_IDLE_TIMEOUT_MS's and TENANT_DB_ACQUIRE_TIMEOUT_MS's
 * defaults.
 */
export const tenantDatabasesOption = (
  databases: TenantDatabasesConfig['databases'],
  size: Pick<TenantDatabasesConfig, 'maxConnections' | 'poolSize' | 'regions' | 'defaultRegion'>,
): TenantDatabasesConfig => ({ databases, ...size, idleTimeoutMs: 30_000, acquireTimeoutMs: 5_000 });

export const uniqueEmail = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}@e2e.example.com`;
export const newPassword = () => rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
export const uniqueSlug = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A browser: sends the allowed Origin, keeps the `sr_session` cookie the server sets. */
export class Browser {
  cookie: string | null = null;
  /** The SSO flow cookie (`sr_sso`) this browser holds, sent with the session cookie. */
  ssoFlow: string | null = null;
  /** The sign-up cookie (`sr_signup`): this browser signed up, so its verification link signs it in. */
  signUp: string | null = null;
  constructor(readonly c: E2eApp) {}

  async req(
    method: Method,
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const res = await this.c.app.inject({
      method,
      url,
      payload: payload as string | object | undefined,
      headers: { origin: ORIGIN, ...this.cookieHeader(), ...headers },
    });
    this.take(res);
    return res;
  }
  get = (url: string, headers?: Record<string, string>) => this.req('GET', url, undefined, headers);
  post = (url: string, body?: unknown, headers?: Record<string, string>) =>
    this.req('POST', url, body ?? {}, headers);
  put = (url: string, body?: unknown, headers?: Record<string, string>) =>
    this.req('PUT', url, body, headers);
  patch = (url: string, body?: unknown, headers?: Record<string, string>) =>
    this.req('PATCH', url, body, headers);
  delete = (url: string, headers?: Record<string, string>) => this.req('DELETE', url, undefined, headers);

  /** A second browser holding this one's current cookie (e.g. to keep an old cookie after rotation). */
  clone(): Browser {
    const b = new Browser(this.c);
    b.cookie = this.cookie;
    return b;
  }

  private cookieHeader(): { cookie?: string } {
    const all = [
      this.cookie,
      this.ssoFlow ? `sr_sso=${this.ssoFlow}` : null,
      this.signUp ? `sr_signup=${this.signUp}` : null,
    ].filter(Boolean);
    return all.length ? { cookie: all.join('; ') } : {};
  }

  private take(res: Response): void {
    const raw = res.headers['set-cookie'];
    for (const line of raw === undefined ? [] : [raw].flat()) {
      const signUp = /^sr_signup=([^;]*)/.exec(line);
      if (signUp) this.signUp = signUp[1] === '' || /max-age=0(?:;|$)/i.test(line) ? null : signUp[1]!;
      const flow = /^sr_sso=([^;]*)/.exec(line);
      if (flow) this.ssoFlow = flow[1] === '' || /max-age=0(?:;|$)/i.test(line) ? null : flow[1]!;
      const m = /^sr_session=([^;]*)/.exec(line);
      if (!m) continue;
      const cleared = m[1] === '' || /max-age=0(?:;|$)/i.test(line);
      this.cookie = cleared ? null : `sr_session=${rememberSecret(m[1]!)}`;
    }
  }
}

/** Requests with only a bearer token (no cookie, no Origin: an API client). */
export function api(c: E2eApp, token: string) {
  rememberSecret(token);
  const call = (method: Method, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    c.app.inject({
      method,
      url,
      payload: payload as string | object | undefined,
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
  return {
    get: (url: string, headers?: Record<string, string>) => call('GET', url, undefined, headers),
    post: (url: string, body?: unknown, headers?: Record<string, string>) =>
      call('POST', url, body ?? {}, headers),
  };
}

/** A signed-up user: their browser, credentials and Personal Organization. */
export interface User {
  browser: Browser;
  email: string;
  password: string;
  userId: string;
  personalOrgId: string;
  personalSlug: string;
}

/**
 * THE way e2e tests get a signed-up user: `POST /v1/auth/register` (202, no session), the verification
 * link read from the mail the job worker delivered to the SMTP sink, then `POST /v1/auth/verify-email`,
 * which verifies the address and signs the browser in (in the new Personal Organization).
 */
export async function signUp(c: E2eApp, prefix: string): Promise<User> {
  const browser = new Browser(c);
  const email = uniqueEmail(prefix);
  const password = newPassword();
  const res = await browser.post('/v1/auth/register', { email, password });
  expect(res.statusCode, res.body).toBe(202);
  expect(res.json()).toEqual({ status: 'verification_sent' });
  expect(browser.cookie).toBeNull();
  const token = await nextMailedToken(email, 'verify-email');
  const verified = await browser.post('/v1/auth/verify-email', { token });
  expect(verified.statusCode, verified.body).toBe(200);
  const body = verified.json<{ user: { id: string }; currentOrganizationId: string }>();
  expect(browser.cookie).not.toBeNull();
  const orgs = await browser.get('/v1/organizations');
  expect(orgs.statusCode, orgs.body).toBe(200);
  const personal = orgs
    .json<{ data: { id: string; slug: string }[] }>()
    .data.find((o) => o.id === body.currentOrganizationId);
  if (!personal) throw new Error('the new user has no Personal Organization');
  return {
    browser,
    email,
    password,
    userId: body.user.id,
    personalOrgId: personal.id,
    personalSlug: personal.slug,
  };
}

/** Logs in with a fresh browser; returns it and the login answer. */
export async function logIn(c: E2eApp, email: string, password: string) {
  const browser = new Browser(c);
  const res = await browser.post('/v1/auth/login', { email, password });
  expect(res.statusCode, res.body).toBe(200);
  return {
    browser,
    body: res.json<{ twoFactorRequired: boolean; currentOrganizationId?: string | null }>(),
  };
}

/**
 * A signed-up user promoted to platform administrator with the owner connection (what `saasready admin
 * create` does), signed in afresh so the new session carries the right.
 */
export async function signUpPlatformAdmin(
  c: E2eApp,
  prefix = 'platform-admin',
  migrationUrl = testDb().migrationUrl,
): Promise<User> {
  const user = await signUp(c, prefix);
  const owner = await connect(migrationUrl);
  try {
    await owner.query('update users set is_platform_admin = true where id = $1', [user.userId]);
  } finally {
    await owner.end();
  }
  const { browser } = await logIn(c, user.email, user.password);
  return { ...user, browser };
}

/** A boolean platform flag `key` (default off) that organizations may override, created by `admin`. */
export async function createOverridableFlag(admin: Browser, key: string): Promise<void> {
  const res = await admin.post('/v1/platform/flags', {
    key,
    kind: 'boolean',
    defaultValue: false,
    allowOrgOverride: true,
  });
  expect(res.statusCode, res.body).toBe(201);
}

/** Creates a (non-personal) organization as `owner`; returns its id and slug. */
export async function createOrg(owner: Browser, prefix: string): Promise<{ id: string; slug: string }> {
  const slug = uniqueSlug(prefix);
  const res = await owner.post('/v1/organizations', { slug, name: `${prefix} inc` });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json<{ id: string }>().id, slug };
}

/**
 * Puts an organization on the seeded `enterprise` plan (no seat limit) directly, for tests that add more
 * people than the free plan's three seats (seat limits themselves: src/modules/plans).
 */
export async function withoutSeatLimit(c: E2eApp, orgId: string): Promise<void> {
  await c.tenancy.withTenant(orgId, (db) =>
    db.updateTable('organizations').set({ plan: 'enterprise' }).where('id', '=', orgId).execute(),
  );
}

/** Headers selecting an organization explicitly. */
export const inOrg = (orgIdOrSlug: string) => ({ 'x-organization': orgIdOrSlug });

/** Creates a project in `orgId` as `who`; returns its id. */
export async function createProject(who: Browser, orgId: string, name = 'Project'): Promise<string> {
  const res = await who.post('/v1/projects', { name }, inOrg(orgId));
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string }>().id;
}

/** Creates an API key `name` (scope `projects:read`) in `orgId` as `who`; returns its id. */
export async function createReadKey(who: Browser, orgId: string, name: string): Promise<string> {
  const res = await who.post('/v1/api-keys', { name, scopes: ['projects:read'] }, inOrg(orgId));
  expect(res.statusCode, res.body).toBe(201);
  rememberSecret(res.json<{ secret: string }>().secret);
  return res.json<{ id: string }>().id;
}

/** An API token pair for `orgId`, from a signed-in session. */
export async function tokenPair(who: Browser, orgId: string) {
  const res = await who.post('/v1/auth/token', { organizationId: orgId });
  expect(res.statusCode, res.body).toBe(200);
  const pair = res.json<{ accessToken: string; refreshToken: string }>();
  rememberSecret(pair.accessToken);
  rememberSecret(pair.refreshToken);
  return pair;
}

/** The claims of a JWT (unverified; for assertions only). */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

const consumed = new Set<string>();

/**
 * The token of the next mail to `email` linking to `${ORIGIN}/<page>?token=…` that this process has not
 * read yet (waits for the job worker to deliver it to the SMTP sink).
 */
export async function nextMailedToken(
  email: string,
  page: 'accept-invitation' | 'verify-email' | 'reset-password',
): Promise<string> {
  const pattern = new RegExp(`${ORIGIN.replace(/\./g, '\\.')}/${page}\\?token=([A-Za-z0-9_-]+)`);
  const mail = await sharedMailbox().waitFor(
    (m) => m.to.includes(email) && !consumed.has(m.raw) && pattern.test(mailText(m.raw)),
  );
  consumed.add(mail.raw);
  return rememberSecret(pattern.exec(mailText(mail.raw))![1]!);
}

/** The token of the next invitation mail to `email` (see {@link nextMailedToken}). */
export const nextInvitationToken = (email: string) => nextMailedToken(email, 'accept-invitation');

/** `POST /v1/invitations` in `orgId` as `who`; returns the invitation id and the mailed token. */
export async function invite(
  who: Browser,
  orgId: string,
  email: string,
  role: string,
): Promise<{ id: string; token: string }> {
  const res = await who.post('/v1/invitations', { email, role }, inOrg(orgId));
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json<{ id: string }>().id, token: await nextInvitationToken(email) };
}

/** A new user joining `orgId` with `role` by register-and-accept; returns their browser and id. */
export async function addNewMember(
  owner: Browser,
  orgId: string,
  role: string,
  prefix = role,
): Promise<{ browser: Browser; email: string; password: string; userId: string }> {
  const email = uniqueEmail(prefix);
  const { token } = await invite(owner, orgId, email, role);
  const browser = new Browser(owner.c);
  const password = newPassword();
  const res = await browser.post('/v1/invitations/accept-new', { token, password });
  expect(res.statusCode, res.body).toBe(201);
  const me = await browser.get('/v1/auth/me');
  expect(me.statusCode, me.body).toBe(200);
  return { browser, email, password, userId: me.json<{ user: { id: string } }>().user.id };
}

/** Enrols TOTP for the signed-in browser; returns the secret (the session stays verified). */
export async function enrollTotp(who: Browser): Promise<{ secret: string; recoveryCodes: string[] }> {
  const begin = await who.post('/v1/auth/two-factor/enroll');
  expect(begin.statusCode, begin.body).toBe(200);
  const secret = rememberSecret(begin.json<{ secret: string }>().secret);
  const confirm = await who.post('/v1/auth/two-factor/enroll/confirm', { code: codeFor(secret, Date.now()) });
  expect(confirm.statusCode, confirm.body).toBe(200);
  const { recoveryCodes } = confirm.json<{ recoveryCodes: string[] }>();
  for (const code of recoveryCodes) rememberSecret(code);
  return { secret, recoveryCodes };
}

/** Fails when any credential in {@link secretsSeen} (or `extra`) appears anywhere in the log lines. */
export function expectNoSecretsIn(logs: LogLines, extra: readonly string[] = []): void {
  const text = logs.map((l) => JSON.stringify(l)).join('\n');
  const leaked = [...secretsSeen, ...extra].filter((s) => s.length >= 8 && text.includes(s));
  expect(leaked).toEqual([]);
}

/**
 * An answer's body with the app's log lines of its request (those carrying its `x-request-id`: the
 * logged error of a 500, the access line), for an assertion's message: a rare failure says what failed.
 */
export function answerWithLogs(c: { logs: LogLines }, res: Response): string {
  const id = res.headers['x-request-id'];
  const lines = c.logs.filter((l) => id !== undefined && l.request_id === id);
  return `${res.body}\napp log of request ${String(id)}:\n${lines.map((l) => JSON.stringify(l)).join('\n') || '(none)'}`;
}

/** The value of cookie `name` an answer sets (its `Set-Cookie` lines), or undefined. */
export const cookieSetBy = (res: { headers: Record<string, unknown> }, name: string): string | undefined =>
  ([res.headers['set-cookie'] ?? []].flat() as string[])
    .map((l) => new RegExp(`^${name}=([^;]+)`).exec(l)?.[1])
    .find(Boolean);
