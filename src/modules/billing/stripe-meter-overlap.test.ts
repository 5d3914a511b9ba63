import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Logger } from 'pino';
import Stripe from 'stripe';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { selectBillingProvider } from './providers/select-provider.js';
import { alreadyRecorded, createMeterPusher, MeterPushFailed } from './stripe-meter-push.js';
import {
  addUsage,
  customerOrg,
  deliver,
  event,
  KEY,
  stripeSuite,
  subscription,
  useStripeSuite,
  type StripeSuite,
} from './stripe.test-support.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const sec = (ms: number) => Math.floor(ms / 1000);

/** A logger that keeps its lines (level, object, message). */
function logLines() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at =
    (level: string) =>
    (obj: Record<string, unknown>, msg = '') =>
      lines.push({ level, obj, msg });
  const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  return { lines, log: log as unknown as Logger };
}

/**
 * Review 3 regressions of the meter push, through the real webhook route and the fake Stripe: usage is not
 * pushed twice when a new subscription starts in the hour of the previous one's end, or was created while
 * the previous one was current; only whole numbers are pushed (the remainder carried); a push Stripe
 * refuses for good is abandoned and its amount pushed again under a new identifier; one meter whose push
 * cannot even be written does not stop the others; meters that cannot be pushed are named at start.
 */
describe('Stripe meter push: overlaps, whole numbers, refusals', () => {
  useStripeSuite();
  let c: StripeSuite['c'];
  let fake: StripeSuite['fake'];
  let admin: pg.Client;
  beforeAll(() => {
    ({ c, fake, admin } = stripeSuite());
  });
  const sdk = () => new Stripe(KEY, { ...fake.sdkOptions, maxNetworkRetries: 0 });
  const pusher = (meterEvents: Record<string, string>, log?: Logger) =>
    createMeterPusher({ stripe: sdk(), withTenant: c.tenancy.withTenant, meterEvents, log });

  it('a cancellation at :20 and a new subscription at :40 of the same hour: the hour is not pushed twice', async () => {
    const o = await customerOrg('mo-same-hour');
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const a = { ...subscription(o.customer, 'active', 'price_pro', 'sub_h_a'), start_date: sec(hour - HOUR) };
    await deliver(event('customer.subscription.created', a, sec(hour - HOUR)));
    await addUsage(o.id, 5, new Date(hour + 5 * MIN));
    const p = pusher({ api_requests: 'mo_same_hour' });
    expect(await p.pushOrganization(o.id)).toBe(1);
    const ended = { ...a, status: 'canceled', ended_at: sec(hour + 20 * MIN) };
    await deliver(event('customer.subscription.deleted', ended, sec(hour + 20 * MIN)));
    await addUsage(o.id, 3, new Date(hour + 30 * MIN)); // between the two: on the free plan
    const b = {
      ...subscription(o.customer, 'active', 'price_pro', 'sub_h_b'),
      start_date: sec(hour + 40 * MIN),
    };
    await deliver(event('customer.subscription.created', b, sec(hour + 40 * MIN)));
    await addUsage(o.id, 4, new Date(hour + 45 * MIN));
    expect(await p.pushOrganization(o.id)).toBe(1);
    expect(fake.meterTotal(o.customer, 'mo_same_hour')).toBe(9);
  });

  it('a subscription created while another was current, adopted later: usage from the end of the first only', async () => {
    const o = await customerOrg('mo-overlap');
    const t = Date.now();
    const a = {
      ...subscription(o.customer, 'active', 'price_pro', 'sub_o_a'),
      start_date: sec(t - 3 * HOUR),
    };
    await deliver(event('customer.subscription.created', a, sec(t - 3 * HOUR)));
    const b = {
      ...subscription(o.customer, 'active', 'price_pro', 'sub_o_b'),
      start_date: sec(t - 2 * HOUR),
    };
    expect(
      (await deliver(event('customer.subscription.created', b, sec(t - 2 * HOUR)))).json<{
        outcome: string;
      }>().outcome,
    ).toBe('ignored');
    await addUsage(o.id, 7, new Date(t - 90 * MIN));
    const p = pusher({ api_requests: 'mo_overlap' });
    expect(await p.pushOrganization(o.id)).toBe(1);
    const ended = { ...a, status: 'canceled', ended_at: sec(t - 30 * MIN) };
    await deliver(event('customer.subscription.deleted', ended, sec(t - 30 * MIN)));
    await addUsage(o.id, 5, new Date(t - 10 * MIN));
    expect(
      (await deliver(event('customer.subscription.updated', b, sec(t - 5 * MIN)))).json<{ outcome: string }>()
        .outcome,
    ).toBe('applied');
    expect(await p.pushOrganization(o.id)).toBe(1);
    expect(fake.meterTotal(o.customer, 'mo_overlap')).toBe(12);
  });

  it('pushes whole numbers only and carries the remainder', async () => {
    const o = await customerOrg('mo-whole');
    const t = Date.now();
    const s = { ...subscription(o.customer, 'active', 'price_pro', 'sub_w'), start_date: sec(t - HOUR) };
    await deliver(event('customer.subscription.created', s, sec(t - HOUR)));
    await addUsage(o.id, 2.5, new Date(t - 30 * MIN));
    const p = pusher({ api_requests: 'mo_whole' });
    expect(await p.pushOrganization(o.id)).toBe(1);
    await addUsage(o.id, 0.4, new Date(t - 20 * MIN));
    expect(await p.pushOrganization(o.id)).toBe(0); // 2.9: still 2
    await addUsage(o.id, 0.7, new Date(t - 10 * MIN));
    expect(await p.pushOrganization(o.id)).toBe(1); // 3.6: 1 more
    const values = [...fake.meterEvents.values()]
      .filter((e) => e.event_name === 'mo_whole')
      .map((e) => e.payload.value);
    expect(values).toEqual(['2', '1']);
  });

  it('a push Stripe refuses for good is abandoned (error log) and its amount pushed again, new identifier', async () => {
    const o = await customerOrg('mo-refused');
    const t = Date.now();
    const s = { ...subscription(o.customer, 'active', 'price_pro', 'sub_r'), start_date: sec(t - HOUR) };
    await deliver(event('customer.subscription.created', s, sec(t - HOUR)));
    await addUsage(o.id, 6, new Date(t - 30 * MIN));
    const { lines, log } = logLines();
    const p = pusher({ api_requests: 'mo_refused' }, log);
    fake.refuseNext('/v1/billing/meter_events');
    await expect(p.pushOrganization(o.id)).rejects.toBeInstanceOf(MeterPushFailed);
    expect(lines.find((l) => l.level === 'error')?.msg).toMatch(/refused a meter push for good/);
    const rows = async () =>
      (
        await admin.query<{ identifier: string; status: string; value: string }>(
          `select identifier, status, value::text from stripe_meter_pushes where organization_id = $1
             order by created_at`,
          [o.id],
        )
      ).rows;
    expect((await rows()).map((r) => r.status)).toEqual(['abandoned']);
    expect(await p.pushOrganization(o.id)).toBe(1);
    const after = await rows();
    expect(after.map((r) => [r.status, r.value])).toEqual([
      ['abandoned', '6'],
      ['sent', '6'],
    ]);
    expect(after[1]!.identifier).not.toBe(after[0]!.identifier);
    expect(fake.meterTotal(o.customer, 'mo_refused')).toBe(6);
    // Nothing more to push.
    expect(await p.pushOrganization(o.id)).toBe(0);
  });

  it('one meter whose push cannot be written does not stop the others', async () => {
    const o = await customerOrg('mo-bad-meter');
    const t = Date.now();
    const s = { ...subscription(o.customer, 'active', 'price_pro', 'sub_m'), start_date: sec(t - HOUR) };
    await deliver(event('customer.subscription.created', s, sec(t - HOUR)));
    await addUsage(o.id, 2, new Date(t - 30 * MIN), 'api_requests');
    await addUsage(o.id, 3, new Date(t - 30 * MIN), 'storage.gb');
    // An event name the ledger refuses (over 100 characters; configuration refuses it since review 3).
    const p = pusher({ api_requests: 'x'.repeat(101), 'storage.gb': 'mo_good' });
    await expect(p.pushOrganization(o.id)).rejects.toBeInstanceOf(MeterPushFailed);
    expect(fake.meterTotal(o.customer, 'mo_good')).toBe(3);
  });

  it('recognizes Stripe’s duplicate-identifier answer by its documented code or its message', () => {
    expect(alreadyRecorded({ code: 'duplicate_meter_event', statusCode: 400 })).toBe(true);
    expect(alreadyRecorded({ raw: { code: 'duplicate_meter_event' }, statusCode: 400 })).toBe(true);
    expect(
      alreadyRecorded({ statusCode: 400, message: 'An event already exists with identifier sr-1.' }),
    ).toBe(true);
    expect(alreadyRecorded({ statusCode: 400, message: 'Timestamp must be within the past 35 days' })).toBe(
      false,
    );
  });

  it('names at start the meters that cannot be pushed (unknown, or not summed)', async () => {
    await admin.query(
      `insert into meters (key, aggregation, property) values ('mo_peak', 'max', 'v') on conflict do nothing`,
    );
    const { lines, log } = logLines();
    selectBillingProvider({
      stripe: {
        secretKey: KEY,
        webhookSecret: 'whsec_test',
        apiBase: fake.sdkOptions,
        graceDays: 7,
        planPrices: {},
        meterEvents: { api_requests: 'a', mo_peak: 'b', mo_nosuch: 'c' },
      },
      withTenant: c.tenancy.withTenant,
      controlDb: createPlatformDb(c.tenancy.control.pool),
      organizationByCustomer: () => Promise.resolve(null),
      publicUrl: 'http://app.test',
      planChanged: () => undefined,
      organizationChanged: () => undefined,
      log,
    });
    await expect
      .poll(() => lines.find((l) => l.msg === 'STRIPE_METER_EVENTS names meters that cannot be pushed')?.obj)
      .toEqual({ meters_unknown: ['mo_nosuch'], meters_not_summed: ['mo_peak'] });
  });
});
