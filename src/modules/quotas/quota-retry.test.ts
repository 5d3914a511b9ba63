import { randomBytes } from 'node:crypto';
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
import { FREE_PRICE } from '../../../test/support/polling.js';

const price = FREE_PRICE;

interface Outcome {
  status: string;
  error?: { code: string };
}

/**
 * A retried event (the same id) once its quota is reached: answered `duplicate` (same payload) or
 * `conflict` (another payload), never `QUOTA_EXCEEDED`: it was stored and counted before.
 */
describe('a retry at a hard quota', () => {
  let c: E2eApp;
  let admin: User;
  let owner: User;
  const run = randomBytes(4).toString('hex');
  const countMeter = `r.count.${run}`;
  const uniqueMeter = `r.uniq.${run}`;
  const maxMeter = `r.max.${run}`;
  const ts = new Date(Date.now() - 1000).toISOString();

  beforeAll(async () => {
    c = await startApp({ quotas: { refreshMs: 1000 } });
    admin = await signUpPlatformAdmin(c, 'qr-admin');
    owner = await signUp(c, 'qr-owner');
    for (const [key, aggregation, property] of [
      [countMeter, 'count', undefined],
      [uniqueMeter, 'unique_count', 'user'],
      [maxMeter, 'max', undefined],
    ] as const) {
      const res = await admin.browser.post('/v1/platform/meters', { key, aggregation, property });
      expect(res.statusCode, res.body).toBe(201);
    }
  });
  afterAll(() => stopApp(c));

  const planWith = async (quotas: unknown[]) => {
    const key = `r${run}-${randomBytes(3).toString('hex')}`;
    const res = await admin.browser.post('/v1/platform/plans', { key, name: 'R', price, quotas });
    expect(res.statusCode, res.body).toBe(201);
    return key;
  };
  const orgOnPlan = async (slug: string, plan: string) => {
    const o = await createOrg(owner.browser, slug);
    const res = await admin.browser.put(`/v1/platform/organizations/${o.id}/plan`, { plan });
    expect(res.statusCode, res.body).toBe(200);
    const made = await owner.browser.post(
      '/v1/api-keys',
      { name: 'i', scopes: ['usage:write'] },
      inOrg(o.id),
    );
    expect(made.statusCode, made.body).toBe(201);
    return { id: o.id, key: api(c, rememberSecret(made.json<{ secret: string }>().secret)) };
  };
  const post = async (o: { key: ReturnType<typeof api> }, events: unknown[]) => {
    const res = await o.key.post('/v1/usage/events', { events });
    return {
      status: res.statusCode,
      codes: (res.json<{ results?: Outcome[] }>().results ?? []).map((r) => r.error?.code ?? r.status),
    };
  };

  it('count: a stored event retried at the limit is duplicate (200), a reused id with another payload conflict', async () => {
    const o = await orgOnPlan(
      'rqc',
      await planWith([{ meter: countMeter, period: 'day', limit: 2, enforcement: 'hard' }]),
    );
    const e = (id: string, value = 1) => ({ id, meter: countMeter, value, timestamp: ts });
    expect(await post(o, [e('c1'), e('c2')])).toEqual({ status: 200, codes: ['accepted', 'accepted'] });
    expect(await post(o, [e('c2')])).toEqual({ status: 200, codes: ['duplicate'] });
    expect(await post(o, [e('c2'), e('c3'), e('c1', 2)])).toEqual({
      status: 200,
      codes: ['duplicate', 'QUOTA_EXCEEDED', 'conflict'],
    });
    // Only new events refused: still 429.
    expect((await post(o, [e('c4')])).status).toBe(429);
  });

  it('max: a stored event retried after the limit was lowered below its value is duplicate', async () => {
    const plan = await planWith([{ meter: maxMeter, period: 'day', limit: 100, enforcement: 'hard' }]);
    const o = await orgOnPlan('rqm', plan);
    const e = (id: string, value: number) => ({ id, meter: maxMeter, value, timestamp: ts });
    expect((await post(o, [e('m1', 80)])).codes).toEqual(['accepted']);
    const lower = await planWith([{ meter: maxMeter, period: 'day', limit: 50, enforcement: 'hard' }]);
    const res = await admin.browser.put(`/v1/platform/organizations/${o.id}/plan`, { plan: lower });
    expect(res.statusCode, res.body).toBe(200);
    expect(await post(o, [e('m1', 80), e('m2', 80)])).toEqual({
      status: 200,
      codes: ['duplicate', 'QUOTA_EXCEEDED'],
    });
  });

  it('unique_count: a stored event retried at the limit is duplicate', async () => {
    const o = await orgOnPlan(
      'rqu',
      await planWith([{ meter: uniqueMeter, period: 'day', limit: 1, enforcement: 'hard' }]),
    );
    const e = (id: string, user: string) => ({ id, meter: uniqueMeter, timestamp: ts, properties: { user } });
    expect((await post(o, [e('u1', 'a')])).codes).toEqual(['accepted']);
    expect(await post(o, [e('u1', 'a'), e('u2', 'b')])).toEqual({
      status: 200,
      codes: ['duplicate', 'QUOTA_EXCEEDED'],
    });
    // An id refused here and stored by its later occurrence in the same batch: judged on its own.
    expect(await post(o, [e('u3', 'c'), e('u3', 'a')])).toEqual({
      status: 200,
      codes: ['QUOTA_EXCEEDED', 'accepted'],
    });
  });
});
