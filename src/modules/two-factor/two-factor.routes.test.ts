import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import { allPermissions, type Permission } from '../../platform/authz/permissions.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Authenticated, Authenticator } from '../../platform/http/auth.js';
import { createHttpServer, type App } from '../../platform/http/server.js';
import { uuidv7 } from '../../platform/ids.js';
import { createLogger } from '../../platform/logger.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { codeFor, fakeClock, insertUser } from './two-factor.test-fixtures.js';
import { createTwoFactorPolicyService } from './two-factor.policy.js';
import { acceptsPendingSecondFactor, registerTwoFactorRoutes } from './two-factor.routes.js';
import { createTwoFactorService } from './two-factor.service.js';

interface Caller {
  userId: string;
  sessionId: string | null;
  tenantId: string;
  permissions: Permission[];
}

describe('two-factor routes over HTTP', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let app: App;
  let orgId: string;
  const clock = fakeClock();
  const logs: string[] = [];
  const verifiedSessions: string[] = [];
  // The authenticator returns this fixed caller (null: not signed in).
  let caller: Caller | null = null;
  // What the authenticator learns from each route's config: may a pending session call it?
  const pendingAllowed = new Map<string, boolean>();

  const authenticator: Authenticator = {
    authenticate: async (request) => {
      pendingAllowed.set(request.routeOptions.url ?? '', acceptsPendingSecondFactor(request));
      return caller
        ? ({
            principal: { kind: 'user', userId: caller.userId },
            userId: caller.userId,
            sessionId: caller.sessionId,
            isPlatformAdmin: false,
          } satisfies Authenticated)
        : null;
    },
    resolveTenant: async () =>
      caller ? { tenantId: caller.tenantId, role: 'owner', permissions: new Set(caller.permissions) } : null,
  };

  const post = (url: string, payload?: Record<string, unknown>) =>
    app.inject({ method: 'POST', url, payload });
  const errorOf = (res: { json: <T>() => T }) =>
    res.json<{ error: { code: string; message: string } }>().error;

  async function signIn(permissions: Permission[] = [...allPermissions]): Promise<Caller> {
    const u = await insertUser(db, 'http');
    caller = { userId: u.id, sessionId: uuidv7(), tenantId: orgId, permissions };
    return caller;
  }
  async function enrollOverHttp(): Promise<{ secret: string; recoveryCodes: string[] }> {
    const { secret } = (await post('/v1/auth/two-factor/enroll')).json<{ secret: string }>();
    const confirmed = await post('/v1/auth/two-factor/enroll/confirm', {
      code: codeFor(secret, clock.now()),
    });
    return { secret, recoveryCodes: confirmed.json<{ recoveryCodes: string[] }>().recoveryCodes };
  }

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    db = createPlatformDb(tenancy.control.pool);
    orgId = await createTestOrg(tenancy, 'tfr');
    const twoFactor = createTwoFactorService({
      db,
      kek: randomBytes(32),
      issuer: 'SaaSReady',
      now: clock.now,
    });
    const policy = createTwoFactorPolicyService({
      withTenant: tenancy.withTenant,
      isEnabled: (id) => twoFactor.isEnabled(id),
    });
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    });
    app = await createHttpServer({
      log: createLogger({ level: 'debug', destination }),
      bodyLimitBytes: 1024 * 1024,
      trustProxy: false,
      authenticator,
      version: 'test',
    });
    registerTwoFactorRoutes(app, {
      twoFactor,
      policy,
      markSessionVerified: async (sessionId, reply) => {
        verifiedSessions.push(sessionId);
        void reply.header('set-cookie', `sr_session=rotated-${sessionId}`);
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await db.destroy();
    await tenancy.close();
  });
  beforeEach(() => {
    caller = null;
  });

  it('enrols, verifies the session, refuses a replay, regenerates codes and disables', async () => {
    const me = await signIn();
    const enroll = await post('/v1/auth/two-factor/enroll');
    expect(enroll.statusCode).toBe(200);
    expect(enroll.headers['cache-control']).toBe('no-store');
    const e = enroll.json<{ secret: string; otpauthUri: string; qrSvg: string }>();
    expect(e.otpauthUri).toMatch(/^otpauth:\/\/totp\/SaaSReady:http-[0-9a-f]+%40example\.com\?secret=/);
    expect(e.qrSvg).toContain('<svg');

    const wrong = await post('/v1/auth/two-factor/enroll/confirm', { code: '000000' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toEqual({
      error: { code: 'TWO_FACTOR_CODE_INVALID', message: 'the code is not valid' },
    });

    const code = codeFor(e.secret, clock.now());
    const confirmed = await post('/v1/auth/two-factor/enroll/confirm', { code });
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.headers['cache-control']).toBe('no-store');
    const { recoveryCodes } = confirmed.json<{ recoveryCodes: string[] }>();
    expect(recoveryCodes).toHaveLength(10);
    // The enrolling session proved the second factor, so it is marked verified (and its cookie rotated).
    expect(verifiedSessions).toContain(me.sessionId);
    expect(confirmed.headers['set-cookie']).toBe(`sr_session=rotated-${me.sessionId}`);

    // Another session of the same user: the code that confirmed enrollment cannot be replayed.
    const second = { ...me, sessionId: uuidv7() };
    caller = second;
    const replay = await post('/v1/auth/two-factor/verify', { code });
    expect(replay.statusCode).toBe(400);
    expect(errorOf(replay).code).toBe('TWO_FACTOR_CODE_INVALID');
    expect(verifiedSessions).not.toContain(second.sessionId);

    clock.advance(30_000);
    const verified = await post('/v1/auth/two-factor/verify', { code: codeFor(e.secret, clock.now()) });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toEqual({ method: 'totp', recoveryCodesRemaining: 10 });
    expect(verifiedSessions).toContain(second.sessionId);
    expect(verified.headers['set-cookie']).toBe(`sr_session=rotated-${second.sessionId}`);

    const regenerated = await post('/v1/auth/two-factor/recovery-codes', { code: recoveryCodes[0] });
    expect(regenerated.statusCode).toBe(200);
    const fresh = regenerated.json<{ recoveryCodes: string[] }>().recoveryCodes;
    expect(fresh).toHaveLength(10);
    expect(errorOf(await post('/v1/auth/two-factor/verify', { code: recoveryCodes[1] })).code).toBe(
      'TWO_FACTOR_CODE_INVALID',
    );

    const disabled = await post('/v1/auth/two-factor/disable', { code: fresh[0] });
    expect(disabled.statusCode).toBe(204);
    const after = await post('/v1/auth/two-factor/verify', { code: fresh[1] });
    expect(after.statusCode).toBe(409);
    expect(errorOf(after).code).toBe('TWO_FACTOR_NOT_ENABLED');

    // Neither secrets nor codes reach the logs.
    expect(logs.length).toBeGreaterThan(0);
    const all = logs.join('');
    for (const s of [e.secret, code, ...recoveryCodes, ...fresh]) expect(all).not.toContain(s);
  });

  it('throttles wrong codes with 429 and retryAfterSeconds', async () => {
    await signIn();
    await enrollOverHttp();
    for (let i = 0; i < 5; i++) {
      expect((await post('/v1/auth/two-factor/verify', { code: '999999' })).statusCode).toBe(400);
    }
    const throttled = await post('/v1/auth/two-factor/verify', { code: '999999' });
    expect(throttled.statusCode).toBe(429);
    const body = throttled.json<{ error: { code: string; details: { retryAfterSeconds: number } } }>();
    expect(body.error.code).toBe('TWO_FACTOR_THROTTLED');
    expect(body.error.details.retryAfterSeconds).toBeGreaterThan(0);
    expect(throttled.headers['retry-after']).toBe(String(body.error.details.retryAfterSeconds));
  });

  it('verify needs a session, and nothing is consumed without one', async () => {
    const me = await signIn();
    const { recoveryCodes } = await enrollOverHttp();
    caller = { ...me, sessionId: null };
    const res = await post('/v1/auth/two-factor/verify', { code: recoveryCodes[0] });
    expect(res.statusCode).toBe(403);
    expect(errorOf(res).code).toBe('TWO_FACTOR_SESSION_REQUIRED');
    caller = me;
    expect((await post('/v1/auth/two-factor/verify', { code: recoveryCodes[0] })).statusCode).toBe(200);
  });

  it('only the verification route accepts a session still waiting for its second factor', async () => {
    pendingAllowed.clear();
    for (const [method, url] of [
      ['POST', '/v1/auth/two-factor/verify'],
      ['POST', '/v1/auth/two-factor/enroll'],
      ['POST', '/v1/auth/two-factor/enroll/confirm'],
      ['POST', '/v1/auth/two-factor/disable'],
      ['POST', '/v1/auth/two-factor/recovery-codes'],
      ['PUT', '/v1/organization/two-factor-policy'],
    ] as const) {
      expect((await app.inject({ method, url })).statusCode).toBe(401);
      expect({ url, allowed: pendingAllowed.get(url) }).toEqual({
        url,
        allowed: url === '/v1/auth/two-factor/verify',
      });
    }
  });

  it('every route is in the OpenAPI document with its operationId', async () => {
    const res = await app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const ops = Object.values(
      res.json<{ paths: Record<string, Record<string, { operationId: string }>> }>().paths,
    )
      .flatMap((p) => Object.values(p))
      .map((o) => o.operationId);
    expect(ops).toEqual(
      expect.arrayContaining([
        'beginTwoFactorEnrollment',
        'confirmTwoFactorEnrollment',
        'verifyTwoFactor',
        'disableTwoFactor',
        'regenerateTwoFactorRecoveryCodes',
        'setTwoFactorPolicy',
      ]),
    );
  });

  it('validates bodies and answers 401 without a principal', async () => {
    await signIn();
    for (const payload of [{}, { code: '12' }, { code: '<script>' }, { code: '123456', extra: 1 }]) {
      const res = await post('/v1/auth/two-factor/verify', payload);
      expect(res.statusCode).toBe(400);
      expect(errorOf(res).code).toBe('VALIDATION_FAILED');
    }
    caller = null;
    for (const url of [
      '/v1/auth/two-factor/enroll',
      '/v1/auth/two-factor/enroll/confirm',
      '/v1/auth/two-factor/verify',
      '/v1/auth/two-factor/disable',
      '/v1/auth/two-factor/recovery-codes',
    ]) {
      const res = await post(url, { code: '123456' });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('UNAUTHENTICATED');
    }
  });

  it('PUT /v1/organization/two-factor-policy: needs org:update and the caller’s own 2FA to require it', async () => {
    const put = (required: unknown) =>
      app.inject({ method: 'PUT', url: '/v1/organization/two-factor-policy', payload: { required } });
    const read = () =>
      tenancy.withTenant(orgId, (t) =>
        t
          .selectFrom('organizations')
          .select('require_two_factor')
          .where('id', '=', orgId)
          .executeTakeFirstOrThrow(),
      );

    await signIn(['org:read']);
    const forbidden = await put(true);
    expect(forbidden.statusCode).toBe(403);
    expect(errorOf(forbidden).code).toBe('FORBIDDEN');

    await signIn();
    const notEnrolled = await put(true);
    expect(notEnrolled.statusCode).toBe(403);
    expect(errorOf(notEnrolled).code).toBe('TWO_FACTOR_ENROLLMENT_REQUIRED');
    expect((await read()).require_two_factor).toBe(false);

    await enrollOverHttp();
    const on = await put(true);
    expect(on.statusCode).toBe(200);
    expect(on.json()).toEqual({ required: true });
    expect((await read()).require_two_factor).toBe(true);

    expect((await put('yes')).statusCode).toBe(400);
    const off = await put(false);
    expect(off.json()).toEqual({ required: false });
    expect((await read()).require_two_factor).toBe(false);
  });
});
