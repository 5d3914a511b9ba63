import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startStripeFake,
  type StripeFakeServer,
} from '../../src/modules/billing/providers/stripe-fake-server.js';
import {
  apiAs,
  expectAccessible,
  launchChromium,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  startConsoleApp,
  stopConsoleApp,
  type ConsoleApp,
} from './support.js';

const KEY = `sk_test_console${randomBytes(6).toString('hex')}`;
const SECRET = `whsec_${randomBytes(12).toString('hex')}`;
const seen = new Set<string>();

/**
 * The Stripe card of "Plan & billing", with the deployment on Stripe (the real SDK against the local
 * fake, src/modules/billing/providers/stripe-fake-server.ts): Checkout and the portal send the browser
 * to Stripe's pages (stubbed here), and the plan changes only when the signed webhook says so.
 */
describe('console: Stripe billing in Chromium', () => {
  let fake: StripeFakeServer;
  let c: ConsoleApp;
  let browser: Browser;
  beforeAll(async () => {
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
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stopConsoleApp(c);
    await fake?.close();
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
});
