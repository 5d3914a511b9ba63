import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { connect, createTestTenancy, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import { queuedJobs } from '../../../test/support/jobs.js';
import { sharedMailbox } from '../../../test/support/mailbox.js';
import { mailText } from '../../../test/support/smtp.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Authenticator } from '../../platform/http/auth.js';
import { createHttpServer, type App } from '../../platform/http/server.js';
import { createLogger } from '../../platform/logger.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { registerAuthRoutes } from './auth.routes.js';
import { createAuthService, type AuthService } from './auth.service.js';
import { normalizeOrigins } from './csrf.js';
import { createDeviceCookies } from './device-cookie.js';
import { authenticateSession } from './session-authenticator.js';
import { registerSessionRoutes } from './sessions.routes.js';
import { createSessionService, type SessionService, type SessionServiceOptions } from './sessions.service.js';
import { signUpBrowserCookiePair } from './signup-browser.js';
import { createPasswordResetJobHandler, PASSWORD_RESET_TASK } from './password-reset-job.js';

export const PUBLIC_URL = 'https://app.example.test';
export const ORIGIN = { origin: PUBLIC_URL };
/** The harness's KEK (device cookies): a test signs its own with it (an expired one, say). */
export const DEVICE_KEK = randomBytes(32);

export interface AuthHarness {
  app: App;
  tenancy: Tenancy;
  db: PlatformDb;
  sessions: SessionService;
  auth: AuthService;
  /** A superuser client (reads graphile_worker.jobs, edits timestamps). */
  admin: pg.Client;
  close(): Promise<void>;
}

/**
 * The auth routes on a bare HTTP server, with the session authenticator, on the test database (or on
 * `database`, a provisioned one: its runtime role's `url`, its superuser's `adminUrl`).
 */
export async function buildAuthHarness(
  opts: {
    sessions?: Partial<Omit<SessionServiceOptions, 'db'>>;
    database?: { url: string; adminUrl: string };
  } = {},
): Promise<AuthHarness> {
  const tenancy = opts.database
    ? createTenancy({ url: opts.database.url, poolSize: 4, setter: defaultTestSetter() })
    : createTestTenancy();
  const db = createPlatformDb(tenancy.control.pool);
  const sessions = createSessionService({ db, secureCookies: true, ...opts.sessions });
  const auth = createAuthService({
    db,
    withTenant: tenancy.withTenant,
    sessions,
    devices: createDeviceCookies(DEVICE_KEK),
    publicUrl: PUBLIC_URL,
  });
  const allowedOrigins = normalizeOrigins([PUBLIC_URL]);
  const authenticator: Authenticator = {
    authenticate: (req) => authenticateSession(req, { sessions, allowedOrigins }),
    resolveTenant: () => Promise.resolve(null),
  };
  const app = await createHttpServer({
    log: createLogger({ level: 'silent' }),
    bodyLimitBytes: 1024 * 1024,
    trustProxy: false,
    authenticator,
    version: 'test',
  });
  // Only sessions authenticate here: no bearer token, so no refresh family to end on logout.
  const revokeTokenFamily = () => Promise.reject(new Error('no access tokens in the auth harness'));
  registerAuthRoutes(app, {
    auth,
    sessions,
    revokeTokenFamily,
    allowedOrigins,
    secureCookies: true,
    publicUrl: PUBLIC_URL,
  });
  registerSessionRoutes(app, { sessions });
  await app.ready();
  const admin = await connect(opts.database?.adminUrl ?? testDb().adminUrl);
  return {
    app,
    tenancy,
    db,
    sessions,
    auth,
    admin,
    async close() {
      await app.close();
      await admin.end();
      await db.destroy();
      await tenancy.close();
    },
  };
}

/** A unique address for one test. */
export const freshEmail = (prefix = 'user') => `${prefix}-${randomBytes(6).toString('hex')}@example.com`;

/**
 * Fresh client addresses `10.<octet>.x.y`, one per call, so that the per-address throttle of one test does
 * not touch another (each test file takes its own `octet`).
 */
export function clientAddresses(octet: number): () => string {
  let seq = 1;
  return () => `10.${octet}.${Math.floor(seq / 250)}.${(seq++ % 250) + 1}`;
}

/** A password that passes the policy. */
export const GOOD_PASSWORD = 'correct horse battery staple';

/** A user signed up and signed in through their verification link. */
export interface SignedUpUser {
  email: string;
  password: string;
  userId: string;
  /** Their Personal Organization (the session's current organization). */
  orgId: string;
  orgSlug: string;
  /** The `sr_session` token the verification answer set. */
  token: string;
  /** The `POST /v1/auth/verify-email` answer that signed them in. */
  res: Awaited<ReturnType<App['inject']>>;
}

/**
 * THE way tests get a signed-in user: signs up as `POST /v1/auth/register` does (through the service, so
 * the verification token comes from what it returns rather than from a mail), then follows the
 * verification link over HTTP (`POST /v1/auth/verify-email`), which signs the user in. Works on any app
 * that serves the auth routes (the auth harness, a full composition).
 */
export async function signUpAndVerify(
  target: { app: { inject: App['inject'] }; auth: Pick<AuthService, 'registerUser'> },
  opts: { email?: string; password?: string; name?: string; headers?: Record<string, string> } = {},
): Promise<SignedUpUser> {
  const email = opts.email ?? freshEmail('user');
  const password = opts.password ?? GOOD_PASSWORD;
  const { user, organization, verificationToken } = await target.auth.registerUser(
    { email, password, ...(opts.name ? { name: opts.name } : {}) },
    { createPersonalOrganization: true },
  );
  if (!organization || !verificationToken) throw new Error('sign-up created no organization or mail');
  // The browser that signed up: it holds the `sr_signup` cookie POST /v1/auth/register sets.
  const headers = { ...opts.headers };
  const signUpCookie = signUpBrowserCookiePair(verificationToken);
  headers.cookie = headers.cookie ? `${headers.cookie}; ${signUpCookie}` : signUpCookie;
  const res = await target.app.inject({
    method: 'POST',
    url: '/v1/auth/verify-email',
    headers,
    payload: { token: verificationToken },
  });
  const token = sessionCookieOf(res);
  if (res.statusCode !== 200 || !token) {
    throw new Error(`verification did not sign in: ${res.statusCode} ${res.body}`);
  }
  return {
    email,
    password,
    userId: user.id,
    orgId: organization.id,
    orgSlug: organization.slug,
    token,
    res,
  };
}

/** The `sr_session` value a response sets, or undefined. */
export function sessionCookieOf(res: { headers: Record<string, unknown> }): string | undefined {
  const raw = res.headers['set-cookie'];
  const all = Array.isArray(raw) ? (raw as string[]) : typeof raw === 'string' ? [raw] : [];
  for (const c of all) {
    const m = /^sr_session=([^;]*)/.exec(c);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The newest mail to an address: the newest `mail.send` job still queued, else the newest the suite's
 * SMTP sink received. The console's browser tests run job workers on the same database, and
 * graphile-worker hands a job to whichever worker polls first, so a mail this test queued may already
 * have been delivered (oldest jobs go first: a queued one is always newer than a delivered one).
 */
export async function lastMailTo(
  admin: pg.Client,
  to: string,
): Promise<{ to: string; subject: string; text: string; html?: string } | undefined> {
  // Job payloads are sealed: open them with the test KEK, newest first.
  type Mail = { to: string; subject: string; text: string; html?: string };
  const mails = (await queuedJobs(admin, 'mail.send')).map((j) => j.payload as Mail);
  const queued = mails.reverse().find((m) => m.to === to);
  if (queued) return queued;
  const delivered = sharedMailbox()
    .all()
    .filter((m) => m.to.includes(to))
    .pop();
  if (!delivered) return undefined;
  const subject = /^Subject: (.*)$/im.exec(delivered.raw)?.[1]?.trim() ?? '';
  return { to, subject, text: mailText(delivered.raw) };
}

/**
 * Runs the queued `auth.password-reset` jobs as the worker does (the auth harness runs no worker): each
 * is taken off the queue, then its address looked up and, for an account, the reset mail queued. Returns
 * how many ran.
 */
export async function runPasswordResetJobs(h: Pick<AuthHarness, 'admin' | 'db'>): Promise<number> {
  const handler = createPasswordResetJobHandler({ db: h.db });
  let ran = 0;
  for (const job of await queuedJobs(h.admin, PASSWORD_RESET_TASK)) {
    const taken = await h.admin.query('delete from graphile_worker._private_jobs where id = $1', [job.id]);
    if (taken.rowCount !== 1) continue;
    await handler(job.payload, { tenantId: null, attempt: 1, id: job.id });
    ran++;
  }
  return ran;
}

/** The token in a mailed link (`?token=`). */
export function tokenInMail(mail: { text: string } | undefined, path: string): string {
  const m = new RegExp(`${PUBLIC_URL}${path}\\?token=([A-Za-z0-9_-]+)`).exec(mail?.text ?? '');
  if (!m?.[1]) throw new Error(`no ${path} link in mail`);
  return m[1];
}

/** `select count(*)` as a number. */
export async function countRows(admin: pg.Client, query: string, params: unknown[] = []): Promise<number> {
  const res = await admin.query<{ n: number }>(`select count(*)::int as n from ${query}`, params);
  return res.rows[0]!.n;
}

/** One row of a superuser query, typed by the caller. */
export async function oneRow<T extends pg.QueryResultRow>(
  admin: pg.Client,
  query: string,
  params: unknown[] = [],
): Promise<T> {
  const res = await admin.query<T>(query, params);
  if (!res.rows[0]) throw new Error(`no row: ${query}`);
  return res.rows[0];
}
