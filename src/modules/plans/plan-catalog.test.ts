import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrg,
  inOrg,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from '../../../test/e2e/helpers.js';
import type { Plan } from './plan-model.js';

const price = { currency: 'USD', interval: 'month', components: [{ model: 'flat', amount: 1500 }] };

/**
 * The plan catalog through the full composition: the seeded plans, platform administrators' CRUD
 * (validated, idempotent create, audited in the platform chain), refused to everyone else, and a change
 * of a plan's entitlements seen by the next flag evaluation of its organizations.
 */
describe('plan catalog', () => {
  let c: E2eApp;
  let admin: User;
  let owner: User;
  let org: { id: string; slug: string };
  const run = randomBytes(4).toString('hex');
  const key = (name: string) => `t${run}-${name}`;

  beforeAll(async () => {
    c = await startApp();
    admin = await signUpPlatformAdmin(c, 'plans-admin');
    owner = await signUp(c, 'plans-owner');
    org = await createOrg(owner.browser, 'plc');
  });
  afterAll(() => stopApp(c));

  it('seeds free (3 seats, API quotas, 0 USD), pro (public, priced) and enterprise (unlimited, hidden)', async () => {
    const res = await admin.browser.get('/v1/platform/plans?limit=200');
    expect(res.statusCode, res.body).toBe(200);
    const plans = new Map(res.json<{ data: Plan[] }>().data.map((p) => [p.key, p]));
    expect(plans.get('free')).toMatchObject({
      seatLimit: 3,
      public: true,
      archivedAt: null,
      price: { currency: 'USD', interval: 'month', components: [{ model: 'flat', amount: 0 }] },
    });
    expect(plans.get('free')!.quotas.map((q) => [q.meter, q.period, q.enforcement])).toEqual([
      ['api_requests', 'day', 'hard'],
      ['api_requests', 'month', 'hard'],
    ]);
    expect(plans.get('pro')).toMatchObject({ seatLimit: 20, public: true });
    expect(plans.get('pro')!.price.components).toEqual(
      expect.arrayContaining([
        { model: 'flat', amount: 4900 },
        { model: 'per_seat', unitAmount: 1000 },
      ]),
    );
    expect(plans.get('enterprise')).toMatchObject({ seatLimit: null, public: false });
    // Audit retention (migration 0031): 90 days on free, a year on pro, forever on enterprise.
    expect(
      [plans.get('free'), plans.get('pro'), plans.get('enterprise')].map((p) => p?.auditRetentionDays),
    ).toEqual([90, 365, null]);
    // A new organization is on free.
    const mine = await owner.browser.get('/v1/billing/plan', inOrg(org.id));
    expect(mine.statusCode, mine.body).toBe(200);
    expect(mine.json()).toMatchObject({ plan: { key: 'free' }, seats: { used: 1, limit: 3 } });
  });

  it('only platform administrators reach the catalog: an owner gets 403, no session 401', async () => {
    expect((await owner.browser.get('/v1/platform/plans', inOrg(org.id))).statusCode).toBe(403);
    const planted = await owner.browser.post(
      '/v1/platform/plans',
      { key: key('planted'), name: 'P', price },
      inOrg(org.id),
    );
    expect(planted.statusCode).toBe(403);
    expect((await owner.browser.patch('/v1/platform/plans/free', { seatLimit: 1000 })).statusCode).toBe(403);
    expect((await owner.browser.post('/v1/platform/plans/free/archive')).statusCode).toBe(403);
    const anonymous = await c.app.inject({ url: '/v1/platform/plans' });
    expect(anonymous.statusCode).toBe(401);
    expect((await admin.browser.get(`/v1/platform/plans/${key('planted')}`)).statusCode).toBe(404);
  });

  it('create (idempotent by key), get, update, archive and unarchive, each audited in the platform chain', async () => {
    const k = key('team');
    const body = {
      key: k,
      name: 'Team',
      seatLimit: 10,
      quotas: [{ meter: 'api_requests', period: 'month', limit: 100_000, enforcement: 'soft' }],
      entitlements: ['reports.export'],
      price,
      public: true,
    };
    const created = await admin.browser.post('/v1/platform/plans', body);
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      ...body,
      description: '',
      auditRetentionDays: null, // not given: audit events kept forever
      archivedAt: null,
      version: 1,
    });
    // The same request again: 200, the same plan, nothing written.
    const again = await admin.browser.post('/v1/platform/plans', body);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual(created.json());
    const different = await admin.browser.post('/v1/platform/plans', { ...body, seatLimit: 11 });
    expect(different.statusCode).toBe(409);
    expect(different.json()).toMatchObject({ error: { code: 'PLAN_KEY_TAKEN' } });

    const updated = await admin.browser.patch(`/v1/platform/plans/${k}`, { seatLimit: 12, public: false });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json()).toMatchObject({ seatLimit: 12, public: false, version: 2 });
    const unchanged = await admin.browser.patch(`/v1/platform/plans/${k}`, { seatLimit: 12 });
    expect(unchanged.json()).toMatchObject({ version: 2 });
    const retention = await admin.browser.patch(`/v1/platform/plans/${k}`, { auditRetentionDays: 180 });
    expect(retention.json()).toMatchObject({ auditRetentionDays: 180, seatLimit: 12, version: 3 });
    expect((await admin.browser.patch(`/v1/platform/plans/${k}`, { auditRetentionDays: 0 })).statusCode).toBe(
      400,
    );
    const archived = await admin.browser.post(`/v1/platform/plans/${k}/archive`);
    expect(archived.statusCode, archived.body).toBe(200);
    expect(archived.json<Plan>().archivedAt).not.toBeNull();
    expect((await admin.browser.post(`/v1/platform/plans/${k}/archive`)).json()).toEqual(archived.json());
    const restored = await admin.browser.post(`/v1/platform/plans/${k}/unarchive`);
    expect(restored.json()).toMatchObject({ archivedAt: null });
    expect((await admin.browser.get(`/v1/platform/plans/${k}`)).json()).toEqual(restored.json());
    expect((await admin.browser.patch(`/v1/platform/plans/${key('nope')}`, { name: 'x' })).statusCode).toBe(
      404,
    );

    const log = await admin.browser.get('/v1/platform/audit-logs?limit=200');
    expect(log.statusCode, log.body).toBe(200);
    const events = log
      .json<{ data: { action: string; target: { id: string | null }; actor: { id: string | null } }[] }>()
      .data.filter((e) => e.target.id === k);
    expect(events.map((e) => e.action).sort()).toEqual([
      'plan.archived',
      'plan.created',
      'plan.unarchived',
      'plan.updated',
      'plan.updated',
    ]);
    for (const e of events) expect(e.actor.id).toBe(admin.userId);
  });

  it('refuses what is not a plan, naming the field (400)', async () => {
    const bad = async (body: Record<string, unknown>, field: RegExp) => {
      const res = await admin.browser.post('/v1/platform/plans', {
        key: key('bad'),
        name: 'B',
        price,
        ...body,
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<{ error: { message: string } }>().error.message).toMatch(field);
    };
    await bad({ key: 'Not A Key' }, /key/);
    await bad({ price: { currency: 'usd', interval: 'month', components: [] } }, /currency/);
    await bad({ price: { ...price, components: [{ model: 'flat', amount: 1.5 }] } }, /price/);
    await bad(
      {
        price: {
          ...price,
          components: [
            {
              model: 'graduated',
              meter: 'api_requests',
              tiers: [
                { upTo: 100, unitAmount: 2 },
                { upTo: 50, unitAmount: 1 },
              ],
            },
          ],
        },
      },
      /tiers\[1\]/,
    );
    await bad({ seatLimit: 0 }, /seatLimit/);
    await bad({ quotas: [{ meter: 'Bad Meter', period: 'day', limit: 1, enforcement: 'hard' }] }, /quotas/);
    await bad(
      { quotas: [{ meter: 'api_requests', period: 'week', limit: 1, enforcement: 'hard' }] },
      /quotas/,
    );
    const q = { meter: 'api_requests', period: 'day', limit: 5, enforcement: 'hard' };
    await bad({ quotas: [q, { ...q, limit: 6 }] }, /quotas\[1\]/);
    await bad({ entitlements: ['a.b', 'a.b'] }, /entitlements/);
    await bad({ public: 'yes' }, /public/);
  });

  it('a change of a plan’s entitlements is seen by the next flag evaluation of its organizations', async () => {
    const flag = `plc-${run}.export`;
    const made = await admin.browser.post('/v1/platform/flags', {
      key: flag,
      kind: 'boolean',
      defaultValue: false,
    });
    expect(made.statusCode, made.body).toBe(201);
    const k = key('flagged');
    const plan = await admin.browser.post('/v1/platform/plans', { key: k, name: 'F', price, public: true });
    expect(plan.statusCode, plan.body).toBe(201);
    const moved = await owner.browser.put('/v1/billing/plan', { plan: k }, inOrg(org.id));
    expect(moved.statusCode, moved.body).toBe(200);
    const detail = async () => {
      const res = await owner.browser.get('/v1/flags', inOrg(org.id));
      expect(res.statusCode, res.body).toBe(200);
      return res
        .json<{ details: { key: string; value: unknown; reason: string }[] }>()
        .details.find((d) => d.key === flag);
    };
    expect(await detail()).toEqual({ key: flag, value: false, reason: 'default' }); // cached now
    await admin.browser.patch(`/v1/platform/plans/${k}`, { entitlements: [flag] });
    expect(await detail()).toEqual({ key: flag, value: true, reason: 'entitlement' });
    await admin.browser.patch(`/v1/platform/plans/${k}`, { entitlements: [] });
    expect(await detail()).toEqual({ key: flag, value: false, reason: 'default' });
  });
});
