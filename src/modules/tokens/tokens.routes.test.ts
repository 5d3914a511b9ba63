import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Authenticator } from '../../platform/http/auth.js';
import { createHttpServer, type App } from '../../platform/http/server.js';
import { createLogger } from '../../platform/logger.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { bearerToken } from './bearer-token.js';
import { registerTokensRoutes } from './tokens.routes.js';
import { createTokenService, type TokenPair, type TokenService } from './tokens.service.js';
import { createVerifiedEmailGate } from '../auth/email-verified-gate.js';
import { insertSession } from '../auth/sessions.repository.js';
import { uuidv7 } from '../../platform/ids.js';
import { randomBytes } from 'node:crypto';
import { identityFixtures, testJwtKey, testMembershipLookup } from './tokens.test-support.js';

describe('tokens routes over HTTP', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let tokens: TokenService;
  let app: App;
  let user: string;
  let org: string;
  let foreignOrg: string;
  let sessionId: string;

  // 'user' routes: the cookie stands for a signed-in session of `user`; the bearer form has no session.
  const authenticator: Authenticator = {
    async authenticate(req: FastifyRequest) {
      const verified = req.headers.cookie === 'sr_session=test';
      const session = verified || req.headers.cookie === 'sr_session=unverified';
      const bearer = bearerToken(req);
      if (!session && !bearer) return null;
      return {
        principal: { kind: 'user', userId: user },
        userId: user,
        sessionId: session ? sessionId : null,
        isPlatformAdmin: false,
        emailVerified: verified || !session,
      };
    },
    resolveTenant: async () => null,
  };
  const session = { cookie: 'sr_session=test' };
  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers });

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    db = createPlatformDb(tenancy.control.pool);
    const fx = identityFixtures(tenancy);
    const keys = [await testJwtKey(), await testJwtKey()];
    tokens = createTokenService({
      db,
      keys,
      issuer: 'https://saasready.test',
      membership: testMembershipLookup(tenancy),
    });
    org = await fx.org('http');
    foreignOrg = await fx.org('httpx');
    user = await fx.member(org, { role: 'viewer' });
    sessionId = uuidv7();
    await insertSession(db, {
      id: sessionId,
      user_id: user,
      token_hash: randomBytes(32),
      current_organization_id: org,
      two_factor_verified: false,
      user_agent: null,
      ip: null,
      idleMs: 3600_000,
      absoluteMs: 3600_000,
    });
    await fx.member(foreignOrg);
    app = await createHttpServer({
      log: createLogger({ level: 'silent' }),
      bodyLimitBytes: 1024 * 1024,
      trustProxy: false,
      authenticator,
      version: 'test',
    });
    registerTokensRoutes(app, { tokens, verifiedEmail: createVerifiedEmailGate(true) });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await db.destroy();
    await tenancy.close();
  });

  it('GET /.well-known/jwks.json is public and lists every key', async () => {
    const res = await app.inject({ url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(res.json()).toEqual(tokens.jwks());
    expect(res.json<{ keys: unknown[] }>().keys).toHaveLength(2);
    expect(res.body).not.toMatch(/"d"/);
  });

  it('POST /v1/auth/token: a session gets a pair for its organization; no-store', async () => {
    const res = await post('/v1/auth/token', { organizationId: org }, session);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const pair = res.json<TokenPair>();
    expect(pair).toMatchObject({ expiresIn: 600, tokenType: 'Bearer' });
    await expect(tokens.verifyAccess(pair.accessToken)).resolves.toMatchObject({ userId: user, orgId: org });
  });

  it('POST /v1/auth/token: 403 EMAIL_NOT_VERIFIED for an unverified user; nothing minted', async () => {
    const before = await db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user).execute();
    const res = await post('/v1/auth/token', { organizationId: org }, { cookie: 'sr_session=unverified' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'EMAIL_NOT_VERIFIED' } });
    expect(res.json<{ error: { message: string } }>().error.message).toMatch(/verify your email address/);
    const after = await db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user).execute();
    expect(after).toHaveLength(before.length);
  });

  it('POST /v1/auth/token: the family remembers the session that minted it', async () => {
    const res = await post('/v1/auth/token', { organizationId: org }, session);
    const pair = res.json<TokenPair>();
    const claims = JSON.parse(Buffer.from(pair.accessToken.split('.')[1]!, 'base64url').toString()) as {
      sid: string;
    };
    const row = await db
      .selectFrom('refresh_tokens')
      .select(['session_id', 'family_id'])
      .where('family_id', '=', claims.sid)
      .executeTakeFirstOrThrow();
    expect(row.session_id).toBe(sessionId);
  });

  it('POST /v1/auth/token: 401 without a user, 403 without a session, 404 alike for foreign and missing orgs', async () => {
    expect((await post('/v1/auth/token', { organizationId: org })).statusCode).toBe(401);
    const { accessToken } = await tokens.issue(user, org);
    const viaBearer = await post(
      '/v1/auth/token',
      { organizationId: org },
      { authorization: `Bearer ${accessToken}` },
    );
    expect(viaBearer.statusCode).toBe(403);
    const foreign = await post('/v1/auth/token', { organizationId: foreignOrg }, session);
    const missing = await post(
      '/v1/auth/token',
      { organizationId: '0190f000-0000-7000-8000-000000000000' },
      session,
    );
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual({
      error: { code: 'TOKEN_ORGANIZATION_NOT_FOUND', message: 'organization not found' },
    });
    expect(missing.body).toBe(foreign.body);
    const bad = await post('/v1/auth/token', { organizationId: 'nope' }, session);
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { message: string } }>().error.message).toMatch(/^body\.organizationId/);
  });

  it('POST /v1/auth/token/refresh rotates; reuse is 401 TOKEN_REUSED', async () => {
    const first = (await post('/v1/auth/token', { organizationId: org }, session)).json<TokenPair>();
    const res = await post('/v1/auth/token/refresh', { refreshToken: first.refreshToken });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const second = res.json<TokenPair>();
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const reused = await post('/v1/auth/token/refresh', { refreshToken: first.refreshToken });
    expect(reused.statusCode).toBe(401);
    expect(reused.json()).toMatchObject({ error: { code: 'TOKEN_REUSED' } });
    const dead = await post('/v1/auth/token/refresh', { refreshToken: second.refreshToken });
    expect(dead.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
    for (const payload of [{}, { refreshToken: '' }, { refreshToken: 1 }, { refreshToken: 'x', extra: 1 }]) {
      const r = await post('/v1/auth/token/refresh', payload);
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
  });

  it('POST /v1/auth/token/revoke answers the same 200 whether or not the token existed', async () => {
    const pair = await tokens.issue(user, org);
    const known = await post('/v1/auth/token/revoke', { refreshToken: pair.refreshToken });
    const unknown = await post('/v1/auth/token/revoke', { refreshToken: 'C'.repeat(43) });
    const garbage = await post('/v1/auth/token/revoke', { refreshToken: 'not a token' });
    for (const r of [known, unknown, garbage]) {
      expect(r.statusCode).toBe(200);
      expect(r.body).toBe(known.body);
    }
    const after = await post('/v1/auth/token/refresh', { refreshToken: pair.refreshToken });
    expect(after.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
  });

  it('every route declares its auth and appears in the OpenAPI document', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    for (const path of [
      '/.well-known/jwks.json',
      '/v1/auth/token',
      '/v1/auth/token/refresh',
      '/v1/auth/token/revoke',
    ]) {
      expect(doc.paths).toHaveProperty([path]);
    }
  });
});

describe('bearerToken', () => {
  const req = (authorization?: unknown) => ({ headers: { authorization } }) as unknown as FastifyRequest;
  it('extracts a compact JWS from "Authorization: Bearer", and nothing else', () => {
    expect(bearerToken(req('Bearer aaa.bbb.ccc'))).toBe('aaa.bbb.ccc');
    expect(bearerToken(req('bearer aaa.bbb.'))).toBe('aaa.bbb.');
    for (const h of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      'Bearer opaque-key',
      'Bearer a.b',
      'Bearer a.b.c.d',
      'Bearer a.b.c extra',
      ['Bearer a.b.c'],
      `Bearer ${'a'.repeat(5000)}.b.c`,
    ]) {
      expect(bearerToken(req(h))).toBeUndefined();
    }
  });
});
