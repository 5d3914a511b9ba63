import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { sharedMailbox } from '../../../test/support/mailbox.js';
import { mailQueueDrained } from '../../../test/support/jobs.js';
import { testDb } from '../../../test/support/tenancy.js';
import { mailText } from '../../../test/support/smtp.js';
import { listNotices } from './quotas.repository.js';
import { quotaRouteTable } from './quota-hook.js';
import { eventually, FREE_PRICE } from '../../../test/support/polling.js';

const price = FREE_PRICE;

interface QuotaBody {
  error: {
    code: string;
    message: string;
    details: { meter: string; period: string; limit: number; usage: number; resetAt: string };
  };
}

/**
 * Quota enforcement through the full composition (real PostgreSQL, the job worker, the SMTP sink): hard
 * `api_requests` quotas on the request path, hard quotas on ingestion per event, soft-quota owner mails
 * once per threshold, and one organization's usage never counting against another's.
 */
describe('quota enforcement', () => {
  let c: E2eApp;
  let admin: User;
  let owner: User;
  let offset = 0;
  const run = randomBytes(4).toString('hex');
  const countMeter = `q.count.${run}`;
  const softMeter = `q.soft.${run}`;

  const createPlan = async (key: string, quotas: unknown[]) => {
    const res = await admin.browser.post('/v1/platform/plans', { key, name: 'Q', price, quotas });
    expect(res.statusCode, res.body).toBe(201);
  };
  const putOnPlan = async (orgId: string, plan: string) => {
    const res = await admin.browser.put(`/v1/platform/organizations/${orgId}/plan`, { plan });
    expect(res.statusCode, res.body).toBe(200);
  };
  const keyFor = async (orgId: string) => {
    const made = await owner.browser.post(
      '/v1/api-keys',
      { name: 'ingest', scopes: ['usage:write', 'usage:read', 'projects:read'] },
      inOrg(orgId),
    );
    expect(made.statusCode, made.body).toBe(201);
    return api(c, rememberSecret(made.json<{ secret: string }>().secret));
  };
  const events = (prefix: string, n: number, meter: string) =>
    Array.from({ length: n }, (_, i) => ({
      id: `${prefix}-${i}`,
      meter,
      timestamp: new Date(Date.now() - 1000).toISOString(),
    }));

  beforeAll(async () => {
    // The aggregator (and the notice run after it) every 500 ms: its effects are seen sooner.
    c = await startApp({
      quotas: { now: () => Date.now() + offset, refreshMs: 1000 },
      usage: { aggregateEveryMs: 500, recordFlushMs: 500 },
    });
    admin = await signUpPlatformAdmin(c, 'q-admin');
    owner = await signUp(c, 'q-owner');
    for (const key of [countMeter, softMeter]) {
      const res = await admin.browser.post('/v1/platform/meters', { key, aggregation: 'count' });
      expect(res.statusCode, res.body).toBe(201);
    }
  });
  afterAll(() => stopApp(c));

  it('the routes a hard api_requests quota never blocks are exactly these (no POST creating tenant data)', async () => {
    const exempt = quotaRouteTable(c.app)
      .filter((r) => r.exempt && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    expect(exempt).toEqual([
      'DELETE /v1/api-keys/:id',
      'DELETE /v1/members/:userId',
      'GET /v1/api-keys',
      'GET /v1/api-keys/:id',
      'GET /v1/audit-logs',
      'GET /v1/audit-logs/checkpoints',
      'GET /v1/audit-logs/export',
      'GET /v1/audit-logs/verify',
      'GET /v1/billing/invoices',
      'GET /v1/billing/invoices/:id',
      'GET /v1/billing/invoices/:id/pdf',
      'GET /v1/billing/plan',
      'GET /v1/billing/preview',
      'GET /v1/members',
      'GET /v1/organization',
      'GET /v1/organization/exports',
      'GET /v1/organization/exports/:id',
      'GET /v1/usage/summary',
      'POST /v1/organization/export',
      'PUT /v1/billing/plan',
    ]);
    // Only billing, and taking the organization's data out (GDPR export), may be exempt with a method that
    // writes something other than a removal.
    for (const r of exempt) {
      if (/^(POST|PUT|PATCH) /.test(r)) {
        expect(r).toMatch(/^\w+ \/v1\/billing\/|^POST \/v1\/organization\/export$/);
      }
    }
    // The OpenAPI document declares the 429 on the routes the quota may refuse, not on exempt ones.
    const doc = (await c.app.inject('/openapi.json')).json<{
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    }>();
    expect(doc.paths['/v1/projects']?.post?.responses).toHaveProperty('429');
    expect(doc.paths['/v1/members']?.get?.responses).not.toHaveProperty('429');
    // Sessions and sign-out are not tenant routes: never checked at all.
    const tenantUrls = quotaRouteTable(c.app).map((r) => r.url);
    expect(tenantUrls.filter((u) => u.startsWith('/v1/auth/'))).toEqual([]);
  });

  it('hard api_requests quota: 429 QUOTA_EXCEEDED with meter, limit, usage, resetAt and Retry-After; billing stays reachable; another organization is not affected; the next day resets it', async () => {
    const plan = `q${run}-req`;
    await createPlan(plan, [{ meter: 'api_requests', period: 'day', limit: 5, enforcement: 'hard' }]);
    const a = await createOrg(owner.browser, 'qa');
    const b = await createOrg(owner.browser, 'qb');
    await putOnPlan(a.id, plan);
    await putOnPlan(b.id, plan);
    let ok = 0;
    let refused: Awaited<ReturnType<typeof owner.browser.get>> | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      const res = await owner.browser.get('/v1/projects', inOrg(a.id));
      if (res.statusCode === 200) ok++;
      else refused = res;
    }
    expect(refused?.statusCode).toBe(429);
    expect(ok).toBeLessThanOrEqual(5);
    const body = refused!.json<QuotaBody>();
    const now = new Date(Date.now());
    const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    expect(body.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { meter: 'api_requests', period: 'day', limit: 5, usage: 5, resetAt: tomorrow.toISOString() },
    });
    const retry = Number(refused!.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(86_400);
    expect(Math.abs(retry - (tomorrow.getTime() - Date.now()) / 1000)).toBeLessThan(60);
    // Still refused, and refusals do not count as usage.
    const again = await owner.browser.get('/v1/projects', inOrg(a.id));
    expect(again.statusCode).toBe(429);
    expect(again.json<QuotaBody>().error.details.usage).toBe(5);
    // What an owner needs to get out of it, or to contain an attack, stays reachable.
    expect((await owner.browser.get('/v1/billing/plan', inOrg(a.id))).statusCode).toBe(200);
    for (const path of ['/v1/api-keys', '/v1/members', '/v1/audit-logs', '/v1/organization']) {
      expect((await owner.browser.get(path, inOrg(a.id))).statusCode, path).toBe(200);
    }
    // The refusal sends the limit-reached notice (queued in the background).
    await c.services.quotaNotices.idle();
    const noticed = await c.tenancy.withTenant(a.id, (db) => listNotices(db, a.id), { mode: 'read' });
    expect(noticed).toMatchObject([{ meter: 'api_requests', period: 'day', threshold: 100 }]);
    const q = new URLSearchParams({
      meter: 'api_requests',
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
      granularity: 'hour',
    });
    expect((await owner.browser.get(`/v1/usage/summary?${q}`, inOrg(a.id))).statusCode).toBe(200);
    // Not tenant-scoped: never checked.
    expect((await owner.browser.get('/v1/organizations')).statusCode).toBe(200);
    // Organization B, same plan, same owner: its own counter.
    expect((await owner.browser.get('/v1/projects', inOrg(b.id))).statusCode).toBe(200);
    // The next UTC day (the injected clock): the quota has reset.
    offset = tomorrow.getTime() - Date.now() + 1000;
    try {
      const next = await owner.browser.get('/v1/projects', inOrg(a.id));
      expect(next.statusCode, next.body).toBe(200);
    } finally {
      offset = 0;
    }
  });

  it('ingestion: events over a hard quota are refused per event and never stored; a batch refused entirely is a 429', async () => {
    const plan = `q${run}-ing`;
    await createPlan(plan, [{ meter: countMeter, period: 'month', limit: 10, enforcement: 'hard' }]);
    const a = await createOrg(owner.browser, 'qi');
    const b = await createOrg(owner.browser, 'qj');
    await putOnPlan(a.id, plan);
    await putOnPlan(b.id, plan);
    const keyA = await keyFor(a.id);
    const keyB = await keyFor(b.id);
    const first = await keyA.post('/v1/usage/events', { events: events('a1', 8, countMeter) });
    expect(first.json()).toMatchObject({ accepted: 8, errors: 0 });
    // 2 fit; an event weighing 5 does not (the usage plus its amount would pass the limit).
    const second = await keyA.post('/v1/usage/events', {
      events: [...events('a2', 3, countMeter), { ...events('a2w', 1, countMeter)[0], value: 5 }],
    });
    expect(second.statusCode, second.body).toBe(200);
    const out = second.json<{
      accepted: number;
      errors: number;
      results: { status: string; error?: { code: string } }[];
    }>();
    expect(out).toMatchObject({ accepted: 2, errors: 2 });
    expect(out.results.map((r) => r.error?.code ?? r.status)).toEqual([
      'accepted',
      'accepted',
      'QUOTA_EXCEEDED',
      'QUOTA_EXCEEDED',
    ]);
    const third = await keyA.post('/v1/usage/events', { events: events('a3', 2, countMeter) });
    expect(third.statusCode).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
    expect(third.json<QuotaBody>().error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { meter: countMeter, period: 'month', limit: 10, usage: 10 },
    });
    const stored = await c.tenancy.withTenant(
      a.id,
      async (db) =>
        (
          await sql<{ n: string }>`select count(*) as n from usage_events
            where organization_id = ${a.id} and meter = ${countMeter}`.execute(db)
        ).rows[0]!,
    );
    expect(Number(stored.n)).toBe(10);
    // Organization B's quota is its own.
    const other = await keyB.post('/v1/usage/events', { events: events('b1', 10, countMeter) });
    expect(other.json()).toMatchObject({ accepted: 10, errors: 0 });
  });

  it('ingestion: a backdated event is checked against its own (earlier) period, which has its own limit', async () => {
    const plan = `q${run}-late`;
    await createPlan(plan, [{ meter: countMeter, period: 'day', limit: 3, enforcement: 'hard' }]);
    const a = await createOrg(owner.browser, 'ql');
    await putOnPlan(a.id, plan);
    const key = await keyFor(a.id);
    const at = (ms: number, prefix: string, n: number) =>
      events(prefix, n, countMeter).map((e) => ({ ...e, timestamp: new Date(ms).toISOString() }));
    const codes = (res: { json: <T>() => T }) =>
      res
        .json<{ results: { status: string; error?: { code: string } }[] }>()
        .results.map((r) => r.error?.code ?? r.status);
    const now = Date.now();
    const today = await key.post('/v1/usage/events', { events: at(now - 1000, 'l-today', 4) });
    expect(codes(today)).toEqual(['accepted', 'accepted', 'accepted', 'QUOTA_EXCEEDED']);
    // Yesterday has its own 3, and no more: a backdated event does not bypass the quota.
    const yesterday = await key.post('/v1/usage/events', { events: at(now - 86_400_000, 'l-yday', 4) });
    expect(codes(yesterday)).toEqual(['accepted', 'accepted', 'accepted', 'QUOTA_EXCEEDED']);
    // Today stays full.
    expect((await key.post('/v1/usage/events', { events: at(now - 500, 'l-again', 1) })).statusCode).toBe(
      429,
    );
  });

  it('notices: the background run after aggregation checks the periods of the aggregated events (a crossing yesterday, aggregated today)', async () => {
    const plan = `q${run}-yday`;
    await createPlan(plan, [{ meter: countMeter, period: 'day', limit: 2, enforcement: 'hard' }]);
    const a = await createOrg(owner.browser, 'qy');
    await putOnPlan(a.id, plan);
    const key = await keyFor(a.id);
    const yesterday = Date.now() - 86_400_000;
    const sent = events('y', 2, countMeter).map((e) => ({
      ...e,
      timestamp: new Date(yesterday).toISOString(),
    }));
    expect((await key.post('/v1/usage/events', { events: sent })).json()).toMatchObject({ accepted: 2 });
    const dayStart = new Date(yesterday);
    dayStart.setUTCHours(0, 0, 0, 0);
    // Nothing was refused: only the aggregator's run (every 500 ms here, its notice run queued, not
    // awaited) can find that yesterday reached its limit.
    const got = await eventually(
      () => c.tenancy.withTenant(a.id, (db) => listNotices(db, a.id), { mode: 'read' }),
      (rows) => rows.length > 0,
    );
    expect(got).toEqual([{ meter: countMeter, period: 'day', periodStart: dayStart, threshold: 100 }]);
    await sharedMailbox().waitFor(
      (m) => m.to.includes(owner.email) && mailText(m.raw).includes(`qy inc reached its ${countMeter} quota`),
    );
  });

  it('the changed-organizations function lists each organization with quotas and the UTC days of its events, not one without', async () => {
    const withQuota = `q${run}-fnq`;
    const none = `q${run}-fn0`;
    await createPlan(withQuota, [{ meter: softMeter, period: 'day', limit: 1000, enforcement: 'soft' }]);
    await createPlan(none, []);
    const a = await createOrg(owner.browser, 'qf');
    const b = await createOrg(owner.browser, 'qg');
    await putOnPlan(a.id, withQuota);
    await putOnPlan(b.id, none);
    const yesterday = Date.now() - 86_400_000;
    for (const [org, prefix] of [
      [a.id, 'fa'],
      [b.id, 'fb'],
    ] as const) {
      const key = await keyFor(org);
      const sent = [
        ...events(`${prefix}-t`, 1, softMeter),
        ...events(`${prefix}-y`, 1, softMeter).map((e) => ({
          ...e,
          timestamp: new Date(yesterday).toISOString(),
        })),
      ];
      expect((await key.post('/v1/usage/events', { events: sent })).json()).toMatchObject({ accepted: 2 });
    }
    const worker = new pg.Pool({ connectionString: testDb().workerUrl, max: 1 });
    try {
      const res = await worker.query<{ org_id: string; day_start: Date }>(
        `select org_id, day_start from worker_api.app_usage_changed_organizations('1'::xid8,
           pg_current_xact_id(), now() - interval '3 days')
         where org_id = any($1::uuid[]) order by day_start`,
        [[a.id, b.id]],
      );
      const day = (ms: number) => new Date(Math.floor(ms / 86_400_000) * 86_400_000);
      expect(res.rows).toEqual([
        { org_id: a.id, day_start: day(yesterday) },
        { org_id: a.id, day_start: day(Date.now()) },
      ]);
    } finally {
      await worker.end();
    }
  });

  it('soft quota: the owners are mailed once at 80 % and once at 100 % per period, however often and concurrently the check runs', async () => {
    const plan = `q${run}-soft`;
    await createPlan(plan, [{ meter: softMeter, period: 'month', limit: 10, enforcement: 'soft' }]);
    const a = await createOrg(owner.browser, 'qs');
    const b = await createOrg(owner.browser, 'qt');
    await putOnPlan(a.id, plan);
    await putOnPlan(b.id, plan);
    const keyA = await keyFor(a.id);
    const mailsTo = (words: string) =>
      sharedMailbox()
        .all()
        .filter((m) => m.to.includes(owner.email) && mailText(m.raw).includes(words));
    const notices = () => c.tenancy.withTenant(a.id, (db) => listNotices(db, a.id), { mode: 'read' });
    const aggregated = async (n: number) => {
      await eventually(
        async () => {
          // The background aggregator runs every 500 ms (it checks notices after each run); so does this.
          await c.services.quotaNotices.check([a.id]);
          return c.tenancy.withTenant(
            a.id,
            async (db) =>
              (
                await sql<{ value: string }>`select value from usage_aggregates
                  where organization_id = ${a.id} and meter = ${softMeter} and granularity = 'day'`.execute(
                  db,
                )
              ).rows,
          );
        },
        (rows) => rows.reduce((s, r) => s + Number(r.value), 0) === n,
      );
    };

    const first = await keyA.post('/v1/usage/events', { events: events('s1', 8, softMeter) });
    expect(first.json()).toMatchObject({ accepted: 8 });
    await aggregated(8);
    await Promise.all([c.services.quotaNotices.check([a.id]), c.services.quotaNotices.check([a.id])]);
    await c.services.quotaNotices.check([a.id]);
    expect((await notices()).map((n) => n.threshold)).toEqual([80]);
    const at80 = `qs inc used 80 % of its ${softMeter} quota`;
    await sharedMailbox().waitFor((m) => m.to.includes(owner.email) && mailText(m.raw).includes(at80));

    // Soft: nothing is refused beyond the limit.
    const second = await keyA.post('/v1/usage/events', { events: events('s2', 4, softMeter) });
    expect(second.json()).toMatchObject({ accepted: 4, errors: 0 });
    await aggregated(12);
    await Promise.all([c.services.quotaNotices.check([a.id]), c.services.quotaNotices.check([a.id])]);
    expect((await notices()).map((n) => n.threshold).sort()).toEqual([100, 80]);
    const at100 = `qs inc reached its ${softMeter} quota`;
    await sharedMailbox().waitFor((m) => m.to.includes(owner.email) && mailText(m.raw).includes(at100));
    await c.services.quotaNotices.check([a.id, b.id]);
    // Every check has ended and every mail queued to the owner has been sent: any duplicate is in.
    await c.services.quotaNotices.idle();
    await mailQueueDrained(owner.email);
    expect(mailsTo(at80)).toHaveLength(1);
    expect(mailsTo(at100)).toHaveLength(1);
    // Organization B has no usage and no notice.
    const ofB = await c.tenancy.withTenant(b.id, (db) => listNotices(db, b.id), { mode: 'read' });
    expect(ofB).toEqual([]);
  });
});
