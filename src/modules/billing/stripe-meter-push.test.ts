import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import Stripe from 'stripe';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createMeterPusher, MeterPushFailed } from './stripe-meter-push.js';
import {
  addUsage,
  customerOrg,
  deliver,
  event,
  KEY,
  now,
  stripeSuite,
  subscription,
  useStripeSuite,
  type StripeSuite,
} from './stripe.test-support.js';

/**
 * Review 2 regressions of the meter push: a resend carries the first send's parameters exactly (the fake
 * refuses a reused idempotency key with other parameters, as Stripe does); one failing push does not
 * block the organization's other meters; usage outside a subscription is never pushed.
 */
describe('Stripe meter push', () => {
  useStripeSuite();
  let c: StripeSuite['c'];
  let fake: StripeSuite['fake'];
  let admin: pg.Client;
  beforeAll(() => {
    ({ c, fake, admin } = stripeSuite());
  });
  const sdk = () => new Stripe(KEY, { ...fake.sdkOptions, maxNetworkRetries: 0 });
  /** A Stripe client recording the meter event calls (and failing those of `failing` event names). */
  function spying(failing = new Set<string>()) {
    const calls: { params: Record<string, unknown>; key: string | undefined }[] = [];
    const real = sdk();
    const stripe = {
      billing: {
        meterEvents: {
          create: (params: Record<string, unknown>, opts?: { idempotencyKey?: string }) => {
            calls.push({ params, key: opts?.idempotencyKey });
            if (failing.has(params.event_name as string)) return Promise.reject(new Error('stripe down'));
            return real.billing.meterEvents.create(params as never, opts);
          },
        },
      },
    } as unknown as Stripe;
    return { calls, stripe };
  }

  it('resends a pending push with the very parameters of its first send (row lock held meanwhile)', async () => {
    const o = await customerOrg('mp-resend');
    await deliver(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), now()),
    );
    await addUsage(o.id, 40);
    const { calls, stripe } = spying();
    let crash = true;
    const pusher = createMeterPusher({
      stripe,
      withTenant: c.tenancy.withTenant,
      meterEvents: { api_requests: 'mp_resend' },
      afterSend: async () => {
        if (crash) {
          crash = false;
          throw new Error('crash');
        }
      },
    });
    // Another transaction holds the stripe_customers row 1.5 s: the push's transaction starts before.
    const holder = await connect(testDb().adminUrl);
    await holder.query('begin');
    await holder.query('select 1 from stripe_customers where organization_id = $1 for update', [o.id]);
    const release = new Promise((r) => setTimeout(r, 1500)).then(() => holder.query('commit'));
    const errorsBefore = fake.idempotencyErrors;
    await expect(pusher.pushOrganization(o.id)).rejects.toThrow(/crash/);
    await release;
    await holder.end();
    expect(await pusher.pushOrganization(o.id)).toBe(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
    expect(fake.idempotencyErrors).toBe(errorsBefore);
    const rows = await admin.query(
      `select status, attempts from stripe_meter_pushes where organization_id = $1`,
      [o.id],
    );
    expect(rows.rows).toEqual([{ status: 'sent', attempts: 1 }]);
    expect(fake.meterTotal(o.customer, 'mp_resend')).toBe(40);
  });

  it('the fake answers idempotency_error to a reused key with other parameters (as Stripe)', async () => {
    const o = await customerOrg('mp-idem');
    const s = sdk();
    const params = {
      event_name: 'mp_idem',
      identifier: `id_${o.id}`,
      payload: { stripe_customer_id: o.customer, value: '1' },
    };
    await s.billing.meterEvents.create({ ...params, timestamp: now() - 5 }, { idempotencyKey: `k-${o.id}` });
    await expect(
      s.billing.meterEvents.create({ ...params, timestamp: now() - 1 }, { idempotencyKey: `k-${o.id}` }),
    ).rejects.toMatchObject({ type: 'StripeIdempotencyError' });
  });

  it('one failing push does not block the organization’s other meters; it is retried', async () => {
    const o = await customerOrg('mp-isolate');
    await deliver(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), now()),
    );
    await addUsage(o.id, 5, new Date(), 'api_requests');
    await addUsage(o.id, 7, new Date(), 'storage.gb');
    const failing = new Set(['mp_bad']);
    const { stripe } = spying(failing);
    const pusher = createMeterPusher({
      stripe,
      withTenant: c.tenancy.withTenant,
      meterEvents: { api_requests: 'mp_bad', 'storage.gb': 'mp_good' },
    });
    await expect(pusher.pushOrganization(o.id)).rejects.toBeInstanceOf(MeterPushFailed);
    expect(fake.meterTotal(o.customer, 'mp_good')).toBe(7);
    // The failing meter's pending push stays first; the others keep going.
    await addUsage(o.id, 3, new Date(), 'storage.gb');
    await expect(pusher.pushOrganization(o.id)).rejects.toBeInstanceOf(MeterPushFailed);
    expect(fake.meterTotal(o.customer, 'mp_good')).toBe(10);
    const bad = await admin.query<{ status: string; attempts: number; last_error: string }>(
      `select status, attempts, last_error from stripe_meter_pushes where organization_id = $1 and meter = 'api_requests'`,
      [o.id],
    );
    expect(bad.rows).toEqual([{ status: 'pending', attempts: 2, last_error: 'stripe down' }]);
    failing.clear();
    expect(await pusher.pushOrganization(o.id)).toBe(1);
    expect(fake.meterTotal(o.customer, 'mp_bad')).toBe(5);
  });

  it('pushes only usage of the current subscription: not before it, not between two', async () => {
    const o = await customerOrg('mp-gap');
    const t = now();
    const hour = 3_600_000;
    await addUsage(o.id, 500, new Date(Date.now() - 3 * hour)); // customer, no subscription yet
    const startA = { ...subscription(o.customer, 'active', 'price_pro', 'sub_a'), start_date: t - 100 };
    await deliver(event('customer.subscription.created', startA, t - 100));
    await addUsage(o.id, 10);
    const pusher = createMeterPusher({
      stripe: sdk(),
      withTenant: c.tenancy.withTenant,
      meterEvents: { api_requests: 'mp_gap' },
    });
    await pusher.pushOrganization(o.id);
    // The 500 of 3 hours ago (before sub_a's hour) is not pushed.
    const first = fake.meterTotal(o.customer, 'mp_gap');
    expect(first).toBe(10);
    await deliver(event('customer.subscription.deleted', { ...startA, status: 'canceled' }, t - 50));
    await addUsage(o.id, 1000); // on the free plan
    expect(await pusher.pushOrganization(o.id)).toBe(0);
    const later = new Date(Date.now() + 2 * hour);
    const startB = {
      ...subscription(o.customer, 'active', 'price_pro', 'sub_b'),
      start_date: Math.floor(later.getTime() / 1000),
    };
    await deliver(event('customer.subscription.created', startB, t));
    await addUsage(o.id, 4, new Date(later.getTime() + 60_000));
    await pusher.pushOrganization(o.id);
    expect(fake.meterTotal(o.customer, 'mp_gap') - first).toBe(4);
  });
});
