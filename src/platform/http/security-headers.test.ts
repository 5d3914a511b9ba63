import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import type { Composition } from '../../app/compose.js';
import { createLogger } from '../logger.js';
import { denyAllAuthenticator } from './auth.js';
import { createHttpServer } from './server.js';
import { securityHeaderOptions } from './security-headers.js';

type Headers = Record<string, string | string[] | number | undefined>;

const CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
];

/** The headers every response carries, whatever route or error produced it. */
function expectSecurityHeaders(h: Headers, https: boolean): void {
  expect(h['x-content-type-options']).toBe('nosniff');
  expect(h['x-frame-options']).toBe('DENY');
  expect(h['referrer-policy']).toBe('no-referrer');
  const csp = String(h['content-security-policy']).split(';');
  expect(csp.slice(0, CSP.length)).toEqual(CSP);
  if (https) {
    expect(h['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(csp).toContain('upgrade-insecure-requests');
  } else {
    expect(h['strict-transport-security']).toBeUndefined();
    expect(csp).not.toContain('upgrade-insecure-requests');
  }
  expect(h['x-powered-by']).toBeUndefined();
}

describe('security headers', () => {
  it('HSTS in production or behind an https public URL, not on plain-http development', () => {
    expect(securityHeaderOptions('production', 'http://localhost:3000')).toEqual({ hsts: true });
    expect(securityHeaderOptions('development', 'https://app.example.com')).toEqual({ hsts: true });
    expect(securityHeaderOptions('development', 'http://localhost:3000')).toEqual({ hsts: false });
    expect(securityHeaderOptions('test', 'http://app.saasready.test')).toEqual({ hsts: false });
  });

  for (const mode of [
    { name: 'development (http)', publicUrl: 'http://app.saasready.test', https: false },
    { name: 'production (https)', publicUrl: 'https://app.saasready.test', https: true },
  ]) {
    describe(mode.name, () => {
      let c: Composition;
      let token: string;
      const tokens = createTestAuthenticator();
      beforeAll(async () => {
        c = await buildTestApp({ authenticator: tokens.authenticator, publicUrl: mode.publicUrl });
        token = tokens.issue(await createTestOrg(c.tenancy, 'headers'));
      });
      afterAll(async () => {
        await c.app.close();
        await c.close();
      });

      it('a public route: the headers, cacheable', async () => {
        const res = await c.app.inject('/healthz');
        expect(res.statusCode).toBe(200);
        expectSecurityHeaders(res.headers, mode.https);
        expect(res.headers['cache-control']).toBeUndefined();
      });

      it('an authenticated JSON route: the headers and Cache-Control: no-store, on errors too', async () => {
        const ok = await c.app.inject({ url: '/v1/projects', headers: { authorization: `Bearer ${token}` } });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.headers['content-type']).toMatch(/application\/json/);
        expectSecurityHeaders(ok.headers, mode.https);
        expect(ok.headers['cache-control']).toBe('no-store');
        const denied = await c.app.inject('/v1/projects');
        expect(denied.statusCode).toBe(401);
        expectSecurityHeaders(denied.headers, mode.https);
        expect(denied.headers['cache-control']).toBe('no-store');
      });

      it('/docs cannot be framed; its page and assets carry the same policy', async () => {
        for (const url of [
          '/docs/',
          '/docs/static/swagger-ui-bundle.js',
          '/docs/static/swagger-initializer.js',
        ]) {
          const res = await c.app.inject(url);
          expect(res.statusCode, url).toBe(200);
          expectSecurityHeaders(res.headers, mode.https);
        }
        // The page loads only same-origin scripts and styles, which the policy allows.
        const page = (await c.app.inject('/docs/')).body;
        expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/);
        expect(page).not.toMatch(/<style|style="/);
      });

      it('error responses: unknown route, invalid body, bad percent-encoding', async () => {
        const notFound = await c.app.inject('/v1/nope');
        expect(notFound.statusCode).toBe(404);
        expectSecurityHeaders(notFound.headers, mode.https);
        const invalid = await c.app.inject({
          method: 'POST',
          url: '/v1/projects',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          payload: '{',
        });
        expect(invalid.statusCode).toBe(400);
        expectSecurityHeaders(invalid.headers, mode.https);
        expect(invalid.headers['cache-control']).toBe('no-store');
        const badPath = await c.app.inject({ url: '/v1/projects/%E0%A4%A' });
        expect(badPath.statusCode).toBe(400);
        expectSecurityHeaders(badPath.headers, mode.https);
      });
    });
  }

  it('a public response that sets a cookie is not cacheable', async () => {
    const app = await createHttpServer({
      log: createLogger({ level: 'silent' }),
      bodyLimitBytes: 1024,
      trustProxy: false,
      authenticator: denyAllAuthenticator,
      version: 'test',
    });
    app.get('/cookie', { config: { auth: { kind: 'public', reason: 'test' } } }, async (_req, reply) =>
      reply.header('set-cookie', 'a=b; HttpOnly').send({ ok: true }),
    );
    const res = await app.inject('/cookie');
    expect(res.headers['cache-control']).toBe('no-store');
    expectSecurityHeaders(res.headers, false);
    await app.close();
  });
});
