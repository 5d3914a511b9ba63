import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  customerOrg,
  deliver,
  event,
  invoice,
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
 * Review 3 regressions through the webhook and Checkout routes: an ended subscription stays ended (a late
 * or same-second update does not bring it back, and the next subscription is followed); past due ends only
 * with the failed invoice paid; a paused subscription keeps no paid plan; the stored Checkout session is
 * done with once its subscription is adopted, and a completed one stays stored until then.
 */
describe('Stripe: subscription lifecycle', () => {
  useStripeSuite();
  let fake: StripeSuite['fake'];
  let admin: pg.Client;
  beforeAll(() => {
    ({ fake, admin } = stripeSuite());
  });
  const outcome = async (e: unknown) => (await deliver(e)).json<{ outcome: string }>().outcome;
  const row = async (orgId: string) =>
    (
      await admin.query<{
        subscription_id: string | null;
        ended_subscription_ids: string[];
        checkout_session_id: string | null;
        failed_invoice_id: string | null;
      }>(
        `select subscription_id, ended_subscription_ids, checkout_session_id, failed_invoice_id
           from stripe_customers where organization_id = $1`,
        [orgId],
      )
    ).rows[0]!;

  it('an organization a subscription still bills cannot be scheduled for deletion; once it ended, it can', async () => {
    const o = await customerOrg('lc-delete');
    const t = now() - 600;
    const del = () =>
      stripeSuite().c.app.inject({
        method: 'DELETE',
        url: '/v1/organization',
        headers: { authorization: `Bearer ${o.token}` },
      });
    const s1 = subscription(o.customer, 'active', 'price_pro', 'sub_del');
    expect(await outcome(event('customer.subscription.created', s1, t))).toBe('applied');
    const refused = await del();
    expect(refused.statusCode).toBe(409);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('ORGANIZATION_SUBSCRIPTION_ACTIVE');
    const lifecycle = async () =>
      (await admin.query<{ s: string }>('select lifecycle_state s from organizations where id = $1', [o.id]))
        .rows[0]!.s;
    expect(await lifecycle()).toBe('active');
    // Paused still counts (the subscription stays current).
    expect(await outcome(event('customer.subscription.updated', { ...s1, status: 'paused' }, t + 30))).toBe(
      'applied',
    );
    expect((await del()).statusCode).toBe(409);
    expect(await outcome(event('customer.subscription.deleted', { ...s1, status: 'canceled' }, t + 60))).toBe(
      'applied',
    );
    expect((await del()).statusCode).toBe(202);
    expect(await lifecycle()).toBe('pending_deletion');
  });

  it('a late update of a deleted subscription does not bring it back; the next one is followed', async () => {
    const o = await customerOrg('lc-ended');
    const t = now() - 600;
    const s1 = subscription(o.customer, 'active', 'price_pro', 'sub_e1');
    expect(await outcome(event('customer.subscription.created', s1, t))).toBe('applied');
    expect(await outcome(event('customer.subscription.deleted', { ...s1, status: 'canceled' }, t + 60))).toBe(
      'applied',
    );
    // Same second as the deletion, and older: both ignored (a time-only check adopted them again).
    expect(await outcome(event('customer.subscription.updated', s1, t + 60))).toBe('ignored');
    expect(await outcome(event('customer.subscription.updated', s1, t + 30))).toBe('ignored');
    expect(await state(o.id)).toMatchObject({ plan: 'free', status: 'canceled' });
    expect(await row(o.id)).toMatchObject({ subscription_id: null, ended_subscription_ids: ['sub_e1'] });
    const s2 = subscription(o.customer, 'active', 'price_enterprise', 'sub_e2');
    expect(await outcome(event('customer.subscription.created', s2, t + 120))).toBe('applied');
    expect(await state(o.id)).toMatchObject({ plan: 'enterprise', status: 'active' });
    expect(await outcome(event('customer.subscription.updated', s1, t + 180))).toBe('ignored');
    expect(await row(o.id)).toMatchObject({ subscription_id: 'sub_e2' });
  });

  it('a deletion delivered before the subscription’s first event keeps it from ever becoming current', async () => {
    const o = await customerOrg('lc-early-end');
    const t = now() - 600;
    const s1 = subscription(o.customer, 'active', 'price_pro', 'sub_early');
    expect(await outcome(event('customer.subscription.deleted', { ...s1, status: 'canceled' }, t + 60))).toBe(
      'ignored',
    );
    expect(await outcome(event('customer.subscription.created', s1, t))).toBe('ignored');
    expect(await state(o.id)).toMatchObject({ plan: 'free', status: 'none' });
    expect(await row(o.id)).toMatchObject({ subscription_id: null, ended_subscription_ids: ['sub_early'] });
  });

  it('a $0 / proration invoice paid while past due does not end it; the failed invoice paid does', async () => {
    const o = await customerOrg('lc-invoice');
    const t = now() - 600;
    await deliver(event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), t));
    const failing = invoice(o.customer, 'sub_1', 'in_failing');
    expect(await outcome(event('invoice.payment_failed', failing, t + 10))).toBe('applied');
    expect(await row(o.id)).toMatchObject({ failed_invoice_id: 'in_failing' });
    expect(await outcome(event('invoice.paid', invoice(o.customer, 'sub_1', 'in_proration'), t + 20))).toBe(
      'ignored',
    );
    expect(await state(o.id)).toMatchObject({ status: 'past_due' });
    expect(await outcome(event('invoice.paid', failing, t + 30))).toBe('applied');
    expect(await state(o.id)).toMatchObject({ status: 'active', grace_ends_at: null });
    expect(await row(o.id)).toMatchObject({ failed_invoice_id: null });
  });

  it('a paused subscription keeps no paid plan and cannot be bought twice; resuming brings the plan back', async () => {
    const o = await customerOrg('lc-paused');
    const t = now() - 600;
    const s = subscription(o.customer, 'active', 'price_pro', 'sub_p');
    await deliver(event('customer.subscription.created', s, t));
    expect(await state(o.id)).toMatchObject({ plan: 'pro', status: 'active' });
    expect(await outcome(event('customer.subscription.updated', { ...s, status: 'paused' }, t + 10))).toBe(
      'applied',
    );
    expect(await state(o.id)).toMatchObject({ plan: 'free', status: 'paused' });
    const again = await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'SUBSCRIPTION_EXISTS' } });
    expect(await outcome(event('customer.subscription.updated', s, t + 20))).toBe('applied');
    expect(await state(o.id)).toMatchObject({ plan: 'pro', status: 'active' });
  });

  it('subscribe through a Checkout session, cancel, subscribe again: no false 409', async () => {
    const o = await org('lc-resubscribe');
    expect((await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' })).statusCode).toBe(200);
    const cs1 = fake.checkoutSessions.at(-1)!.id as string;
    const customer = fake.checkoutSessions.at(-1)!.customer as string;
    fake.completeCheckout(cs1);
    const t = now() - 600;
    const s = subscription(customer, 'active', 'price_pro', 'sub_cs');
    await deliver(event('customer.subscription.created', s, t));
    expect(await row(o.id)).toMatchObject({ checkout_session_id: null, subscription_id: 'sub_cs' });
    await deliver(event('customer.subscription.deleted', { ...s, status: 'canceled' }, t + 60));
    const again = await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' });
    expect(again.statusCode).toBe(200);
  });

  it('a completed session whose webhook is late: every further attempt answers 409, no second session stays open', async () => {
    const o = await org('lc-late-webhook');
    expect((await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' })).statusCode).toBe(200);
    const cs1 = fake.checkoutSessions.at(-1)!.id as string;
    fake.completeCheckout(cs1);
    for (let i = 0; i < 3; i += 1) {
      const res = await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: { code: 'SUBSCRIPTION_EXISTS' } });
      expect(await row(o.id)).toMatchObject({ checkout_session_id: cs1 });
    }
    const customer = fake.checkoutSessions.find((x) => x.id === cs1)!.customer;
    const mine = fake.checkoutSessions.filter((x) => x.customer === customer);
    expect(mine).toHaveLength(4);
    expect(mine.filter((x) => x.status === 'open')).toEqual([]);
  });
});
