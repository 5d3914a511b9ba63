import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  api,
  createOrg,
  inOrg,
  rememberSecret,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from '../../../test/e2e/helpers.js';
import { eventually } from '../../../test/support/polling.js';

/** Polls `fn` until it returns a value `ok` accepts (the aggregator and the recorder run every 500 ms here). */
describe('usage routes through the full composition', () => {
  let c: E2eApp;
  let owner: User;
  let admin: User;
  let org: { id: string; slug: string };
  let key: ReturnType<typeof api>;
  const meter = `rt.sum.${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    c = await startApp({ usage: { aggregateEveryMs: 500, recordFlushMs: 500 } });
    owner = await signUp(c, 'usage-owner');
    admin = await signUpPlatformAdmin(c, 'usage-admin');
    org = await createOrg(owner.browser, 'usage');
    const made = await owner.browser.post(
      '/v1/api-keys',
      { name: 'ingest', scopes: ['usage:write', 'usage:read'] },
      inOrg(org.id),
    );
    expect(made.statusCode, made.body).toBe(201);
    key = api(c, rememberSecret(made.json<{ secret: string }>().secret));
  });
  afterAll(() => stopApp(c));

  it('platform administrators manage meters: create is idempotent by key, archive refuses new events', async () => {
    const def = { key: meter, aggregation: 'sum', unit: 'GB', description: 'storage' };
    const created = await admin.browser.post('/v1/platform/meters', def);
    expect(created.statusCode, created.body).toBe(201);
    const again = await admin.browser.post('/v1/platform/meters', def);
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await admin.browser.post('/v1/platform/meters', { ...def, aggregation: 'max' });
    expect(other.statusCode).toBe(409);
    expect(other.json<{ error: { code: string } }>().error.code).toBe('METER_EXISTS');
    const bad = await admin.browser.post('/v1/platform/meters', { key: 'u.x', aggregation: 'unique_count' });
    expect(bad.statusCode).toBe(400);
    const patched = await admin.browser.patch(`/v1/platform/meters/${meter}`, { unit: 'GiB' });
    expect(patched.json<{ unit: string }>().unit).toBe('GiB');
    const got = await admin.browser.get(`/v1/platform/meters/${meter}`);
    expect(got.json()).toMatchObject({ key: meter, aggregation: 'sum', unit: 'GiB', archivedAt: null });
    const page = await admin.browser.get('/v1/platform/meters?limit=200');
    expect(page.json<{ data: { key: string }[] }>().data.map((m) => m.key)).toContain('api_requests');
    // Not for organization owners.
    expect((await owner.browser.post('/v1/platform/meters', { ...def, key: 'x.y' })).statusCode).toBe(403);
    const audit = await admin.browser.get('/v1/platform/audit-logs?limit=200');
    expect(audit.body).toContain('meter.created');
  });

  it('an API key with usage:write ingests; the summary answers from the aggregates', async () => {
    const ts = new Date(Date.now() - 60_000).toISOString();
    const res = await key.post('/v1/usage/events', {
      events: [
        { id: 'a', meter, value: '1.25', timestamp: ts },
        { id: 'b', meter, value: 2, timestamp: ts },
        { id: 'a', meter, value: '1.25', timestamp: ts },
        { id: 'c', meter: 'nope', timestamp: ts },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 2, duplicates: 1, conflicts: 0, errors: 1 });
    const q = new URLSearchParams({
      meter,
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
      granularity: 'hour',
    });
    const summary = await eventually(
      async () => (await key.get(`/v1/usage/summary?${q}`)).json<{ buckets: { value: string }[] }>(),
      (s) => s.buckets.reduce((n, b) => n + Number(b.value), 0) === 3.25,
      20_000,
    );
    expect(summary.buckets.map((b) => b.value)).toEqual(
      summary.buckets.length === 1 ? ['3.25'] : expect.any(Array),
    );
    // Members read usage; the owner's session can record it too.
    expect((await owner.browser.get(`/v1/usage/summary?${q}`, inOrg(org.id))).statusCode).toBe(200);
    // A key without usage:write cannot.
    const readOnly = await owner.browser.post(
      '/v1/api-keys',
      { name: 'ro', scopes: ['usage:read'] },
      inOrg(org.id),
    );
    const ro = api(c, rememberSecret(readOnly.json<{ secret: string }>().secret));
    expect(
      (await ro.post('/v1/usage/events', { events: [{ id: 'z', meter, value: 1, timestamp: ts }] }))
        .statusCode,
    ).toBe(403);
  });

  it('400 only for a malformed request as a whole; range bounds per granularity', async () => {
    const ts = new Date().toISOString();
    expect((await key.post('/v1/usage/events', { events: [] })).statusCode).toBe(400);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ id: `t${i}`, meter, timestamp: ts }));
    expect((await key.post('/v1/usage/events', { events: tooMany })).statusCode).toBe(400);
    expect((await key.post('/v1/usage/events', { events: [{ meter, timestamp: ts }] })).statusCode).toBe(400);
    const wide = new URLSearchParams({
      meter,
      from: new Date(Date.now() - 3 * 86_400_000).toISOString(),
      to: new Date().toISOString(),
      granularity: 'minute',
    });
    const res = await key.get(`/v1/usage/summary?${wide}`);
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('USAGE_RANGE_TOO_LARGE');
    const unknown = await key.get(`/v1/usage/summary?${wide.toString().replace(meter, 'no.such')}`);
    expect(unknown.statusCode).toBe(404);
  });

  it('every tenant request counts in the built-in api_requests meter, without a write per request', async () => {
    const q = new URLSearchParams({
      meter: 'api_requests',
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
      granularity: 'day',
    });
    const total = async () =>
      (await key.get(`/v1/usage/summary?${q}`))
        .json<{ buckets: { value: string }[] }>()
        .buckets.reduce((n, b) => n + Number(b.value), 0);
    const before = await total();
    for (let i = 0; i < 5; i++) await owner.browser.get('/v1/organization', inOrg(org.id));
    // The 5 requests, and the summary reads themselves (1 + the polls) count too.
    expect(await eventually(total, (n) => n >= before + 6, 20_000)).toBeGreaterThanOrEqual(before + 6);
  });

  it('an id over 128 UTF-8 bytes, an internal: id and the built-in meter are refused per event', async () => {
    const ts = new Date(Date.now() - 60_000).toISOString();
    const res = await key.post('/v1/usage/events', {
      events: [
        { id: '😀'.repeat(40), meter, value: 1, timestamp: ts }, // 40 characters (the schema's 128 allow it), 160 bytes
        { id: 'internal:forged', meter, value: 1, timestamp: ts },
        { id: 'own-requests', meter: 'api_requests', value: 1000, timestamp: ts },
        { id: 'fine-😀', meter, value: 1, timestamp: ts },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<{ accepted: number; results: { status: string; error?: { code: string } }[] }>();
    expect(body.results.map((r) => r.error?.code ?? r.status)).toEqual([
      'INVALID_ID',
      'INVALID_ID',
      'METER_RESERVED',
      'accepted',
    ]);
  });

  it('api_requests counts only responses below 400', async () => {
    const record = vi.spyOn(c.services.usageRecorder, 'record');
    try {
      expect((await key.post('/v1/usage/events', { events: [] })).statusCode).toBe(400);
      expect(record).not.toHaveBeenCalled();
      expect((await owner.browser.get('/v1/organization', inOrg(org.id))).statusCode).toBe(200);
      expect(record).toHaveBeenCalledTimes(1);
      expect(record.mock.calls[0]![1]).toBe('api_requests');
    } finally {
      record.mockRestore();
    }
  });

  it('archiving a meter refuses its new events per event', async () => {
    const archived = await admin.browser.post(`/v1/platform/meters/${meter}/archive`);
    expect(archived.statusCode, archived.body).toBe(200);
    const res = await key.post('/v1/usage/events', {
      events: [{ id: 'after-archive', meter, value: 1, timestamp: new Date().toISOString() }],
    });
    expect(res.json<{ results: { error?: { code: string } }[] }>().results[0]!.error?.code).toBe(
      'METER_ARCHIVED',
    );
  });
});
