import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { closeJanuary } from '../../src/modules/billing/invoice-fixture.test-support.js';
import { formatMoney } from '../../src/modules/billing/money-format.js';
import { signUpPlatformAdmin } from './platform-admin-support.js';
import {
  apiAs,
  expectAccessible,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

/** Closes January 2026 for the organization (by slug) with the shared fixed plan. */
async function closeJanuaryFor(c: ConsoleApp, slug: string) {
  const tenantId = await c.services.organizationSlugs.idBySlug(slug);
  if (!tenantId) throw new Error(`no organization ${slug}`);
  return closeJanuary(c, tenantId, 'console');
}

describe('console: plan & billing in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('an owner sees the plan and seats, switches plan, and the plan’s entitlement turns a flag on', async () => {
    const stamp = randomBytes(4).toString('hex');
    const flag = `console.billing-${stamp}`;
    const planKey = `a-console-${stamp}`;
    const admin = await newContext(browser, c);
    const owner = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    await signUpVerified(owner.page, newEmail('billing-owner'), newPassword(), seen);
    const adminApi = apiAs(admin.page, c);
    expect(
      (
        await adminApi.post('/v1/platform/flags', { key: flag, kind: 'boolean', defaultValue: false })
      ).status(),
    ).toBe(201);
    const created = await adminApi.post('/v1/platform/plans', {
      key: planKey,
      name: `Growth ${stamp}`,
      seatLimit: 10,
      entitlements: [flag],
      price: {
        currency: 'USD',
        interval: 'month',
        components: [
          { model: 'flat', amount: 2900 },
          { model: 'per_seat', unitAmount: 500 },
        ],
      },
      public: true,
    });
    expect(created.status(), await created.text()).toBe(201);

    const p = owner.page;
    const slug = new URL(p.url()).pathname.split('/')[2]!;
    await p
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Plan & billing' })
      .click();
    await p.getByRole('heading', { name: 'Plan & billing' }).waitFor();
    await p.getByRole('heading', { name: 'Free', exact: true, level: 2 }).waitFor();
    await p.getByText('Seats: 1 used of 3').waitFor();
    // A new organization: no invoice issued yet (the empty state), and this period's preview.
    const invoices = p.getByRole('region', { name: 'Invoices' });
    await invoices.getByText('No invoices yet').waitFor();
    const preview = p.getByRole('region', { name: 'This period’s invoice so far' });
    const previewTotal = async () => {
      const res = await apiAs(p, c).get(`/v1/orgs/${slug}/billing/preview`);
      expect(res.status(), await res.text()).toBe(200);
      const body = (await res.json()) as { total: number; currency: string; lines: unknown[] };
      return body;
    };
    const before = await previewTotal();
    if (before.lines.length === 0) await preview.getByText('Nothing to bill this period').waitFor();
    else
      await preview
        .getByTestId('preview-total')
        .getByText(formatMoney(before.total, before.currency))
        .waitFor();
    await expectAccessible(p, 'plan & billing');
    await screenshots(p, 'billing', '01-free');

    await p.getByRole('button', { name: `Switch to Growth ${stamp}` }).click();
    await p.getByRole('heading', { name: `Growth ${stamp}`, level: 2 }).waitFor();
    await p.getByText('Seats: 1 used of 10').waitFor();
    await p.getByText('29.00 USD + 5.00 USD per seat a month').first().waitFor();
    await p.getByRole('button', { name: `Growth ${stamp}: current plan` }).waitFor();
    // The preview is priced again: the new plan's lines (by the day since the change) and its total.
    const after = await previewTotal();
    expect(after.total).toBeGreaterThan(before.total);
    const table = preview.getByRole('table', { name: 'Invoice preview' });
    await table
      .getByTestId('preview-total')
      .getByText(formatMoney(after.total, 'USD'), { exact: true })
      .waitFor();
    await table
      .getByRole('row')
      .filter({ hasText: `${planKey}: Flat fee` })
      .first()
      .waitFor();
    await screenshots(p, 'billing', '02-switched');

    // A closed period: the invoice is listed with its total and a PDF download.
    const invoice = await closeJanuaryFor(c, slug);
    await p.reload();
    const listed = invoices.getByRole('row').filter({ hasText: invoice.number! });
    await listed.getByText('1,239.56 EUR', { exact: true }).waitFor();
    await listed.getByText('1 Jan 2026 – 31 Jan 2026').waitFor();
    const pdfLink = listed.getByRole('link', { name: `PDF of invoice ${invoice.number!}` });
    const pdf = await p.request.get(new URL((await pdfLink.getAttribute('href'))!, p.url()).toString());
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    await expectAccessible(p, 'plan & billing with an invoice');
    await screenshots(p, 'billing', '02b-invoice');
    const stored = (await (await apiAs(p, c).get(`/v1/orgs/${slug}/billing/plan`)).json()) as {
      plan: { key: string };
    };
    expect(stored.plan.key).toBe(planKey);

    // The flag the plan includes is on, and says why.
    await p.goto(`/o/${slug}/flags`);
    await p.getByRole('textbox', { name: 'Filter flags' }).fill(stamp);
    const row = p.getByRole('row').filter({ hasText: flag });
    await row.getByText('Plan entitlement', { exact: true }).waitFor();
    await row.getByRole('cell', { name: 'on', exact: true }).waitFor();
  }, 120_000); // 43 s seen on a machine busy with other suites
  it('a platform administrator lists the catalog, creates a plan from the form and archives it', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    const p = admin.page;
    await p.goto('/admin/plans');
    await p.getByRole('heading', { name: 'Plans', level: 1 }).waitFor();
    // A row by its plan's key, exactly (other suites' plans share the catalog).
    const row = (key: string) => p.getByRole('row').filter({ has: p.getByText(key, { exact: true }) });
    await row('enterprise').getByText('Hidden').waitFor();
    await row('pro').getByText('Public').waitFor();
    await expectAccessible(p, 'platform plans');
    await screenshots(p, 'billing', '03-platform-plans');

    await p.getByRole('button', { name: 'New plan' }).click();
    const form = p.getByRole('dialog', { name: 'New plan' });
    await form.getByRole('textbox', { name: 'Key' }).fill(`console-${stamp}`);
    await form.getByRole('textbox', { name: 'Name' }).fill(`Scale ${stamp}`);
    await form.getByRole('textbox', { name: 'Seat limit' }).fill('50');
    await form.getByRole('textbox', { name: 'Audit log retention (days)' }).fill('180');
    await form.getByRole('textbox', { name: 'Price (JSON)' }).fill('{"currency":"usd"}');
    await form.getByRole('button', { name: 'Create plan' }).click();
    await form.getByRole('alert').waitFor(); // the server names the field
    await expectAccessible(p, 'new plan form with an error');
    await form
      .getByRole('textbox', { name: 'Price (JSON)' })
      .fill('{"currency":"EUR","interval":"year","components":[{"model":"flat","amount":99000}]}');
    await form.getByRole('button', { name: 'Create plan' }).click();
    await form.waitFor({ state: 'hidden' });
    await row(`console-${stamp}`).getByRole('cell', { name: '50', exact: true }).waitFor();
    await row(`console-${stamp}`).getByRole('cell', { name: '180 days', exact: true }).waitFor();
    await row('enterprise').getByRole('cell', { name: 'Forever', exact: true }).waitFor();
    const stored = (await (await apiAs(p, c).get(`/v1/platform/plans/console-${stamp}`)).json()) as Record<
      string,
      unknown
    >;
    expect(stored).toMatchObject({
      name: `Scale ${stamp}`,
      seatLimit: 50,
      auditRetentionDays: 180,
      public: true,
      price: { currency: 'EUR', interval: 'year', components: [{ model: 'flat', amount: 99000 }] },
    });

    await p.getByRole('button', { name: `Archive Scale ${stamp}` }).click();
    await row(`console-${stamp}`).getByText('Archived').waitFor();
    await p.getByRole('button', { name: `Restore Scale ${stamp}` }).waitFor();
  }, 60_000);
});
