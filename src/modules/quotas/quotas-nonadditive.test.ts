import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
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
import { mailText } from '../../../test/support/smtp.js';
import { createQuotaCounters } from './quota-counters.js';
import { listNotices, quotaUsage, uniqueLookup } from './quotas.repository.js';
import { eventually, FREE_PRICE } from '../../../test/support/polling.js';

const price = FREE_PRICE;

interface Outcome {
  status: string;
  error?: { code: string; message: string };
}

/**
 * Quotas on meters whose usage does not add up (real PostgreSQL, the full composition): `max` and
 * `latest` refuse an event whose own value exceeds a hard limit; `unique_count` refuses a new value once
 * the period's distinct count reached the limit, never one already counted; soft quotas on them mail the
 * owners; another organization's values never count.
 */
describe('quotas on max, latest and unique_count meters', () => {
  let c: E2eApp;
  let admin: User;
  let owner: User;
  const run = randomBytes(4).toString('hex');
  const maxMeter = `q.max.${run}`;
  const latestMeter = `q.latest.${run}`;
  const uniqueMeter = `q.uniq.${run}`;

  const planWith = async (quotas: unknown[]) => {
    const key = `q${run}-${randomBytes(3).toString('hex')}`;
    const res = await admin.browser.post('/v1/platform/plans', { key, name: 'Q', price, quotas });
    expect(res.statusCode, res.body).toBe(201);
    return key;
  };
  const orgOnPlan = async (slug: string, plan: string) => {
    const o = await createOrg(owner.browser, slug);
    const res = await admin.browser.put(`/v1/platform/organizations/${o.id}/plan`, { plan });
    expect(res.statusCode, res.body).toBe(200);
    const made = await owner.browser.post(
      '/v1/api-keys',
      { name: 'ingest', scopes: ['usage:write', 'usage:read'] },
      inOrg(o.id),
    );
    expect(made.statusCode, made.body).toBe(201);
    return { id: o.id, key: api(c, rememberSecret(made.json<{ secret: string }>().secret)) };
  };
  let seq = 0;
  const ev = (meter: string, value?: number, user?: string) => ({
    id: `e${seq++}`,
    meter,
    timestamp: new Date(Date.now() - 1000).toISOString(),
    ...(value === undefined ? {} : { value }),
    ...(user === undefined ? {} : { properties: { user } }),
  });
  const post = async (o: { key: ReturnType<typeof api> }, events: unknown[]) => {
    const res = await o.key.post('/v1/usage/events', { events });
    return res;
  };
  const codes = (res: { json: <T>() => T }) =>
    res.json<{ results: Outcome[] }>().results.map((r) => r.error?.code ?? r.status);
  const aggregatedValue = (orgId: string, meter: string) =>
    c.tenancy.withTenant(
      orgId,
      async (db) =>
        (
          await sql<{ value: string }>`select value::text as value from usage_aggregates
            where organization_id = ${orgId} and meter = ${meter} and granularity = 'day'`.execute(db)
        ).rows[0]?.value,
      { mode: 'read' },
    );

  beforeAll(async () => {
    c = await startApp({ quotas: { refreshMs: 1000 }, usage: { aggregateEveryMs: 500, recordFlushMs: 500 } });
    admin = await signUpPlatformAdmin(c, 'qn-admin');
    owner = await signUp(c, 'qn-owner');
    for (const [key, aggregation, property] of [
      [maxMeter, 'max', undefined],
      [latestMeter, 'latest', undefined],
      [uniqueMeter, 'unique_count', 'user'],
    ] as const) {
      const res = await admin.browser.post('/v1/platform/meters', { key, aggregation, property });
      expect(res.statusCode, res.body).toBe(201);
    }
  });
  afterAll(() => stopApp(c));

  it('max: an event over a hard limit is refused, one at the limit accepted; usage is the known max; another organization has its own', async () => {
    const plan = await planWith([{ meter: maxMeter, period: 'day', limit: 100, enforcement: 'hard' }]);
    const a = await orgOnPlan('qma', plan);
    const b = await orgOnPlan('qmb', plan);
    const first = await post(a, [ev(maxMeter, 50), ev(maxMeter, 100), ev(maxMeter, 101), ev(maxMeter, -5)]);
    expect(codes(first)).toEqual(['accepted', 'accepted', 'QUOTA_EXCEEDED', 'accepted']);
    const refused = await post(a, [ev(maxMeter, 100.5)]);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.json<{ error: unknown }>().error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: expect.stringMatching(/^the value 100\.5 exceeds the daily quota of 100 /) as unknown,
      details: { meter: maxMeter, period: 'day', limit: 100, usage: 100 },
    });
    // B's usage is its own: its refusal reports its max (20), not A's 100.
    expect(codes(await post(b, [ev(maxMeter, 20)]))).toEqual(['accepted']);
    const ofB = await post(b, [ev(maxMeter, 150)]);
    expect(ofB.json<{ error: { details: unknown } }>().error.details).toMatchObject({
      usage: 20,
      limit: 100,
    });
  });

  it('latest: a value over the hard limit is refused (equal is accepted), and a lower value after it is accepted', async () => {
    const plan = await planWith([{ meter: latestMeter, period: 'month', limit: 10, enforcement: 'hard' }]);
    const a = await orgOnPlan('qla', plan);
    const res = await post(a, [ev(latestMeter, 10), ev(latestMeter, 11), ev(latestMeter, 3)]);
    expect(codes(res)).toEqual(['accepted', 'QUOTA_EXCEEDED', 'accepted']);
    const over = res.json<{ results: Outcome[] }>().results[1]!.error!.message;
    expect(over).toContain('monthly quota of 10');
    // What happened: the event's own value is over the limit (not "reached"), with the period's usage.
    expect(over).toMatch(/^the value 11 exceeds the monthly quota of 10 /);
    expect(over).not.toContain('is reached');
    // A value-less event is invalid for a latest meter before any quota is looked at.
    expect(codes(await post(a, [ev(latestMeter)]))).toEqual(['INVALID_VALUE']);
  });

  it('unique_count: at the limit a value already counted is accepted and a new one refused, on this instance and on another one (one lookup); another organization’s values never count', async () => {
    const plan = await planWith([{ meter: uniqueMeter, period: 'day', limit: 2, enforcement: 'hard' }]);
    const a = await orgOnPlan('qua', plan);
    const b = await orgOnPlan('qub', plan);
    // B first: its values u3 and u4 are not A's.
    expect(
      codes(await post(b, [ev(uniqueMeter, undefined, 'u3'), ev(uniqueMeter, undefined, 'u4')])),
    ).toEqual(['accepted', 'accepted']);
    const first = await post(a, [
      ev(uniqueMeter, undefined, 'u1'),
      ev(uniqueMeter, undefined, 'u2'),
      ev(uniqueMeter, undefined, 'u1'),
      ev(uniqueMeter, undefined, 'u3'),
    ]);
    expect(codes(first)).toEqual(['accepted', 'accepted', 'accepted', 'QUOTA_EXCEEDED']);
    expect(first.json<{ results: Outcome[] }>().results[3]!.error!.message).toContain('(2 used)');
    expect(codes(await post(a, [ev(uniqueMeter, undefined, 'u2')]))).toEqual(['accepted']);

    // Another instance (its own counters, the same database) once the events are aggregated: it knows
    // the count (2) but not the values, so it looks each one up.
    await eventually(
      () => aggregatedValue(a.id, uniqueMeter),
      (v) => v === '2',
    );
    const lookups: string[] = [];
    const other = createQuotaCounters({
      load: (orgId, at) => c.tenancy.withTenant(orgId, (db) => quotaUsage(db, orgId, at), { mode: 'read' }),
      lookupUnique: (orgId, meter, values, start, end) => {
        lookups.push(...values);
        return c.tenancy.withTenant(orgId, (db) => uniqueLookup(db, orgId, meter, values, start, end), {
          mode: 'read',
        });
      },
    });
    const now = Date.now();
    await other.ready(a.id, now);
    expect(other.usage(a.id, uniqueMeter, 'day', now)).toBe(2n * 10n ** 12n);
    expect(other.tryUnique(a.id, uniqueMeter, 'u1', now)).toBe('lookup');
    expect(await other.checkUnique(a.id, uniqueMeter, 'u1', now)).toBeNull();
    // Known now: no second lookup.
    expect(other.tryUnique(a.id, uniqueMeter, 'u1', now)).toBeNull();
    // u3 is B's value, not A's: refused.
    expect(other.tryUnique(a.id, uniqueMeter, 'u3', now)).toBe('lookup');
    expect(await other.checkUnique(a.id, uniqueMeter, 'u3', now)).toMatchObject({ limit: 2, usage: 2 });
    expect(lookups).toEqual(['u1', 'u3']);
    // B's quota is its own: it still has room for neither u1 (new to B) nor more, as it holds 2 already.
    const ofB = await post(b, [ev(uniqueMeter, undefined, 'u4'), ev(uniqueMeter, undefined, 'u1')]);
    expect(codes(ofB)).toEqual(['accepted', 'QUOTA_EXCEEDED']);
  });

  it('unique_count: a value refused on one instance fits once the exact count shows room (an over-count is corrected by the lookup)', async () => {
    const plan = await planWith([{ meter: uniqueMeter, period: 'month', limit: 2, enforcement: 'hard' }]);
    const a = await orgOnPlan('quc', plan);
    expect(codes(await post(a, [ev(uniqueMeter, undefined, 'x1')]))).toEqual(['accepted']);
    const now = Date.now();
    // An instance whose reads are stale by one value (it believes 2 are used).
    const other = createQuotaCounters({
      load: async (orgId, at) =>
        (await c.tenancy.withTenant(orgId, (db) => quotaUsage(db, orgId, at), { mode: 'read' })).map((r) => ({
          ...r,
          usage: r.usage + 10n ** 12n,
        })),
      lookupUnique: (orgId, meter, values, start, end) =>
        c.tenancy.withTenant(orgId, (db) => uniqueLookup(db, orgId, meter, values, start, end), {
          mode: 'read',
        }),
    });
    await other.ready(a.id, now);
    expect(other.tryUnique(a.id, uniqueMeter, 'x2', now)).toBe('lookup');
    expect(await other.checkUnique(a.id, uniqueMeter, 'x2', now)).toBeNull();
    expect(other.usage(a.id, uniqueMeter, 'month', now)).toBe(2n * 10n ** 12n);
  });

  it('soft quota on a max meter: the owners are mailed once at 100 % (the notice run reads the period’s max)', async () => {
    const plan = await planWith([{ meter: maxMeter, period: 'month', limit: 10, enforcement: 'soft' }]);
    const a = await orgOnPlan('qms', plan);
    // Soft: nothing refused, whatever the value.
    expect(codes(await post(a, [ev(maxMeter, 4), ev(maxMeter, 12), ev(maxMeter, 7)]))).toEqual([
      'accepted',
      'accepted',
      'accepted',
    ]);
    await eventually(
      () => aggregatedValue(a.id, maxMeter),
      (v) => v !== undefined && Number(v) === 12,
    );
    await Promise.all([c.services.quotaNotices.check([a.id]), c.services.quotaNotices.check([a.id])]);
    await c.services.quotaNotices.check([a.id]);
    const notices = await c.tenancy.withTenant(a.id, (db) => listNotices(db, a.id), { mode: 'read' });
    expect(notices.map((n) => [n.meter, n.threshold]).sort()).toEqual([
      [maxMeter, 100],
      [maxMeter, 80],
    ]);
    const at100 = `qms inc reached its ${maxMeter} quota`;
    await sharedMailbox().waitFor((m) => m.to.includes(owner.email) && mailText(m.raw).includes(at100));
    // Every check has ended and every mail queued to the owner has been sent: any duplicate is in.
    await c.services.quotaNotices.idle();
    await mailQueueDrained(owner.email);
    const mails = sharedMailbox()
      .all()
      .filter((m) => m.to.includes(owner.email) && mailText(m.raw).includes(`qms inc`));
    expect(mails).toHaveLength(1);
    expect(mailText(mails[0]!.raw)).toContain('12 of 10 this month');
  });
});
