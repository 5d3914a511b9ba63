import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
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
  planChanges,
  SECRET,
  sdk,
  state,
  stripeSuite,
  subscription,
  useStripeSuite,
  type StripeSuite,
} from './stripe.test-support.js';

/**
 * Issue 11, Stripe webhooks: signatures, exactly once (replay, concurrent duplicates), order, the grace
 * period and the suspension, through the real SDK and signed with its test-header helper.
 */
describe('Stripe webhooks', () => {
  useStripeSuite();
  let c: StripeSuite['c'];
  let admin: pg.Client;
  let workerPool: pg.Pool;
  beforeAll(() => {
    ({ c, admin, workerPool } = stripeSuite());
  });

  it('refuses a bad signature with 400, a missing one too, and a tampered body', async () => {
    const o = await customerOrg('sp-sig');
    const e = event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), now());
    expect((await deliver(e, 'whsec_wrong')).statusCode).toBe(400);
    const missing = await c.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(e),
    });
    expect(missing.statusCode).toBe(400);
    const payload = JSON.stringify(e);
    const header = sdk.webhooks.generateTestHeaderString({ payload, secret: SECRET });
    const tampered = await c.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      payload: payload.replace('price_pro', 'price_enterprise'),
    });
    expect(tampered.statusCode).toBe(400);
    expect(tampered.json<{ error: { code: string } }>().error.code).toBe('STRIPE_SIGNATURE_INVALID');
    expect((await state(o.id)).plan).toBe('free');
  });

  it('applies a subscription event once: a replay is a no-op', async () => {
    const o = await customerOrg('sp-replay');
    const e = event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), now());
    const first = await deliver(e);
    expect(first.json()).toMatchObject({ received: true, outcome: 'applied' });
    expect(await state(o.id)).toMatchObject({ plan: 'pro', status: 'active' });
    expect(await planChanges(o.id)).toBe('1');
    // Subscribed: a second Checkout would bill twice.
    const second = await c.app.inject({
      method: 'POST',
      url: '/v1/billing/checkout-session',
      headers: { authorization: `Bearer ${o.token}` },
      payload: { plan: 'enterprise' },
    });
    expect(second.json<{ error: { code: string } }>().error.code).toBe('SUBSCRIPTION_EXISTS');
    const again = await deliver(e);
    expect(again.statusCode).toBe(200);
    expect(again.json<{ outcome: string }>().outcome).toBe('duplicate');
    expect(await planChanges(o.id)).toBe('1');
    const audit = await admin.query(
      `select 1 from audit_pending where organization_id = $1 and action = 'organization.plan_changed'
       union all select 1 from audit_events where organization_id = $1 and action = 'organization.plan_changed'`,
      [o.id],
    );
    expect(audit.rowCount).toBe(1);
  });

  it('processes a concurrent duplicate delivery once', async () => {
    const o = await customerOrg('sp-conc');
    const e = event(
      'customer.subscription.created',
      subscription(o.customer, 'active', 'price_enterprise'),
      now(),
    );
    const res = await Promise.all(Array.from({ length: 6 }, () => deliver(e)));
    const outcomes = res.map((r) => r.json<{ outcome: string }>().outcome).sort();
    expect(outcomes).toEqual(['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect(await planChanges(o.id)).toBe('1');
    expect((await state(o.id)).plan).toBe('enterprise');
  });

  it('ends out-of-order events in the state of the newest one', async () => {
    const o = await customerOrg('sp-order');
    const t = now() - 100;
    const older = event(
      'customer.subscription.updated',
      subscription(o.customer, 'past_due', 'price_pro'),
      t + 10,
    );
    const newer = event(
      'customer.subscription.updated',
      subscription(o.customer, 'active', 'price_enterprise'),
      t + 20,
    );
    const oldest = event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), t);
    expect((await deliver(newer)).json<{ outcome: string }>().outcome).toBe('applied');
    expect((await deliver(older)).json<{ outcome: string }>().outcome).toBe('stale');
    expect((await deliver(oldest)).json<{ outcome: string }>().outcome).toBe('stale');
    expect(await state(o.id)).toMatchObject({ plan: 'enterprise', status: 'active', grace_ends_at: null });
    // A late payment failure older than the last event changes nothing either.
    expect(
      (await deliver(event('invoice.payment_failed', invoice(o.customer), t + 15))).json<{
        outcome: string;
      }>().outcome,
    ).toBe('stale');
    // Deleted (newest): back to the free plan.
    expect(
      (
        await deliver(
          event(
            'customer.subscription.deleted',
            subscription(o.customer, 'canceled', 'price_enterprise'),
            t + 30,
          ),
        )
      ).json<{ outcome: string }>().outcome,
    ).toBe('applied');
    expect(await state(o.id)).toMatchObject({ plan: 'free', status: 'canceled' });
  });

  it('past due → grace → suspended (injected clock) with mails; paid → reactivated with a mail', async () => {
    const o = await customerOrg('sp-grace');
    const t = now();
    await deliver(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), t - 10),
    );
    expect(
      (await deliver(event('invoice.payment_failed', invoice(o.customer), t))).json<{ outcome: string }>()
        .outcome,
    ).toBe('applied');
    const s = await state(o.id);
    expect(s.status).toBe('past_due');
    expect(s.grace_ends_at!.getTime()).toBe((t + 7 * 86_400) * 1000);
    const failed = await mails(o.id, /^Payment failed/);
    expect(failed.map((m) => (m.payload as { to: string }).to)).toEqual([o.email]);
    // A second failure does not restart the grace period nor mail again.
    await deliver(event('invoice.payment_failed', invoice(o.customer), t + 60));
    expect((await state(o.id)).grace_ends_at).toEqual(s.grace_ends_at);
    expect(await mails(o.id, /^Payment failed/)).toHaveLength(1);

    const run = (at: number) =>
      suspendExpiredGrace({
        // This organization only: the database is shared with other files running at the same time.
        graceExpired: async (n, after, limit) =>
          (await stripeOrganizations(workerPool, 'grace_expired', n, after, limit)).filter(
            (id) => id === o.id,
          ),
        withTenant: c.tenancy.withTenant,
        now: () => new Date(at),
        billingLink: (slug) => `http://app.test/o/${slug}/billing`,
        organizationChanged: (id) => c.services.organizationPolicies.invalidate(id),
      });
    expect(await run(t * 1000 + 6 * DAY)).not.toContain(o.id);
    expect((await state(o.id)).suspended_at).toBeNull();
    expect(await run(t * 1000 + 8 * DAY)).toContain(o.id);
    expect((await state(o.id)).suspended_at).not.toBeNull();
    expect((await c.services.organizationPolicies.get(o.id))?.state).toBe('suspended');
    expect(await mails(o.id, /is suspended$/)).toHaveLength(1);
    // Suspended already: the next run leaves it alone.
    expect(await run(t * 1000 + 9 * DAY)).not.toContain(o.id);

    expect(
      (await deliver(event('invoice.paid', invoice(o.customer), t + 120))).json<{ outcome: string }>()
        .outcome,
    ).toBe('applied');
    expect(await state(o.id)).toMatchObject({
      status: 'active',
      suspended_at: null,
      grace_ends_at: null,
      plan: 'pro',
    });
    expect((await c.services.organizationPolicies.get(o.id))?.state).toBe('active');
    expect(await mails(o.id, /is active again$/)).toHaveLength(1);
  });

  it('follows Stripe even when STRIPE_PRICES names a plan the catalog lacks (the plan stays)', async () => {
    const o = await customerOrg('sp-ghost');
    const e = event(
      'customer.subscription.created',
      subscription(o.customer, 'active', 'price_ghost'),
      now(),
    );
    expect((await deliver(e)).json<{ outcome: string }>().outcome).toBe('applied');
    expect(await state(o.id)).toMatchObject({ plan: 'free', status: 'active' });
  });

  it('answers an event of an unknown customer without applying it', async () => {
    const e = event('invoice.paid', invoice('cus_unknown'), now());
    expect((await deliver(e)).json<{ outcome: string }>().outcome).toBe('unknown_customer');
    expect((await deliver(e)).json<{ outcome: string }>().outcome).toBe('duplicate');
  });

  it('review 2: late plan change applied, foreign invoices and old subscriptions ignored', async () => {
    const o = await customerOrg('sp-review2');
    const t = now() - 200;
    const out = async (e: unknown) => (await deliver(e)).json<{ outcome: string }>().outcome;
    await out(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro', 'sub_r'), t),
    );
    // An upgrade at t+5 whose invoice.paid (t+10) arrives first: the late update still sets the plan.
    expect(await out(event('invoice.paid', invoice(o.customer, 'sub_r'), t + 10))).toBe('applied');
    const late = subscription(o.customer, 'active', 'price_enterprise', 'sub_r');
    expect(await out(event('customer.subscription.updated', late, t + 5))).toBe('applied');
    expect(await state(o.id)).toMatchObject({ plan: 'enterprise', status: 'active' });
    // Past due; a $0 one-off invoice and an old subscription's invoice do not clear it.
    expect(await out(event('invoice.payment_failed', invoice(o.customer, 'sub_r'), t + 20))).toBe('applied');
    expect(await out(event('invoice.paid', invoice(o.customer, null), t + 30))).toBe('ignored');
    expect(await out(event('invoice.paid', invoice(o.customer, 'sub_old'), t + 31))).toBe('ignored');
    expect((await state(o.id)).status).toBe('past_due');
    // An older subscription's update does not replace the current one, nor its deletion end it.
    const old = subscription(o.customer, 'active', 'price_pro', 'sub_old');
    expect(await out(event('customer.subscription.updated', old, t + 40))).toBe('ignored');
    expect(await out(event('customer.subscription.deleted', old, t + 41))).toBe('ignored');
    expect(await state(o.id)).toMatchObject({ plan: 'enterprise', status: 'past_due' });
  });
});
