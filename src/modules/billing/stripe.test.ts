import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import Stripe from 'stripe';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { createMeterPusher, pushIdentifier } from './stripe-meter-push.js';
import {
  addUsage,
  auth,
  customerOf,
  DAY,
  customerOrg,
  deliver,
  event,
  KEY,
  now,
  org,
  post,
  stripeSuite,
  subscription,
  useStripeSuite,
  type StripeSuite,
} from './stripe.test-support.js';

/**
 * Issue 11, the Stripe provider: the start-up line, the customer and the links (per tenant), owners' plan
 * changes, the meter push across a crash; and the local provider without keys.
 */
describe('Stripe billing provider', () => {
  useStripeSuite();
  let c: StripeSuite['c'];
  let fake: StripeSuite['fake'];
  let admin: pg.Client;
  beforeAll(() => {
    ({ c, fake, admin } = stripeSuite());
  });

  it('says at start which provider it uses, and reports it to the console', async () => {
    expect(c.logs.some((l) => l.msg === 'billing provider: stripe')).toBe(true);
    // STRIPE_PRICES is checked against the catalog at start: `ghost` is not a plan.
    await expect
      .poll(() => c.logs.find((l) => l.msg === 'STRIPE_PRICES names plans the catalog does not have'))
      .toMatchObject({ plans_missing: ['ghost'] });
    const o = await org('sp-info');
    const res = await c.app.inject({
      url: '/v1/billing/provider',
      headers: { authorization: `Bearer ${o.token}` },
    });
    expect(res.json()).toEqual({
      provider: 'stripe',
      checkout: true,
      portal: true,
      checkoutPlans: ['enterprise', 'ghost', 'pro'],
      status: 'none',
      graceEndsAt: null,
    });
  });

  it('creates the customer once (concurrent first calls), then Checkout and portal links', async () => {
    const o = await org('sp-links');
    const before = fake.customers.size;
    const res = await Promise.all(
      [1, 2, 3].map(() => post(o.token, '/v1/billing/checkout-session', { plan: 'pro' })),
    );
    expect(res.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(fake.customers.size).toBe(before + 1);
    const customer = await customerOf(o.id);
    expect(fake.customers.get(customer)!.metadata).toEqual({ organization_id: o.id });
    expect(res[0]!.json<{ url: string }>().url).toMatch(/^https:\/\/checkout\.stripe\.test\//);
    const session = fake.checkoutSessions.at(-1)!;
    expect(session).toMatchObject({
      customer,
      mode: 'subscription',
      line_items: { 0: { price: 'price_pro' } },
    });
    const portal = await post(o.token, '/v1/billing/portal-session');
    expect(portal.statusCode).toBe(200);
    expect(portal.json<{ url: string }>().url).toMatch(/^https:\/\/billing\.stripe\.test\//);
    expect(fake.portalSessions.at(-1)!.customer).toBe(customer);
    // A plan without a Stripe price cannot be bought.
    const free = await post(o.token, '/v1/billing/checkout-session', { plan: 'free' });
    expect(free.json<{ error: { code: string } }>().error.code).toBe('PLAN_NOT_SOLD');
  });

  it('refuses an owner’s direct plan change: the plan follows the Stripe subscription', async () => {
    const o = await org('sp-put');
    const res = await c.app.inject({
      method: 'PUT',
      url: '/v1/billing/plan',
      headers: { authorization: `Bearer ${o.token}` },
      payload: { plan: 'pro' },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('PLAN_MANAGED_BY_STRIPE');
  });

  it("cross-tenant: org A's credentials create links for A's customer only", async () => {
    const a = await org('sp-xa');
    const b = await customerOrg('sp-xb');
    const keyA = auth.issue(a.id, { permissions: new Set(['billing:manage', 'billing:read']) });
    for (const url of ['/v1/billing/checkout-session', '/v1/billing/portal-session']) {
      const res = await post(keyA, url, url.includes('checkout') ? { plan: 'pro' } : undefined);
      expect(res.statusCode).toBe(200);
    }
    const customerA = await customerOf(a.id);
    expect(customerA).not.toBe(b.customer);
    expect(fake.portalSessions.at(-1)!.customer).toBe(customerA);
    expect(fake.checkoutSessions.at(-1)!.customer).toBe(customerA);
    // Without billing:manage: refused.
    const reader = auth.issue(a.id, { permissions: new Set(['billing:read']) });
    expect((await post(reader, '/v1/billing/portal-session')).statusCode).toBe(403);
  });

  it('pushes usage as meter events exactly once, across a crash between the send and the mark', async () => {
    const o = await customerOrg('sp-meter');
    await deliver(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), now()),
    );
    await addUsage(o.id, 40);
    let crash = true;
    const pusher = createMeterPusher({
      stripe: new Stripe(KEY, { ...fake.sdkOptions, maxNetworkRetries: 0 }),
      withTenant: c.tenancy.withTenant,
      meterEvents: { api_requests: 'api_calls' },
      afterSend: async () => {
        if (crash) {
          crash = false;
          throw new Error('crash between send and mark');
        }
      },
    });
    const requestsBefore = fake.meterEventRequests;
    await expect(pusher.pushOrganization(o.id)).rejects.toThrow(/crash/);
    expect(fake.meterTotal(o.customer, 'api_calls')).toBe(40);
    const pending = await admin.query(
      `select identifier, status from stripe_meter_pushes where organization_id = $1`,
      [o.id],
    );
    expect(pending.rows).toEqual([
      { identifier: pushIdentifier(o.id, 'sub_1', 'api_requests', '40'), status: 'pending' },
    ]);
    // The next run resends the SAME identifier: Stripe (the fake) keeps one.
    expect(await pusher.pushOrganization(o.id)).toBe(1);
    expect(fake.meterEventRequests - requestsBefore).toBe(2);
    expect(fake.meterTotal(o.customer, 'api_calls')).toBe(40);
    // Nothing new: nothing sent.
    expect(await pusher.pushOrganization(o.id)).toBe(0);
    // More usage: only the delta.
    await addUsage(o.id, 2, new Date(Date.now() - DAY)); // before the subscription started: not pushed
    await addUsage(o.id, 15);
    expect(await pusher.pushOrganization(o.id)).toBe(1);
    expect(fake.meterTotal(o.customer, 'api_calls')).toBe(55);
    const rows = await admin.query(
      `select value::int, status from stripe_meter_pushes where organization_id = $1 order by total_after`,
      [o.id],
    );
    expect(rows.rows).toEqual([
      { value: 40, status: 'sent' },
      { value: 15, status: 'sent' },
    ]);
  });
});

describe('without Stripe keys', () => {
  it('uses the local provider, says so at start, and offers no Stripe links or webhook', async () => {
    const auth = createTestAuthenticator();
    const c = await buildTestApp({ authenticator: auth.authenticator });
    try {
      const line = c.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('billing provider:'));
      expect(line).toMatchObject({ billing_provider: 'local' });
      const id = await createTestOrg(c.tenancy, 'sp-local');
      const token = auth.issue(id);
      const info = await c.app.inject({
        url: '/v1/billing/provider',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(info.json()).toMatchObject({ provider: 'local', checkout: false, portal: false });
      const link = await c.app.inject({
        method: 'POST',
        url: '/v1/billing/portal-session',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(link.statusCode).toBe(409);
      expect(link.json<{ error: { code: string } }>().error.code).toBe('BILLING_PROVIDER_LOCAL');
      const hook = await c.app.inject({ method: 'POST', url: '/webhooks/stripe', payload: '{}' });
      expect(hook.statusCode).toBe(404);
    } finally {
      await c.app.close();
      await c.close();
    }
  });
});
