import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { signUpPlatformAdmin } from './platform-admin-support.js';
import {
  apiAs,
  expectAccessible,
  mailedLink,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

/** Clicks Refresh until `text` shows: the aggregator (every second in console apps) must have run meanwhile. */
async function refreshUntil(page: Page, text: string, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.getByRole('button', { name: 'Refresh' }).click();
    try {
      await page.getByText(text, { exact: true }).first().waitFor({ timeout: 2_000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

describe('console: usage and meters in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('a member sees usage rise after events are sent with an API key (empty state first, data table on demand)', async () => {
    const stamp = randomBytes(4).toString('hex');
    const meter = `console_gb_${stamp}`;
    const admin = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    const defined = await apiAs(admin.page, c).post('/v1/platform/meters', {
      key: meter,
      aggregation: 'sum',
      unit: 'GB',
      description: 'Storage written',
    });
    expect(defined.status(), await defined.text()).toBe(201);

    // An owner (personal organization) invites a member, who joins in their own browser.
    const owner = await newContext(browser, c);
    await signUpVerified(owner.page, newEmail('usage-owner'), newPassword(), seen);
    const slug = new URL(owner.page.url()).pathname.split('/')[2]!;
    const ownerApi = apiAs(owner.page, c);
    const email = newEmail('usage-member');
    const invited = await ownerApi.post(`/v1/orgs/${slug}/invitations`, { email, role: 'member' });
    expect(invited.status(), await invited.text()).toBe(201);
    const token = new URL(await mailedLink(email, 'accept-invitation', seen)).searchParams.get('token');
    const member = await newContext(browser, c);
    const joined = await apiAs(member.page, c).post('/v1/invitations/accept-new', {
      token,
      password: newPassword(),
    });
    expect(joined.status(), await joined.text()).toBe(201);

    const p = member.page;
    await p.goto(`/o/${slug}/projects`);
    await p.getByRole('navigation', { name: 'Organization' }).getByRole('link', { name: 'Usage' }).click();
    await p.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
    // A member (usage:read, not billing:read): the built-in meter, no quotas section.
    await p.getByRole('heading', { name: 'api_requests' }).waitFor();
    expect(await p.getByRole('heading', { name: 'Quotas' }).count()).toBe(0);
    // Mantine's segmented control: the radio input is visually hidden under its label.
    await p.locator('label', { hasText: /^Minute$/ }).click();
    await p.getByRole('radio', { name: 'Minute' }).and(p.locator(':checked')).waitFor({ state: 'attached' });
    await p.getByRole('textbox', { name: 'Show a meter' }).fill(meter);
    await p.getByRole('button', { name: 'Show', exact: true }).click();
    await p.getByText(`No usage of ${meter} in this range`).waitFor();
    expect(new URL(p.url()).searchParams.getAll('meter')).toEqual([meter]);
    await expectAccessible(p, 'usage (empty)');
    await screenshots(p, 'usage', '01-empty');

    // Events sent with an API key of the organization (usage:write), over plain HTTP.
    const created = await ownerApi.post(`/v1/orgs/${slug}/api-keys`, {
      name: 'ingest',
      scopes: ['usage:write'],
    });
    expect(created.status(), await created.text()).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const now = new Date().toISOString();
    const sent = await fetch(`${c.base}/v1/usage/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [
          { id: `a-${stamp}`, meter, value: 3, timestamp: now },
          { id: `b-${stamp}`, meter, value: '4.5', timestamp: now },
          { id: `a-${stamp}`, meter, value: 3, timestamp: now }, // a repeat: counted once
        ],
      }),
    });
    expect(sent.status).toBe(200);
    expect(await sent.json()).toMatchObject({ accepted: 2, duplicates: 1 });

    const chart = p.getByRole('region', { name: meter });
    await refreshUntil(p, 'Total: 7.5 GB');
    await chart
      .getByRole('img', { name: new RegExp(`${meter}, last hour by minute: total 7\\.5 GB`) })
      .waitFor();
    await chart.getByRole('button', { name: `Show data table of ${meter}` }).click();
    const table = chart.getByRole('table', { name: `Usage of ${meter} by minute` });
    await table.getByRole('cell', { name: '7.5', exact: true }).waitFor();
    await table.getByRole('cell', { name: '2', exact: true }).waitFor();
    await expectAccessible(p, 'usage (with data)');
    await screenshots(p, 'usage', '02-with-data');

    // More events: the total rises.
    const more = await fetch(`${c.base}/v1/usage/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ id: `c-${stamp}`, meter, value: 10, timestamp: now }] }),
    });
    expect(more.status).toBe(200);
    await refreshUntil(p, 'Total: 17.5 GB');

    // A meter that does not exist: that chart's error state, the others keep theirs.
    await p.getByRole('textbox', { name: 'Show a meter' }).fill(`no_such_meter_${stamp}`);
    await p.getByRole('button', { name: 'Show', exact: true }).click();
    await p
      .getByRole('alert')
      .filter({ hasText: `Could not load usage of no_such_meter_${stamp}` })
      .waitFor();
    await chart.getByText('Total: 17.5 GB', { exact: true }).waitFor();

    // The owner (billing:read) also sees the plan's quotas: the free plan's on api_requests, then a
    // plan with a hard monthly quota of the meter, whose chart the page now shows without being asked.
    const o = owner.page;
    await o.goto(`/o/${slug}/usage`);
    await o.getByRole('region', { name: 'Quotas' }).getByText('api_requests per month').waitFor(); // free
    const planKey = `usage-${stamp}`;
    const adminApi = apiAs(admin.page, c);
    const plan = await adminApi.post('/v1/platform/plans', {
      key: planKey,
      name: `Metered ${stamp}`,
      seatLimit: 10,
      quotas: [{ meter, period: 'month', limit: 100, enforcement: 'hard' }],
      entitlements: [],
      price: { currency: 'USD', interval: 'month', components: [{ model: 'flat', amount: 0 }] },
      public: true,
    });
    expect(plan.status(), await plan.text()).toBe(201);
    const switched = await ownerApi.put(`/v1/orgs/${slug}/billing/plan`, { plan: planKey });
    expect(switched.status(), await switched.text()).toBe(200);
    await o.reload();
    const quotas = o.getByRole('region', { name: 'Quotas' });
    await quotas.getByText('17.5 / 100 GB', { exact: true }).waitFor();
    await quotas.getByText('Hard limit').waitFor();
    await quotas.getByRole('progressbar', { name: `${meter} per month: 17.5 used of 100 GB` }).waitFor();
    await o.getByRole('region', { name: meter }).waitFor();
    await expectAccessible(o, 'usage (owner, quotas)');
    await screenshots(o, 'usage', '04-quotas');
  }, 120_000); // two waits for the aggregator on top of three sign-ups

  it('a platform administrator creates a meter from the form, edits its unit, and archives it', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    const p = admin.page;
    await p.goto('/admin/organizations');
    await p
      .getByRole('navigation', { name: 'Platform administration' })
      .getByRole('link', { name: 'Meters' })
      .click();
    await p.getByRole('heading', { name: 'Meters', level: 1 }).waitFor();
    const row = (key: string) => p.getByRole('row').filter({ has: p.getByText(key, { exact: true }) });
    await row('api_requests').getByText('count').waitFor();
    await expectAccessible(p, 'platform meters');
    await screenshots(p, 'usage', '03-platform-meters');

    const key = `console_seats_${stamp}`;
    await p.getByRole('button', { name: 'New meter' }).click();
    const form = p.getByRole('dialog', { name: 'New meter' });
    await form.getByRole('textbox', { name: 'Key' }).fill('Not A Key');
    await form.getByRole('button', { name: 'Create meter' }).click();
    await form.getByRole('alert').waitFor(); // the server's refusal, in the form
    await expectAccessible(p, 'new meter form with an error');
    await form.getByRole('textbox', { name: 'Key' }).fill(key);
    await form.getByRole('combobox', { name: 'Aggregation' }).click();
    await p.getByRole('option', { name: /^unique_count/ }).click();
    await form.getByRole('textbox', { name: 'Property' }).fill('user_id');
    await form.getByRole('textbox', { name: 'Unit' }).fill('users');
    await form.getByRole('button', { name: 'Create meter' }).click();
    await form.waitFor({ state: 'hidden' });
    await row(key).getByText('unique_count of user_id').waitFor();
    const stored = (await (await apiAs(p, c).get(`/v1/platform/meters/${key}`)).json()) as Record<
      string,
      unknown
    >;
    expect(stored).toMatchObject({ key, aggregation: 'unique_count', property: 'user_id', unit: 'users' });

    await row(key)
      .getByRole('button', { name: `Edit ${key}` })
      .click();
    const edit = p.getByRole('dialog', { name: `Edit meter ${key}` });
    await edit.getByRole('textbox', { name: 'Unit' }).fill('people');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'hidden' });
    await row(key).getByRole('cell', { name: 'people', exact: true }).waitFor();

    await row(key)
      .getByRole('button', { name: `Archive ${key}` })
      .click();
    await p
      .getByRole('dialog', { name: `Archive ${key}?` })
      .getByRole('button', { name: 'Archive meter' })
      .click();
    await row(key).getByText('Archived').waitFor();
    const archived = (await (await apiAs(p, c).get(`/v1/platform/meters/${key}`)).json()) as {
      archivedAt: string | null;
    };
    expect(archived.archivedAt).not.toBeNull();
  }, 60_000);
});
