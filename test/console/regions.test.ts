import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  apiAs,
  expectAccessible,
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

const seen = new Set<string>();

/**
 * Data residency through the screens: an app of its own with two regions (`us`, the default, and `eu`),
 * each a migrated tenant database of its own. The new-organization page offers both with the default
 * chosen; an organization created in `eu` is placed in eu's database; its settings show the region.
 */
describe('console: regions in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  let us: ProvisionedDatabase;
  let eu: ProvisionedDatabase;

  beforeAll(async () => {
    [us, eu, browser] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_console_us', { tenantDatabase: true }),
      provisionDatabase(testDb().superuserUrl, 'sr_console_eu', { tenantDatabase: true }),
      sharedChromium(),
    ]);
    c = await startConsoleApp({
      tenantDatabases: {
        databases: { 'us-1': { url: us.url }, 'eu-1': { url: eu.url } },
        regions: { us: 'us-1', eu: 'eu-1' },
        defaultRegion: 'us',
        maxConnections: 6,
        poolSize: 3,
        idleTimeoutMs: 30_000,
        acquireTimeoutMs: 5_000,
      },
    });
  });
  afterAll(async () => {
    await stopConsoleApp(c);
    if (us) await dropProvisioned(us);
    if (eu) await dropProvisioned(eu);
  });

  it('the new-organization page offers the regions with the default chosen; an organization created in eu is placed there and its settings show it', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const folder = 'regions';
    await signUpVerified(page, newEmail('resident'), newPassword(), seen);

    // The new-organization page: the Region select with the server's default chosen, both regions offered.
    await page.getByRole('link', { name: 'New organization' }).click();
    await page.getByRole('heading', { name: 'New organization' }).waitFor();
    const region = page.getByRole('combobox', { name: 'Region' });
    await region.waitFor();
    expect(await region.inputValue()).toBe('us');
    await expectAccessible(page, 'new organization (regions)');
    await screenshots(page, folder, '01-new-organization');
    await region.click();
    expect(await page.getByRole('option').allTextContents()).toEqual(['eu', 'us']);
    await page.getByRole('option', { name: 'eu', exact: true }).click();
    await expect.poll(() => region.inputValue()).toBe('eu');

    // Created in eu: the console opens it, the API reports eu, and its rows are in eu's database only.
    const slug = `europa-${randomBytes(3).toString('hex')}`;
    await page.getByRole('textbox', { name: 'Name' }).fill('Europa GmbH');
    await page.getByRole('textbox', { name: 'Slug' }).fill(slug);
    await screenshots(page, folder, '02-new-organization-eu');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.waitForURL(`**/o/${slug}/projects`);
    const got = await apiAs(page, c).get(`/v1/orgs/${slug}/organization`);
    expect(got.status()).toBe(200);
    const created = (await got.json()) as { id: string; region: string | null };
    expect(created.region).toBe('eu');
    const control = await connect(testDb().adminUrl);
    const [euDb, usDb] = await Promise.all([connect(eu.adminUrl), connect(us.adminUrl)]);
    try {
      const placement = await control.query(
        'select kind, database_key from tenant_placements where organization_id = $1',
        [created.id],
      );
      expect(placement.rows).toEqual([{ kind: 'database', database_key: 'eu-1' }]);
      const audit = `select action from audit_pending where organization_id = $1
                     union all select action from audit_events where organization_id = $1`;
      expect((await euDb.query(audit, [created.id])).rows).toEqual([{ action: 'organization.created' }]);
      expect((await usDb.query(audit, [created.id])).rows).toEqual([]);
    } finally {
      await Promise.all([control.end(), euDb.end(), usDb.end()]);
    }

    // Its settings show the region, read-only.
    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Settings' })
      .click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const shown = page.getByRole('textbox', { name: 'Region' });
    await shown.waitFor();
    expect(await shown.inputValue()).toBe('eu');
    expect(await shown.getAttribute('readonly')).not.toBeNull();
    await page.getByRole('heading', { name: 'Danger zone' }).waitFor();
    await expectAccessible(page, 'organization settings (region eu)');
    await screenshots(page, folder, '03-settings-region');

    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
