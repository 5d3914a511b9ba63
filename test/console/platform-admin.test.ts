import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
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

/** The `aria-invalid` of a field, polled (it turns true when the form draws the field's error). */
const invalid = (page: Page, name: string) =>
  expect.poll(() => page.getByRole('textbox', { name }).getAttribute('aria-invalid'), { timeout: 10_000 });

describe('console: platform administration in Chromium (issue 9, test 6)', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('suspends an organization (its member sees why), defines a 50 % rollout the organization sees, audited intact', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    const member = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    await signUpVerified(member.page, newEmail('suspended-member'), newPassword(), seen);
    const slug = `zeta-${stamp}`;
    const name = `Zeta ${stamp}`;
    expect((await apiAs(member.page, c).post('/v1/organizations', { name, slug })).status()).toBe(201);
    // The member's session acts in it before the console opens it (see the note in org-settings.test.ts).
    expect((await apiAs(member.page, c).post('/v1/session/switch', { organization: slug })).status()).toBe(
      200,
    );
    const a = admin.page;

    // The administrator finds the organization by part of its name, in another case.
    await a.getByRole('button', { name: /platform-admin-/ }).click();
    await a.getByRole('menuitem', { name: 'Platform administration' }).click();
    await a.getByRole('heading', { name: 'Organizations' }).waitFor();
    await a.getByRole('navigation', { name: 'Platform administration' }).waitFor();
    await a.getByRole('textbox', { name: 'Search' }).fill(`ZETA ${stamp.toUpperCase()}`);
    const row = a.getByRole('row').filter({ hasText: slug });
    await row.getByText('Active').waitFor();
    // Rows of the organizations table (the placement moves below it have their own).
    const orgRows = a.getByRole('table', { name: 'Organizations' }).getByRole('row');
    await expect.poll(() => orgRows.count(), { timeout: 10_000 }).toBe(2);
    await expectAccessible(a, 'platform organizations, searched');
    await screenshots(a, 'platform-admin', '01-organizations');

    // Suspend, confirmed: the member's console says why it is closed.
    await a.getByRole('button', { name: `Suspend ${name}` }).click();
    const confirm = a.getByRole('dialog', { name: 'Suspend organization' });
    await confirm.getByText('Nothing is deleted').waitFor();
    await expectAccessible(a, 'suspend confirmation');
    await confirm.getByRole('button', { name: 'Suspend' }).click();
    await row.getByText('Suspended').waitFor();
    await member.page.goto(`/o/${slug}/projects`);
    await member.page.getByText('This organization is suspended').waitFor();
    await expectAccessible(member.page, 'suspended organization');
    await screenshots(member.page, 'platform-admin', '02-member-sees-suspension');

    // Reactivated, confirmed: the member is back in.
    await a.getByRole('button', { name: `Reactivate ${name}` }).click();
    await a
      .getByRole('dialog', { name: 'Reactivate organization' })
      .getByRole('button', { name: 'Reactivate' })
      .click();
    await row.getByText('Active').waitFor();
    await member.page.reload();
    await member.page.getByRole('heading', { name: 'Projects' }).waitFor();

    // Plan and attributes: JSON that does not parse is pointed out next to the editor, then saved.
    await a.getByRole('button', { name: `Plan and attributes of ${name}` }).click();
    const targeting = a.getByRole('dialog', { name: `Plan and attributes of ${name}` });
    await targeting.getByLabel('Plan').fill('enterprise');
    await targeting.getByRole('textbox', { name: 'Attributes' }).fill('{"region": "eu",');
    await targeting.getByRole('button', { name: 'Save' }).click();
    await invalid(a, 'Attributes').toBe('true');
    await targeting.getByText(/^Not valid JSON/).waitFor();
    await expectAccessible(a, 'attributes with a parse error');
    await screenshots(a, 'platform-admin', '03-attributes-error');
    await targeting.getByRole('textbox', { name: 'Attributes' }).fill('{"region": "eu", "seats": 40}');
    await targeting.getByRole('button', { name: 'Save' }).click();
    await targeting.waitFor({ state: 'hidden' });
    await row.getByText('enterprise').waitFor();

    // A flag with a 50 % rollout by organization, defined through the screen.
    const key = `console.rollout-${stamp}`;
    await a.getByRole('link', { name: 'Flag definitions' }).click();
    await a.getByRole('heading', { name: 'Flag definitions' }).waitFor();
    await a.getByRole('button', { name: 'New flag' }).click();
    const form = a.getByRole('dialog', { name: 'New feature flag' });
    await form.getByRole('textbox', { name: 'Key' }).fill(key);
    await form.getByRole('textbox', { name: 'Description' }).fill('Half of the organizations get it');
    await form.getByRole('checkbox', { name: 'Percentage rollout' }).check();
    await form.getByRole('textbox', { name: 'Rollout: percentage' }).fill('50');
    await expectAccessible(a, 'new flag form');
    await screenshots(a, 'platform-admin', '04-new-flag');
    await form.getByRole('button', { name: 'Create flag' }).click();
    await form.waitFor({ state: 'hidden' });
    const flagRow = a.getByRole('row').filter({ hasText: key });
    await flagRow.getByText('50 % of organizations').waitFor();
    await expectAccessible(a, 'flag definitions');
    await screenshots(a, 'platform-admin', '05-flags');

    // The organization's flags page: its value, and the reason (the rollout), as the API evaluates it.
    const evaluated = (await (await apiAs(member.page, c).get(`/v1/orgs/${slug}/flags`)).json()) as {
      details: { key: string; value: unknown; reason: string }[];
    };
    expect(evaluated.details.find((d) => d.key === key)).toMatchObject({ reason: 'rollout' });
    const value = evaluated.details.find((d) => d.key === key)!.value === true ? 'on' : 'off';
    await member.page.goto(`/o/${slug}/flags`);
    await member.page.getByRole('textbox', { name: 'Filter flags' }).fill(key);
    const memberRow = member.page.getByRole('row').filter({ hasText: key });
    await memberRow.getByText('Rollout', { exact: true }).waitFor();
    await memberRow.getByRole('cell', { name: value, exact: true }).waitFor();
    await expectAccessible(member.page, 'flags page with a rollout');
    await screenshots(member.page, 'platform-admin', '06-org-flags');

    // Someone else changes the flag while the form is open: 409, explained, and "Reload" starts over.
    await flagRow.getByRole('button', { name: `Edit ${key}` }).click();
    const edit = a.getByRole('dialog', { name: `Edit ${key}` });
    await edit.getByRole('textbox', { name: 'Rollout: percentage' }).fill('60');
    const meanwhile = await apiAs(a, c).patch(`/v1/platform/flags/${key}`, {
      description: 'changed',
      version: 1,
    });
    expect(meanwhile.status()).toBe(200);
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.getByText('Someone changed this flag since you opened it').waitFor();
    await expectAccessible(a, 'version conflict');
    await screenshots(a, 'platform-admin', '07-version-conflict');
    await edit.getByRole('button', { name: 'Reload' }).click();
    await expect.poll(() => edit.getByRole('textbox', { name: 'Description' }).inputValue()).toBe('changed');
    await edit.getByRole('textbox', { name: 'Rollout: percentage' }).fill('60');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'hidden' });
    await flagRow.getByText('60 % of organizations').waitFor();

    // The platform audit log: the creation and the updates, the chain intact.
    await a.getByRole('link', { name: 'Platform audit log' }).click();
    await a.getByText('Chain intact').waitFor();
    await a.getByRole('textbox', { name: 'Action' }).fill('flag.*');
    await a.getByRole('button', { name: 'Filter' }).click();
    const created = a.getByRole('row').filter({ hasText: 'flag.created' }).filter({ hasText: key });
    await created.waitFor();
    await expect.poll(() => a.getByRole('row').filter({ hasText: key }).count()).toBe(3);
    await expectAccessible(a, 'platform audit log');
    await screenshots(a, 'platform-admin', '08-audit-log');

    // Deleted, after confirmation (flags are global: the suite's other organizations see them).
    await a.getByRole('link', { name: 'Flag definitions' }).click();
    await flagRow.getByRole('button', { name: `Delete ${key}` }).click();
    const del = a.getByRole('dialog', { name: 'Delete feature flag' });
    await expectAccessible(a, 'delete flag confirmation');
    await del.getByRole('button', { name: 'Delete' }).click();
    await del.waitFor({ state: 'hidden' });
    await flagRow.waitFor({ state: 'detached' });

    for (const ctx of [admin, member]) expect(ctx.problems).toEqual([]);
    await Promise.all([admin.context.close(), member.context.close()]);
  }, 120_000);

  it('a non-administrator reads "not found" on every platform screen and never sees its menu or nav', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const email = newEmail('not-admin');
    await signUpVerified(page, email, newPassword(), seen);
    for (const path of [
      '/admin/organizations',
      '/admin/flags',
      '/admin/plans',
      '/admin/meters',
      '/admin/audit-log',
    ]) {
      await page.goto(path);
      await page.getByRole('heading', { name: 'Page not found' }).waitFor();
      expect(await page.getByRole('navigation', { name: 'Platform administration' }).count()).toBe(0);
      expect(await page.getByRole('table').count()).toBe(0);
    }
    await page.getByRole('button', { name: email }).click();
    await page.getByRole('menuitem', { name: 'Account' }).waitFor();
    expect(await page.getByRole('menuitem', { name: 'Platform administration' }).count()).toBe(0);
    await page.keyboard.press('Escape');
    await expectAccessible(page, 'platform screen for a non-administrator');
    await screenshots(page, 'platform-admin', '09-not-found');
    // The server refuses as well.
    expect((await apiAs(page, c).get('/v1/platform/organizations')).status()).toBe(403);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
