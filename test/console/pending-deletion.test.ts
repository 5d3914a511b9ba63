import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
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

describe('console: organizations pending deletion in Chromium (issue 12)', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('lists an organization scheduled for deletion; expedite wants its slug typed', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    const owner = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    await signUpVerified(owner.page, newEmail('leaving-owner'), newPassword(), seen);
    const slug = `leaving-${stamp}`;
    const name = `Leaving ${stamp}`;
    const api = apiAs(owner.page, c);
    expect((await api.post('/v1/organizations', { name, slug })).status()).toBe(201);
    expect((await api.delete(`/v1/orgs/${slug}/organization`)).status()).toBe(202);

    const a = admin.page;
    await a.goto('/admin/pending-deletion');
    await a.getByRole('heading', { name: 'Pending deletion' }).waitFor();
    const row = a.getByRole('row').filter({ hasText: slug });
    await row.waitFor();
    await expectAccessible(a, 'organizations pending deletion');
    await screenshots(a, 'platform-admin', '10-pending-deletion');

    await a.getByRole('button', { name: `Expedite the deletion of ${name}` }).click();
    const dialog = a.getByRole('dialog', { name: 'Expedite the deletion' });
    const confirm = dialog.getByRole('button', { name: 'Expedite the deletion' });
    const field = dialog.getByRole('textbox', { name: `Type ${slug} to confirm` });
    expect(await confirm.isDisabled()).toBe(true);
    await field.fill('not-it');
    await dialog.getByText(`Type exactly ${slug}`).waitFor();
    expect(await confirm.isDisabled()).toBe(true);
    await expectAccessible(a, 'expedite confirmation');
    await screenshots(a, 'platform-admin', '11-expedite');
    await field.fill(slug);
    await confirm.click();
    await dialog.waitFor({ state: 'hidden' });
    // Due now: the row stays until the deletion job has run, with its due time in the past.
    const org = (await (await api.get(`/v1/orgs/${slug}/organization`)).json()) as { deletionDueAt: string };
    expect(Date.parse(org.deletionDueAt)).toBeLessThanOrEqual(Date.now());
    expect(admin.problems).toEqual([]);
    await admin.context.close();
    await owner.context.close();
  }, 90_000);
});
