import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator, type LogLines } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { auditEvents } from '../../../test/support/audit.js';
import type { Composition } from '../../app/compose.js';
import { uuidv7 } from '../../platform/ids.js';

const ROUTES = [
  ['POST', '/v1/projects'],
  ['GET', '/v1/projects'],
  ['GET', '/v1/projects/00000000-0000-7000-8000-000000000000'],
  ['PATCH', '/v1/projects/00000000-0000-7000-8000-000000000000'],
  ['DELETE', '/v1/projects/00000000-0000-7000-8000-000000000000'],
] as const;

describe('projects routes with the Foundation resolver (accepts nothing)', () => {
  let c: Composition;
  let orgId: string;
  beforeAll(async () => {
    c = await buildTestApp();
    orgId = await createTestOrg(c.tenancy, 'deny');
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('every route answers 401, whatever header, query or cookie claims a tenant', async () => {
    for (const [method, url] of ROUTES) {
      for (const attempt of [
        {},
        { headers: { 'x-organization': orgId, 'x-tenant-id': orgId } },
        { query: { org: orgId, tenant_id: orgId } },
        { headers: { cookie: `org=${orgId}`, authorization: `Bearer ${orgId}` } },
      ]) {
        const res = await c.app.inject({
          method,
          url,
          payload: method === 'POST' ? { name: 'x' } : undefined,
          ...attempt,
        });
        expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 401 });
        expect(res.json()).toEqual({
          error: { code: 'UNAUTHENTICATED', message: 'authentication required' },
        });
      }
    }
  });
});

describe('projects routes behind a verified principal (test resolver)', () => {
  let c: Composition & { logs: LogLines };
  let tokenA: string;
  let tokenB: string;
  let orgA: string;
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    const r = createTestAuthenticator();
    c = await buildTestApp({ authenticator: r.authenticator });
    orgA = await createTestOrg(c.tenancy, 'ra');
    const orgB = await createTestOrg(c.tenancy, 'rb');
    tokenA = r.issue(orgA);
    tokenB = r.issue(orgB);
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('full CRUD over HTTP', async () => {
    const created = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: auth(tokenA),
      payload: { name: 'API' },
    });
    expect(created.statusCode).toBe(201);
    const p = created.json<{ id: string; name: string }>();
    expect((await c.app.inject({ url: `/v1/projects/${p.id}`, headers: auth(tokenA) })).json()).toMatchObject(
      { name: 'API' },
    );
    const patched = await c.app.inject({
      method: 'PATCH',
      url: `/v1/projects/${p.id}`,
      headers: auth(tokenA),
      payload: { description: 'the API' },
    });
    expect(patched.json()).toMatchObject({ name: 'API', description: 'the API' });
    const list = await c.app.inject({ url: '/v1/projects?limit=1', headers: auth(tokenA) });
    expect(list.json()).toMatchObject({ data: [{ id: p.id }] });
    const del = await c.app.inject({ method: 'DELETE', url: `/v1/projects/${p.id}`, headers: auth(tokenA) });
    expect(del.statusCode).toBe(204);
  });

  it('another tenant’s project answers 404 with the same body as a missing one, on every route', async () => {
    const p = (
      await c.app.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: auth(tokenA),
        payload: { name: 'Private' },
      })
    ).json<{ id: string }>();
    const missing = uuidv7();
    for (const [method, payload] of [
      ['GET', undefined],
      ['PATCH', { name: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const foreign = await c.app.inject({
        method,
        url: `/v1/projects/${p.id}`,
        headers: auth(tokenB),
        payload,
      });
      const absent = await c.app.inject({
        method,
        url: `/v1/projects/${missing}`,
        headers: auth(tokenB),
        payload,
      });
      expect(foreign.statusCode).toBe(404);
      expect(foreign.body).toBe(absent.body);
    }
    const listB = await c.app.inject({ url: '/v1/projects', headers: auth(tokenB) });
    expect(listB.json<{ data: { id: string }[] }>().data.map((x) => x.id)).not.toContain(p.id);
    expect((await c.app.inject({ url: `/v1/projects/${p.id}`, headers: auth(tokenA) })).statusCode).toBe(200);
  });

  it('validation errors are 400 and name the field', async () => {
    const cases = [
      [{}, 'body.name'],
      [{ name: '' }, 'body.name'],
      [{ name: 'ok', extra: 1 }, 'body.extra'],
      [{ name: 'ok', description: 5 }, 'body.description'],
    ] as const;
    for (const [payload, field] of cases) {
      const res = await c.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(tokenA), payload });
      expect(res.statusCode).toBe(400);
      const body = res.json<{ error: { code: string; message: string } }>();
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.message.startsWith(field)).toBe(true);
    }
    const q = await c.app.inject({ url: '/v1/projects?limit=0', headers: auth(tokenA) });
    expect(q.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect(q.json<{ error: { message: string } }>().error.message).toMatch(/^querystring\.limit/);
  });

  it('malformed JSON and oversized bodies get clear errors', async () => {
    const bad = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { ...auth(tokenA), 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    const big = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: auth(tokenA),
      payload: { name: 'x', description: 'y'.repeat(2 * 1024 * 1024) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('Idempotency-Key: a retried POST returns the first project, marked as replayed', async () => {
    const headers = { ...auth(tokenA), 'idempotency-key': `k-${uuidv7()}` };
    const one = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers,
      payload: { name: 'Idem' },
    });
    const two = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers,
      payload: { name: 'Idem' },
    });
    expect(two.statusCode).toBe(201);
    expect(two.json()).toEqual(one.json());
    expect(two.headers['idempotent-replayed']).toBe('true');
    const bad = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { ...auth(tokenA), 'idempotency-key': 'has space' },
      payload: { name: 'x' },
    });
    expect(bad.json()).toMatchObject({ error: { code: 'IDEMPOTENCY_KEY_INVALID' } });
  });

  it('every log line inside a tenant request carries tenant_id, user_id and request_id', async () => {
    await c.app.inject({
      url: '/v1/projects',
      headers: { ...auth(tokenA), 'x-request-id': 'log-check-0001' },
    });
    const lines = c.logs.filter((l) => l.request_id === 'log-check-0001');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l.tenant_id).toBe(orgA);
      expect(typeof l.user_id).toBe('string');
    }
  });

  it('an audited change records the actor, request id, IP and user agent of the request', async () => {
    const res = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { ...auth(tokenA), 'x-request-id': 'audit-check-0001', 'user-agent': 'audit-test/1.0' },
      payload: { name: 'Audited over HTTP' },
    });
    expect(res.statusCode).toBe(201);
    const id = res.json<{ id: string }>().id;
    const [event] = (await auditEvents(c.tenancy.withTenant, orgA, 'project.created')).filter(
      (e) => e.target.id === id,
    );
    expect(event).toMatchObject({
      action: 'project.created',
      actor: { type: 'user' },
      target: { type: 'project', id },
      requestId: 'audit-check-0001',
      userAgent: 'audit-test/1.0',
      metadata: { name: 'Audited over HTTP' },
    });
    expect(event!.actor.id).toMatch(/^user-/);
    expect(event!.ip).toBeTruthy();
  });
});
