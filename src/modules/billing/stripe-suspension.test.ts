import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { pino } from 'pino';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import { stripeOrganizations } from '../../platform/tenancy/privileged.js';
import { suspendExpiredGrace } from './stripe-grace.js';
import {
  customerOrg,
  DAY,
  deliver,
  event,
  invoice,
  mails,
  now,
  org,
  post,
  state,
  stripeSuite,
  subscription,
  useStripeSuite,
  type StripeSuite,
} from './stripe.test-support.js';

/**
 * Review 2 regressions: administrator and billing suspensions kept apart (a payment lifts only billing's;
 * an administrator's unsuspension gives a fresh grace period, after which billing suspends again), one
 * open Checkout session per organization, and the customer created with an owner's address.
 */
describe('Stripe: suspensions and Checkout sessions', () => {
  useStripeSuite();
  let c: StripeSuite['c'];
  let fake: StripeSuite['fake'];
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let adminUser: string;
  beforeAll(async () => {
    ({ c, fake, admin, workerPool } = stripeSuite());
    adminUser = uuidv7();
    await admin.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
      adminUser,
      `admin-${adminUser}@example.test`,
    ]);
  });
  const outcome = async (e: unknown) => (await deliver(e)).json<{ outcome: string }>().outcome;
  /** This file's organizations: the database is shared with other files running at the same time, whose
   *  organizations the grace job here must neither suspend nor wait on. */
  const mine = new Set<string>();
  /** The grace job at `at`, over this file's organizations; with `only`, as if the scan had found that
   *  organization alone. */
  const graceScan = (at: number, log?: pino.Logger, only?: string) =>
    suspendExpiredGrace({
      graceExpired: async (n, after, limit) =>
        only
          ? after
            ? []
            : [only]
          : (await stripeOrganizations(workerPool, 'grace_expired', n, after, limit)).filter((id) =>
              mine.has(id),
            ),
      withTenant: c.tenancy.withTenant,
      now: () => new Date(at),
      billingLink: (slug) => `http://app.test/o/${slug}/billing`,
      organizationChanged: (id) => c.services.organizationPolicies.invalidate(id),
      ...(log ? { log } : {}),
    });
  const suspendedBy = async (orgId: string) =>
    (
      await admin.query<{ suspended_by: string | null; suspended_by_billing: boolean }>(
        `select o.suspension_reason as suspended_by, s.suspended_by_billing from organizations o
           join stripe_customers s on s.organization_id = o.id where o.id = $1`,
        [orgId],
      )
    ).rows[0]!;
  /** Subscribed, then a failed payment: past due, its grace period ending 7 days after `t`. */
  async function pastDue(prefix: string) {
    const o = await customerOrg(prefix);
    mine.add(o.id);
    const t = now();
    await deliver(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), t - 10),
    );
    await deliver(event('invoice.payment_failed', invoice(o.customer), t));
    return { ...o, t };
  }
  /** Subscribed, then a failed payment, then billing's suspension after the grace period. */
  async function billingSuspended(prefix: string) {
    const o = await pastDue(prefix);
    const t = o.t;
    expect(await graceScan(t * 1000 + 8 * DAY)).toContain(o.id);
    expect(await suspendedBy(o.id)).toEqual({ suspended_by: 'billing', suspended_by_billing: true });
    return o;
  }

  it("a payment does not lift an administrator's suspension set on top of billing's", async () => {
    const o = await billingSuspended('ss-ontop');
    await c.services.platform.setSuspended(adminUser, o.id, true);
    expect(await suspendedBy(o.id)).toEqual({ suspended_by: 'admin', suspended_by_billing: false });
    expect(await outcome(event('invoice.paid', invoice(o.customer), o.t + 120))).toBe('applied');
    const s = await state(o.id);
    expect(s.status).toBe('active');
    expect(s.suspended_at).not.toBeNull();
    // The owners are not told it is active again (it is not): the payment counted, the suspension stays.
    expect(await mails(o.id, /is active again$/)).toEqual([]);
    const paid = await mails(o.id, /^Payment received for /);
    expect(paid).toHaveLength(1);
    expect((paid[0]!.payload as { text: string }).text).toContain(
      "remains suspended by the platform's administrators",
    );
  });

  it("an administrator's unsuspension gives a fresh grace period, not a lasting exemption", async () => {
    const o = await billingSuspended('ss-courtesy');
    await c.services.platform.setSuspended(adminUser, o.id, false);
    const s = await state(o.id);
    expect(s.suspended_at).toBeNull();
    expect(s.status).toBe('past_due');
    expect(s.grace_ends_at!.getTime()).toBeGreaterThan(Date.now() + 6 * DAY);
    expect(await suspendedBy(o.id)).toEqual({ suspended_by: null, suspended_by_billing: false });
    expect(await graceScan(Date.now() + DAY)).not.toContain(o.id);
    // Still unpaid when the new grace period ends: billing suspends again.
    expect(await graceScan(Date.now() + 8 * DAY)).toContain(o.id);
    expect(await suspendedBy(o.id)).toEqual({ suspended_by: 'billing', suspended_by_billing: true });
    // And a payment lifts that one.
    expect(await outcome(event('invoice.paid', invoice(o.customer), o.t + 300))).toBe('applied');
    expect((await state(o.id)).suspended_at).toBeNull();
  });

  const paymentFailedMails = async (orgId: string) => (await mails(orgId, /^Payment failed/)).length;

  it("an administrator's suspension on top of billing's, then its unsuspension: a fresh grace period from the unsuspension", async () => {
    const o = await billingSuspended('ss-ontop-lift');
    await c.services.platform.setSuspended(adminUser, o.id, true);
    const mailed = await paymentFailedMails(o.id);
    const before = Date.now();
    await c.services.platform.setSuspended(adminUser, o.id, false);
    const s = await state(o.id);
    expect(s.suspended_at).toBeNull();
    expect(s.status).toBe('past_due');
    // Before, the old grace period (ended) was kept: the job suspended it again at its next run.
    expect(s.grace_ends_at!.getTime()).toBeGreaterThanOrEqual(before + 7 * DAY);
    expect(await graceScan(Date.now())).not.toContain(o.id);
    expect(await graceScan(Date.now() + 6 * DAY)).not.toContain(o.id);
    // The owners are told the new deadline.
    expect(await paymentFailedMails(o.id)).toBe(mailed + 1);
    const last = (await mails(o.id, /^Payment failed/)).at(-1)!.payload as { text: string };
    expect(last.text).toContain(s.grace_ends_at!.toISOString().slice(0, 10));
    // Unpaid at its end: billing's suspension again.
    expect(await graceScan(Date.now() + 8 * DAY)).toContain(o.id);
    expect(await suspendedBy(o.id)).toEqual({ suspended_by: 'billing', suspended_by_billing: true });
  });

  it('a grace period that ran out while an administrator held the organization suspended: a fresh one from the unsuspension', async () => {
    const o = await pastDue('ss-admin-while-due');
    await c.services.platform.setSuspended(adminUser, o.id, true);
    await admin.query(
      `update stripe_customers set grace_ends_at = now() - interval '1 day' where organization_id = $1`,
      [o.id],
    );
    expect(await graceScan(Date.now())).not.toContain(o.id); // the administrator's suspension holds
    await c.services.platform.setSuspended(adminUser, o.id, false);
    expect(await graceScan(Date.now())).not.toContain(o.id);
    const s = await state(o.id);
    expect(s.suspended_at).toBeNull();
    expect(s.grace_ends_at!.getTime()).toBeGreaterThan(Date.now() + 6 * DAY);
    expect(await graceScan(Date.now() + 8 * DAY)).toContain(o.id);
  });

  const waitingOnOrganizations = async () =>
    Number(
      (
        await admin.query<{ n: string }>(
          `select count(*)::text as n from pg_stat_activity where datname = current_database()
             and wait_event_type = 'Lock' and query like '%"organizations"%'`,
        )
      ).rows[0]!.n,
    );
  const waiting = async (n: number) => {
    for (let i = 0; i < 200 && (await waitingOnOrganizations()) < n; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(await waitingOnOrganizations()).toBeGreaterThanOrEqual(n);
  };
  /** Runs `first`, then `second`, both queued behind a lock of the organization row held here; then
   *  releases it, and returns how each ended. */
  async function race<A, B>(orgId: string, first: () => Promise<A>, second: () => Promise<B>) {
    const holder = await connect(testDb().adminUrl);
    try {
      await holder.query('begin');
      await holder.query('select 1 from organizations where id = $1 for update', [orgId]);
      const a = first();
      await waiting(1);
      const b = second();
      await waiting(2);
      await holder.query('commit');
      return await Promise.allSettled([a, b]);
    } finally {
      await holder.end();
    }
  }

  it('an administrator suspending while the grace job suspends: one lock order, no deadlock, one end state', async () => {
    // Before, the job locked the customer row first and read the organization unlocked, while an
    // administrator's suspension locks the organization row, then the customer row: queued behind one
    // another, they deadlocked (one of them failed).
    for (const adminFirst of [true, false]) {
      const o = await pastDue(`ss-race-${adminFirst ? 'admin' : 'job'}`);
      const lines: string[] = [];
      const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
      const suspend = () => c.services.platform.setSuspended(adminUser, o.id, true);
      const expire = () => graceScan(o.t * 1000 + 8 * DAY, log, o.id);
      const settled = adminFirst ? await race(o.id, suspend, expire) : await race(o.id, expire, suspend);
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(lines.filter((l) => l.includes('billing suspension failed'))).toEqual([]);
      // Whichever ran first, the administrator's suspension is the one that holds.
      expect(await suspendedBy(o.id)).toEqual({ suspended_by: 'admin', suspended_by_billing: false });
    }
  });

  it('an administrator suspending while a payment arrives: no deadlock, the suspension holds, the payment counts', async () => {
    for (const adminFirst of [true, false]) {
      const o = await billingSuspended(`ss-race-paid-${adminFirst ? 'admin' : 'hook'}`);
      const suspend = () => c.services.platform.setSuspended(adminUser, o.id, true);
      const pay = () => deliver(event('invoice.paid', invoice(o.customer), o.t + 60));
      const settled = adminFirst ? await race(o.id, suspend, pay) : await race(o.id, pay, suspend);
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      const answer = settled[adminFirst ? 1 : 0] as PromiseFulfilledResult<{ statusCode: number }>;
      expect(answer.value.statusCode).toBe(200);
      expect(await suspendedBy(o.id)).toEqual({ suspended_by: 'admin', suspended_by_billing: false });
      expect((await state(o.id)).status).toBe('active');
    }
  });

  it('keeps one open Checkout session per organization; a completed one refuses another', async () => {
    const o = await org('ss-checkout');
    const first = await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' });
    const second = await post(o.token, '/v1/billing/checkout-session', { plan: 'enterprise' });
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    const sessionOf = (r: typeof first) =>
      fake.checkoutSessions.find(
        (s) =>
          s.url === r.json<{ url: string }>().url || s.id === r.json<{ url: string }>().url.split('/').pop(),
      )!;
    const [a, b] = [sessionOf(first), sessionOf(second)];
    expect(a.status).toBe('expired');
    expect(b.status).toBe('open');
    // The second is paid (another tab) before its subscription's webhook arrives: no third one.
    fake.completeCheckout(b.id as string);
    const third = await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' });
    expect(third.statusCode).toBe(409);
    expect(third.json<{ error: { code: string } }>().error.code).toBe('SUBSCRIPTION_EXISTS');
    expect(fake.checkoutSessions.at(-1)!.status).toBe('expired');
    // The customer was created with an owner's address.
    const customer = (
      await admin.query<{ customer_id: string }>(
        'select customer_id from stripe_customers where organization_id = $1',
        [o.id],
      )
    ).rows[0]!.customer_id;
    expect(fake.customers.get(customer)!.email).toBe(o.email);
  });
});
