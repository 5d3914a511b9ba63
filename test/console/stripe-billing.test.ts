import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import Stripe from 'stripe';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startStripeFake,
  type StripeFakeServer,
} from '../../src/modules/billing/providers/stripe-fake-server.js';
import { suspendExpiredGrace } from '../../src/modules/billing/stripe-grace.js';
import { createPool } from '../../src/platform/db/pool.js';
import { stripeOrganizations } from '../../src/platform/tenancy/privileged.js';
import { testDb } from '../support/tenancy.js';
import {
  apiAs,
  expectAccessible,
  mailedLink,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  sharedChromium,
  signUpVerified,
  startConsoleApp,
  stopConsoleApp,
  type ConsoleApp,
} from './support.js';

const KEY = `sk_test_console${randomBytes(6).toString('hex')}`;
const SECRET = `whsec_${randomBytes(12).toString('hex')}`;
const seen = new Set<string>();
const DAY = 86_400_000;

/** Delivers a Stripe event as Stripe sends it, signed with the webhook secret: the answer's status and body. */
async function deliver(c: ConsoleApp, type: string, object: Record<string, unknown>, created: number) {
  const payload = JSON.stringify({
    id: `evt_console_${randomBytes(6).toString('hex')}`,
    object: 'event',
    type,
    created,
    data: { object },
  });
  const signature = new Stripe(KEY).webhooks.generateTestHeaderString({ payload, secret: SECRET });
  const res = await fetch(`${c.base}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
  return { status: res.status, body: await res.text() };
}

/**
 * The Stripe card of "Plan & billing", with the deployment on Stripe (the real SDK against the local
 * fake, src/modules/billing/providers/stripe-fake-server.ts): Checkout and the portal send the browser
 * to Stripe's pages (stubbed here), and the plan changes only when the signed webhook says so.
 */
describe('console: Stripe billing in Chromium', () => {
  let fake: StripeFakeServer;
  let c: ConsoleApp;
  let browser: Browser;
  let workerPool: pg.Pool;
  beforeAll(async () => {
    workerPool = createPool({ url: testDb().workerUrl, max: 1, applicationName: 'console-stripe' });
    fake = await startStripeFake(KEY);
    c = await startConsoleApp({
      stripe: {
        secretKey: KEY,
        webhookSecret: SECRET,
        apiBase: fake.sdkOptions,
        graceDays: 7,
        planPrices: { pro: 'price_console_pro' },
        meterEvents: {},
      },
    });
    // The process's Chromium (test/console/support.ts); this app is the file's own (its Stripe settings).
    browser = await sharedChromium();
  });
  afterAll(async () => {
    await stopConsoleApp(c);
    await fake?.close();
    await workerPool?.end();
  });

  it('an owner opens Checkout, the webhook moves the plan, and Manage billing opens the portal', async () => {
    const owner = await newContext(browser, c);
    const p = owner.page;
    await signUpVerified(p, newEmail('stripe-owner'), newPassword(), seen);
    const slug = new URL(p.url()).pathname.split('/')[2]!;
    // Stripe's own pages are not reachable from here: a stand-in answers them.
    await p.route(/^https:\/\/(checkout|billing)\.stripe\.test\//, (route) =>
      route.fulfill({ contentType: 'text/html', body: '<title>Stripe</title><h1>Stripe page</h1>' }),
    );
    await p.goto(`/o/${slug}/billing`);
    const card = p.getByRole('region', { name: 'Stripe billing' });
    await card.getByText('No subscription').waitFor();
    await expectAccessible(p, 'plan & billing with Stripe');
    await screenshots(p, 'stripe-billing', '01-no-subscription');

    await card.getByRole('button', { name: 'Checkout: Pro' }).click();
    await p.waitForURL(/^https:\/\/checkout\.stripe\.test\//);
    const session = fake.checkoutSessions.at(-1)!;
    expect(session).toMatchObject({
      mode: 'subscription',
      line_items: { 0: { price: 'price_console_pro' } },
    });
    expect(String(session.success_url)).toBe(`${c.base}/o/${slug}/billing?checkout=success`);

    // Stripe reports the subscription: the plan changes.
    const customer = String(session.customer);
    const deliver = async (type: string, status: string, created: number) => {
      const payload = JSON.stringify({
        id: `evt_console_${randomBytes(4).toString('hex')}`,
        object: 'event',
        type,
        created,
        data: {
          object: {
            id: 'sub_console',
            object: 'subscription',
            customer,
            status,
            items: { object: 'list', data: [{ price: { id: 'price_console_pro' } }] },
          },
        },
      });
      const signature = new Stripe(KEY).webhooks.generateTestHeaderString({ payload, secret: SECRET });
      const hook = await p.request.post(`${c.base}/webhooks/stripe`, {
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        data: payload,
      });
      expect(hook.status(), await hook.text()).toBe(200);
    };
    const t = Math.floor(Date.now() / 1000);
    await deliver('customer.subscription.created', 'active', t - 60);

    await p.goto(`/o/${slug}/billing`);
    await card.getByText('Active', { exact: true }).waitFor();
    await p.getByRole('heading', { name: 'Pro', exact: true, level: 2 }).waitFor();
    await screenshots(p, 'stripe-billing', '02-active');
    const plan = (await (await apiAs(p, c).get(`/v1/orgs/${slug}/billing/plan`)).json()) as {
      plan: { key: string };
    };
    expect(plan.plan.key).toBe('pro');

    // Paused: the free plan until it resumes; no second Checkout offered, the portal still is.
    await deliver('customer.subscription.updated', 'paused', t - 30);
    await p.goto(`/o/${slug}/billing`);
    await card.getByText('Paused', { exact: true }).waitFor();
    await card.getByText(/the organization is on the free plan until it is resumed/).waitFor();
    expect(await card.getByRole('button', { name: /^Checkout/ }).count()).toBe(0);
    await expectAccessible(p, 'plan & billing with a paused Stripe subscription');
    await screenshots(p, 'stripe-billing', '03-paused');

    await card.getByRole('button', { name: 'Manage billing' }).click();
    await p.waitForURL(/^https:\/\/billing\.stripe\.test\//);
    expect(fake.portalSessions.at(-1)!.customer).toBe(customer);
  });

  it('suspended for an unpaid invoice: a member sees the suspended page, an owner pays through the portal', async () => {
    const owner = await newContext(browser, c);
    const o = owner.page;
    await signUpVerified(o, newEmail('unpaid-owner'), newPassword(), seen);
    const slug = new URL(o.url()).pathname.split('/')[2]!;
    const ownerApi = apiAs(o, c);
    const orgId = (await c.services.organizationSlugs.idBySlug(slug))!;
    // A member, invited into the organization, joins in their own browser.
    const email = newEmail('unpaid-member');
    const invited = await ownerApi.post(`/v1/orgs/${slug}/invitations`, { email, role: 'member' });
    expect(invited.status(), await invited.text()).toBe(201);
    const token = new URL(await mailedLink(email, 'accept-invitation', seen)).searchParams.get('token');
    const member = await newContext(browser, c);
    const joined = await apiAs(member.page, c).post('/v1/invitations/accept-new', {
      token,
      password: newPassword(),
    });
    expect(joined.status(), await joined.text()).toBe(201);

    // Subscribed through Checkout (the Stripe customer is created there), then a payment fails.
    const checkout = await ownerApi.post(`/v1/orgs/${slug}/billing/checkout-session`, { plan: 'pro' });
    expect(checkout.status(), await checkout.text()).toBe(200);
    const customer = String(
      fake.checkoutSessions.find((s) => String(s.success_url).includes(`/o/${slug}/`))!.customer,
    );
    const sub = `sub_unpaid_${randomBytes(4).toString('hex')}`;
    const t = Math.floor(Date.now() / 1000);
    const subscription = {
      id: sub,
      object: 'subscription',
      customer,
      status: 'active',
      items: { object: 'list', data: [{ price: { id: 'price_console_pro' } }] },
    };
    const invoice = {
      id: `in_${randomBytes(4).toString('hex')}`,
      object: 'invoice',
      customer,
      subscription: sub,
    };
    expect(await deliver(c, 'customer.subscription.created', subscription, t - 10)).toMatchObject({
      status: 200,
    });
    expect(await deliver(c, 'invoice.payment_failed', invoice, t)).toMatchObject({ status: 200 });
    // The grace period (7 days) ends: the scheduled task's scan, at a clock 8 days on, suspends it.
    // Only this organization: the database is shared with files running at the same time, whose past-due
    // organizations a scan 8 days on must not suspend.
    const suspended = await suspendExpiredGrace({
      graceExpired: async (now, after, limit) =>
        (await stripeOrganizations(workerPool, 'grace_expired', now, after, limit)).filter(
          (id) => id === orgId,
        ),
      withTenant: c.tenancy.withTenant,
      now: () => new Date(Date.now() + 8 * DAY),
      billingLink: (s) => `${c.base}/o/${s}/billing`,
      organizationChanged: (id) => c.services.organizationPolicies.invalidate(id),
    });
    expect(suspended).toContain(orgId);
    const row = await c.tenancy.withTenant(orgId, (db) =>
      db
        .selectFrom('organizations')
        .select(['lifecycle_state', 'suspension_reason'])
        .where('id', '=', orgId)
        .executeTakeFirstOrThrow(),
    );
    expect(row).toEqual({ lifecycle_state: 'suspended', suspension_reason: 'billing' });

    // The member (no billing permission): the suspended page, and nothing to pay with.
    const m = member.page;
    await m.goto(`/o/${slug}/projects`);
    await m.getByRole('alert').filter({ hasText: 'This organization is suspended' }).waitFor();
    // Why, and whom to ask: an owner pays (not the platform's administrators).
    await m.getByText(/suspended because a payment failed.*until an owner pays/).waitFor();
    expect(await m.getByText(/suspended by the platform's administrators/).count()).toBe(0);
    expect(await m.getByRole('button', { name: 'Pay / update payment method' }).count()).toBe(0);
    expect(await m.getByRole('heading', { name: 'Projects' }).count()).toBe(0);
    await expectAccessible(m, 'suspended for billing (member)');
    await screenshots(m, 'stripe-billing', '03-suspended-member');
    // The API refuses the member as well.
    const refused = await apiAs(m, c).get(`/v1/orgs/${slug}/projects`);
    expect(refused.status()).toBe(403);
    expect(await refused.json()).toEqual({
      error: {
        code: 'ORGANIZATION_SUSPENDED',
        message: 'this organization is suspended for an unpaid invoice',
        details: { reason: 'billing' },
      },
    });

    // The owner: why, and the way to pay, which opens Stripe's billing portal for the customer.
    await o.route(/^https:\/\/billing\.stripe\.test\//, (route) =>
      route.fulfill({ contentType: 'text/html', body: '<title>Stripe</title><h1>Stripe page</h1>' }),
    );
    await o.goto(`/o/${slug}/projects`);
    await o
      .getByRole('alert')
      .filter({ hasText: 'This organization is suspended for an unpaid invoice' })
      .waitFor();
    const pay = o.getByRole('button', { name: 'Pay / update payment method' });
    await pay.waitFor();
    await expectAccessible(o, 'suspended for billing (owner)');
    await screenshots(o, 'stripe-billing', '04-suspended-owner');
    const portals = fake.portalSessions.length;
    await pay.click();
    await o.waitForURL(/^https:\/\/billing\.stripe\.test\//);
    expect(fake.portalSessions.length).toBe(portals + 1);
    expect(fake.portalSessions.at(-1)!.customer).toBe(customer);

    for (const ctx of [owner, member]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), member.context.close()]);
  }, 90_000);
});
