import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import Stripe from 'stripe';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { connect, createTestOrg, testDb } from '../../../test/support/tenancy.js';
import { queuedJobs } from '../../../test/support/jobs.js';
import type { Composition } from '../../app/compose.js';
import { createPool } from '../../platform/db/pool.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import { uuidv7 } from '../../platform/ids.js';
import { stripeOrganizations } from '../../platform/tenancy/privileged.js';
import { startStripeFake, type StripeFakeServer } from './providers/stripe-fake-server.js';
import { suspendExpiredGrace } from './stripe-grace.js';
import { createMeterPusher } from './stripe-meter-push.js';

/**
 * Issue 11, Stripe: the real `stripe` SDK against the local fake (stripe-fake-server.ts), webhooks signed
 * with the SDK's own test-header helper, the real composition on the test database.
 */
const KEY = 'sk_test_fake' + randomBytes(6).toString('hex');
const SECRET = 'whsec_' + randomBytes(12).toString('hex');
const DAY = 86_400_000;

describe('Stripe billing provider', () => {
  let fake: StripeFakeServer;
  let c: Composition & { logs: Record<string, unknown>[] };
  let admin: pg.Client;
  let workerPool: pg.Pool;
  const auth = createTestAuthenticator();
  const sdk = new Stripe(KEY);

  beforeAll(async () => {
    fake = await startStripeFake(KEY);
    c = await buildTestApp({
      authenticator: auth.authenticator,
      stripe: {
        secretKey: KEY,
        webhookSecret: SECRET,
        apiBase: fake.sdkOptions,
        graceDays: 7,
        planPrices: { pro: 'price_pro', enterprise: 'price_enterprise', ghost: 'price_ghost' },
        meterEvents: {},
      },
    });
    admin = await connect(testDb().adminUrl);
    workerPool = createPool({ url: testDb().workerUrl, max: 2, applicationName: 'stripe-test' });
  });
  afterAll(async () => {
    await c?.app.close();
    await c?.close();
    await admin?.end();
    await workerPool?.end();
    await fake?.close();
  });

  /** An organization with an owner (a real user, for mails) and a token of that owner. */
  async function org(prefix: string) {
    const id = await createTestOrg(c.tenancy, prefix);
    const userId = uuidv7();
    const email = `${prefix}-${userId}@example.test`;
    await admin.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [userId, email]);
    await admin.query(
      `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'owner', 'active')`,
      [id, userId],
    );
    return { id, email, token: auth.issue(id, { userId }) };
  }
  const post = (token: string, url: string, payload?: unknown) =>
    c.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      payload: payload as object,
    });
  async function customerOf(orgId: string): Promise<string> {
    const r = await admin.query<{ customer_id: string }>(
      'select customer_id from stripe_customers where organization_id = $1',
      [orgId],
    );
    return r.rows[0]!.customer_id;
  }
  /** An org with its Stripe customer (created through the checkout route). */
  async function customerOrg(prefix: string) {
    const o = await org(prefix);
    expect((await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' })).statusCode).toBe(200);
    return { ...o, customer: await customerOf(o.id) };
  }

  let seq = 0;
  const event = (type: string, object: Record<string, unknown>, created: number) => ({
    id: `evt_${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(3).toString('hex')}`,
    object: 'event',
    api_version: '2024-06-20',
    created,
    livemode: false,
    type,
    data: { object },
  });
  const subscription = (customer: string, status: string, price: string, id = 'sub_1') => ({
    id,
    object: 'subscription',
    customer,
    status,
    items: { object: 'list', data: [{ id: 'si_1', price: { id: price } }] },
  });
  const invoice = (customer: string) => ({
    id: `in_${randomBytes(4).toString('hex')}`,
    object: 'invoice',
    customer,
  });
  function deliver(e: unknown, secret = SECRET) {
    const payload = JSON.stringify(e);
    const header = sdk.webhooks.generateTestHeaderString({ payload, secret });
    return c.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      payload,
    });
  }
  const now = () => Math.floor(Date.now() / 1000);
  const state = async (orgId: string) =>
    (
      await admin.query<{
        plan: string;
        suspended_at: Date | null;
        status: string;
        grace_ends_at: Date | null;
      }>(
        `select o.plan, o.suspended_at, s.status, s.grace_ends_at from organizations o
           join stripe_customers s on s.organization_id = o.id where o.id = $1`,
        [orgId],
      )
    ).rows[0]!;
  const planChanges = async (orgId: string) =>
    (
      await admin.query<{ n: string }>(
        `select count(*)::text as n from organization_plan_changes where organization_id = $1 and via = 'provider'`,
        [orgId],
      )
    ).rows[0]!.n;
  const mails = async (orgId: string, subject: RegExp) =>
    (await queuedJobs(admin, MAIL_TASK)).filter(
      (j) => j.tenantId === orgId && subject.test((j.payload as { subject: string }).subject),
    );

  it('says at start which provider it uses, and reports it to the console', async () => {
    expect(c.logs.some((l) => l.msg === 'billing provider: stripe')).toBe(true);
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
        graceExpired: (n, after, limit) => stripeOrganizations(workerPool, 'grace_expired', n, after, limit),
        withTenant: c.tenancy.withTenant,
        now: () => new Date(at),
        billingLink: (slug) => `http://app.test/o/${slug}/billing`,
        organizationChanged: (id) => c.services.organizationPolicies.invalidate(id),
      });
    expect(await run(t * 1000 + 6 * DAY)).not.toContain(o.id);
    expect((await state(o.id)).suspended_at).toBeNull();
    expect(await run(t * 1000 + 8 * DAY)).toContain(o.id);
    expect((await state(o.id)).suspended_at).not.toBeNull();
    expect((await c.services.organizationPolicies.get(o.id))?.suspended).toBe(true);
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
    expect((await c.services.organizationPolicies.get(o.id))?.suspended).toBe(false);
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

  it('pushes usage as meter events exactly once, across a crash between the send and the mark', async () => {
    const o = await customerOrg('sp-meter');
    await deliver(
      event('customer.subscription.created', subscription(o.customer, 'active', 'price_pro'), now()),
    );
    const addUsage = (value: number, daysAgo: number) =>
      admin.query(
        `insert into usage_aggregates (organization_id, meter, granularity, bucket_start, aggregation, value, events)
         values ($1, 'api_requests', 'day', date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'
                 - make_interval(days => $3::int), 'count', $2::numeric, $2::bigint)
         on conflict do nothing`,
        [o.id, value, daysAgo],
      );
    await addUsage(40, 0);
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
    expect(pending.rows).toEqual([{ identifier: `sr-${o.id}-api_requests-40`, status: 'pending' }]);
    // The next run resends the SAME identifier: Stripe (the fake) keeps one.
    expect(await pusher.pushOrganization(o.id)).toBe(1);
    expect(fake.meterEventRequests - requestsBefore).toBe(2);
    expect(fake.meterTotal(o.customer, 'api_calls')).toBe(40);
    // Nothing new: nothing sent.
    expect(await pusher.pushOrganization(o.id)).toBe(0);
    // More usage: only the delta.
    await addUsage(2, 1); // before usage_since's day: not pushed
    await admin.query(
      `update usage_aggregates set value = value + 15, events = events + 15 where organization_id = $1
         and granularity = 'day' and bucket_start = date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'`,
      [o.id],
    );
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
