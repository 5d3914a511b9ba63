import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
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

describe('console: organization settings in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('rename and new slug (taken slug refused next to the field), two-factor requirement, deletion scheduled by typed slug and cancelled', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await signUpVerified(page, newEmail('settings'), newPassword(), seen);
    const personal = new URL(page.url()).pathname.split('/')[2]!;
    const api = apiAs(page, c);
    const stamp = randomBytes(4).toString('hex');
    const slug = `settings-${stamp}`;
    expect((await api.post('/v1/organizations', { name: `Settings ${stamp}`, slug })).status()).toBe(201);
    // The session acts in the new organization before the console opens it. Opening another organization
    // makes the console switch the session, which rotates its token while the page's other requests still
    // carry the old one (a race of the /o/:org layout that can sign the page out); the test steps around it.
    expect((await api.post('/v1/session/switch', { organization: slug })).status()).toBe(200);

    await page.goto(`/o/${slug}/settings`);
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await page.getByRole('heading', { name: 'Danger zone' }).waitFor();
    // This server has no regions: once their list has come, no Region line (test/console/regions.test.ts
    // has one with regions).
    await page.getByRole('status', { name: 'Loading the region' }).waitFor({ state: 'detached' });
    expect(await page.getByRole('textbox', { name: 'Region' }).count()).toBe(0);
    await expectAccessible(page, 'organization settings');
    await screenshots(page, 'org-settings', '01-settings');

    // A slug another organization has: the server's refusal next to the Slug field.
    const slugField = page.getByRole('textbox', { name: 'Slug' });
    await slugField.fill(personal);
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => slugField.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
    await page.getByText(`slug "${personal}" is already taken`).waitFor();
    await expectAccessible(page, 'slug taken');
    await screenshots(page, 'org-settings', '02-slug-taken');

    // Rename and move: the console follows the organization to its new address.
    const renamed = `renamed-${stamp}`;
    await page.getByRole('textbox', { name: 'Name' }).fill(`Renamed ${stamp}`);
    await slugField.fill(renamed);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(`**/o/${renamed}/settings`);
    await expect
      .poll(() => page.getByRole('combobox', { name: 'Organization' }).inputValue(), { timeout: 10_000 })
      .toBe(`Renamed ${stamp}`);
    await expect.poll(() => page.getByRole('textbox', { name: 'Slug' }).inputValue()).toBe(renamed);

    // Requiring two-factor needs it on the owner's own account first: refused, with why and where.
    const requirement = page.getByRole('switch', { name: 'Require two-factor authentication' });
    await requirement.click();
    await page
      .getByRole('alert')
      .filter({ hasText: 'Turn on two-factor authentication for your own account' })
      .waitFor();
    expect(await requirement.isChecked()).toBe(false);
    await expectAccessible(page, 'two-factor requirement refused');
    await screenshots(page, 'org-settings', '03-two-factor-refused');
    const begin = await api.post('/v1/auth/two-factor/enroll');
    expect(begin.status()).toBe(200);
    const { secret } = (await begin.json()) as { secret: string };
    expect(
      (await api.post('/v1/auth/two-factor/enroll/confirm', { code: codeFor(secret, Date.now()) })).status(),
    ).toBe(200);
    await page.reload();
    const org = async () =>
      (await (await api.get(`/v1/orgs/${renamed}/organization`)).json()) as { requireTwoFactor: boolean };
    // Each click is saved (the switch shows the value being saved at once, the API has it once it answered).
    await requirement.click();
    await expect.poll(async () => (await org()).requireTwoFactor, { timeout: 10_000 }).toBe(true);
    await expect.poll(() => requirement.isChecked(), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => requirement.isDisabled(), { timeout: 10_000 }).toBe(false);
    await requirement.click();
    await expect.poll(async () => (await org()).requireTwoFactor, { timeout: 10_000 }).toBe(false);
    await expect.poll(() => requirement.isChecked(), { timeout: 10_000 }).toBe(false);

    // Deletion: explained, scheduled only once the slug is typed; then the status with its cancel.
    await page.getByRole('button', { name: 'Delete organization' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete organization' });
    const confirm = dialog.getByRole('button', { name: 'Schedule the deletion' });
    await dialog.getByText('it is read-only: members and API keys can read and export').waitFor();
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByRole('textbox', { name: `Type ${renamed} to confirm` }).fill(slug);
    expect(await confirm.isDisabled()).toBe(true);
    await expectAccessible(page, 'delete organization confirmation');
    await screenshots(page, 'org-settings', '04-delete');
    await dialog.getByRole('textbox', { name: `Type ${renamed} to confirm` }).fill(renamed);
    await confirm.click();
    await page.getByText('This organization is scheduled for deletion').waitFor();
    await page.getByText('Read-only: scheduled for deletion').waitFor();
    const pending = (await (await api.get(`/v1/orgs/${renamed}/organization`)).json()) as {
      lifecycleState: string;
      deletionDueAt: string;
    };
    expect(pending.lifecycleState).toBe('pending_deletion');
    await expectAccessible(page, 'organization scheduled for deletion');
    await screenshots(page, 'org-settings', '05-pending-deletion');
    // Still listed in the switcher (its members read it until it is due).
    await page.getByRole('combobox', { name: 'Organization' }).click();
    expect((await page.getByRole('option').allTextContents()).join(' ')).toContain(stamp);
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Cancel the deletion' }).click();
    await page.getByRole('heading', { name: 'Danger zone' }).waitFor();
    expect(await page.getByText('This organization is scheduled for deletion').count()).toBe(0);
    expect(
      ((await (await api.get(`/v1/orgs/${renamed}/organization`)).json()) as { lifecycleState: string })
        .lifecycleState,
    ).toBe('active');
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);
});
