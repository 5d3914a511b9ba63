import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type App } from '../../../platform/http/server.js';
import { denyAllAuthenticator } from '../../../platform/http/auth.js';
import { createLogger } from '../../../platform/logger.js';
import { registerSamlRoutes } from './saml.routes.js';
import { b64, buildResponseXml } from './saml.test-idp.js';
import { samlFixture, type SamlFixture } from './saml.test-support.js';

/** The two routes over HTTP, on the platform's server (auth guard, error shape, body limit). */
describe('SAML routes over HTTP', () => {
  let f: SamlFixture;
  let app: App;
  const lines: string[] = [];
  beforeAll(async () => {
    f = await samlFixture();
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    app = await createHttpServer({
      log: createLogger({ level: 'info', destination }),
      bodyLimitBytes: 64 * 1024,
      trustProxy: false,
      authenticator: denyAllAuthenticator,
      version: 'test',
    });
    registerSamlRoutes(app, { saml: f.service, publicUrl: 'http://localhost:3000' });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await f.close();
  });

  const form = (fields: Record<string, string>) => ({
    'content-type': 'application/x-www-form-urlencoded',
    payload: new URLSearchParams(fields).toString(),
  });
  const acs = (id: string, fields: Record<string, string>) => {
    const { 'content-type': ct, payload } = form(fields);
    return app.inject({
      method: 'POST',
      url: `/v1/auth/sso/saml/${id}/acs`,
      headers: { 'content-type': ct, origin: 'https://idp.example.test' },
      payload,
    });
  };

  it('a good SP-initiated response: 303 to the return path, the session cookie set, no caching', async () => {
    const c = f.connection();
    const { requestId, flowId } = await f.start(c, '/orgs');
    const xml = buildResponseXml(f.opts(c, { inResponseTo: requestId }));
    const res = await acs(c.id, { SAMLResponse: b64(xml), RelayState: flowId });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/orgs');
    expect(res.headers['set-cookie']).toContain('sid=token; Path=/; HttpOnly');
    // The single-use flow cookie is cleared.
    expect([res.headers['set-cookie']].flat().join('\n')).toMatch(/^sr_sso=; Max-Age=0/m);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('a refused response: 401 SAML_RESPONSE_REFUSED, the reason logged but not sent, no cookie', async () => {
    const c = f.connection();
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, { inResponseTo: requestId, audience: 'https://elsewhere.example' }),
    );
    const res = await acs(c.id, { SAMLResponse: b64(xml), RelayState: flowId });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({
      error: { code: 'SAML_RESPONSE_REFUSED', message: 'The SAML response was refused' },
    });
    expect([res.headers['set-cookie'] ?? []].flat().join('\n')).not.toMatch(/^sid=/m);
    expect(lines.some((l) => l.includes('"refusal":"audience"'))).toBe(true);
    // The response itself is never logged.
    expect(lines.some((l) => l.includes(b64(xml).slice(0, 40)))).toBe(false);
  });

  it('unknown, inactive and malformed connection ids answer the same 404', async () => {
    const inactive = f.connection({ active: false });
    const bodies = [];
    for (const id of [inactive.id, '0190c2d4-0000-7000-8000-000000000000', 'nope']) {
      const post = await acs(id, { SAMLResponse: 'PHg+' });
      const meta = await app.inject({ method: 'GET', url: `/v1/auth/sso/saml/${id}/metadata` });
      expect(post.statusCode).toBe(404);
      expect(meta.statusCode).toBe(404);
      bodies.push(post.body, meta.body);
    }
    expect(new Set(bodies).size).toBe(1);
  });

  it('a form without SAMLResponse, or with unknown fields, is a 400', async () => {
    const c = f.connection();
    expect((await acs(c.id, { RelayState: 'x' })).statusCode).toBe(400);
    expect((await acs(c.id, { SAMLResponse: 'PHg+', Other: '1' })).statusCode).toBe(400);
  });

  it('serves the SP metadata as XML', async () => {
    const c = f.connection();
    const res = await app.inject({ method: 'GET', url: `/v1/auth/sso/saml/${c.id}/metadata` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/samlmetadata\+xml/);
    expect(res.body.startsWith('<?xml')).toBe(true);
    expect(res.body).toContain(`entityID="${f.service.urls(c.id).entityId}"`);
  });
});
