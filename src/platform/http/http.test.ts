import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../../../test/support/app.js';
import type { Composition } from '../../app/compose.js';
import type { LogLines } from '../../../test/support/app.js';
import { allPermissions } from '../authz/permissions.js';
import { createLogger } from '../logger.js';
import { denyAllAuthenticator, routeAuthTable } from './auth.js';
import { createHttpServer } from './server.js';

describe('HTTP platform', () => {
  let c: Composition & { logs: LogLines };

  beforeAll(async () => {
    c = await buildTestApp({ bodyLimitBytes: 2048 });
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('/healthz and /readyz', async () => {
    expect((await c.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await c.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { database: true, migrations: true } });
  });

  it('serves OpenAPI at /openapi.json with operationIds, and docs at /docs', async () => {
    const res = await c.app.inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { operationId?: string }>>;
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/v1/projects']?.post?.operationId).toBe('createProject');
    expect(doc.paths['/v1/projects/{id}']?.get?.operationId).toBe('getProject');
    const docs = await c.app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/html/);
  });

  it('unknown routes answer 404 in the error shape', async () => {
    // An API path: other GETs are the web console's (its history fallback).
    const res = await c.app.inject('/v1/nope?x=1');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: 'no route GET /v1/nope' } });
  });

  it('every route declares its auth; tenant routes name a permission; public ones are few and named', async () => {
    const table = routeAuthTable(c.app);
    expect(table.length).toBeGreaterThan(5);
    for (const r of table) {
      if (r.auth.kind === 'tenant') expect(allPermissions).toContain(r.auth.permission);
      if (r.auth.kind === 'public') expect(r.auth.reason.length).toBeGreaterThan(0);
    }
    const publicRoutes = table
      .filter((r) => r.auth.kind === 'public' && !r.url.startsWith('/docs') && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    expect(publicRoutes).toEqual(
      [
        'GET /',
        'GET /*',
        'GET /.well-known/jwks.json',
        'GET /assets/*',
        'GET /healthz',
        'GET /openapi.json',
        'GET /readyz',
        'GET /v1/audit-logs/public-key',
        // Social sign-in (social.routes.ts): the providers, the start, and the provider's redirect back.
        'GET /v1/auth/social/:provider/callback',
        'GET /v1/auth/social/:provider/start',
        'GET /v1/auth/social/providers',
        // Passwordless sign-in: the passkey assertion is the credential (passkeys.routes.ts).
        'POST /v1/auth/passkeys/sign-in/options',
        'POST /v1/auth/passkeys/sign-in/verify',
        // Single sign-on (sso-auth.routes.ts, saml.routes.ts): discovery, the start, the IdP's answers and the
        // SP metadata; the IdP's signed answer is the credential.
        'GET /v1/auth/sso/oidc/callback',
        'GET /v1/auth/sso/saml/:connectionId/metadata',
        'GET /v1/auth/sso/start',
        'POST /v1/auth/sso/discover',
        'POST /v1/auth/sso/saml/:connectionId/acs',
        'GET /v1/invitations/lookup',
        'POST /v1/auth/login',
        'POST /v1/auth/password-reset',
        'POST /v1/auth/password-reset/confirm',
        'POST /v1/auth/register',
        'POST /v1/auth/token/refresh',
        'POST /v1/auth/token/revoke',
        'POST /v1/auth/verify-email',
        'POST /v1/invitations/accept-new',
        // Stripe's events: the signature of the raw body is the credential (stripe.routes.ts).
        'POST /webhooks/stripe',
        // SCIM 2.0: the organization's SCIM token is the credential, checked by the SCIM routes themselves
        // (scim-protocol.routes.ts); no other credential opens them.
        ...['Users', 'Groups'].flatMap((r) => [
          `DELETE /scim/v2/${r}/:id`,
          `GET /scim/v2/${r}`,
          `GET /scim/v2/${r}/:id`,
          `PATCH /scim/v2/${r}/:id`,
          `POST /scim/v2/${r}`,
          `PUT /scim/v2/${r}/:id`,
        ]),
        'GET /scim/v2/ResourceTypes',
        'GET /scim/v2/Schemas',
        'GET /scim/v2/ServiceProviderConfig',
      ].sort(),
    );
  });

  it('a route without an auth declaration cannot be registered', async () => {
    const app = await createHttpServer({
      log: createLogger({ level: 'silent' }),
      bodyLimitBytes: 1024,
      trustProxy: false,
      authenticator: denyAllAuthenticator,
      version: 'test',
    });
    expect(() => app.get('/undeclared', async () => 'x')).toThrow(/no auth declaration/);
    await app.close();
  });

  it('carries the request id: a well-formed incoming X-Request-Id is kept, others replaced', async () => {
    const kept = await c.app.inject({ url: '/healthz', headers: { 'x-request-id': 'req-abc-12345' } });
    expect(kept.headers['x-request-id']).toBe('req-abc-12345');
    const replaced = await c.app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const line = c.logs.find((l) => l.msg === 'request completed' && l.request_id === 'req-abc-12345');
    expect(line).toMatchObject({ method: 'GET', url: '/healthz', status: 200 });
  });
});
