import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
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

describe('console: projects, the example resource, in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('validation error next to the field, edit, delete, cursor paging', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await signUpVerified(page, newEmail('projects'), newPassword(), seen);
    const slug = new URL(page.url()).pathname.split('/')[2]!;

    // The server refuses a blank name (pattern \S): its message is drawn next to the Name field.
    await page.getByRole('button', { name: 'New project' }).click();
    const dialog = page.getByRole('dialog', { name: 'New project' });
    await dialog.getByRole('textbox', { name: 'Name' }).fill('   ');
    await dialog.getByRole('button', { name: 'Create project' }).click();
    const name = dialog.getByRole('textbox', { name: 'Name' });
    await expect.poll(() => name.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
    const describedBy = (await name.getAttribute('aria-describedby')) ?? '';
    const message = await page
      .locator(`[id="${describedBy.split(' ').find((id) => id.endsWith('-error'))}"]`)
      .textContent();
    expect(message).toMatch(/^name /);
    await expectAccessible(page, 'project form with a field error');
    await screenshots(page, 'projects', '01-field-error');
    await name.fill('Alpha');
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('cell', { name: 'Alpha', exact: true }).waitFor();
    await dialog.waitFor({ state: 'hidden' });

    // Edit.
    await page.getByRole('button', { name: 'Edit Alpha' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit project' });
    await edit.getByRole('textbox', { name: 'Name' }).fill('Alpha 2');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'Alpha 2', exact: true }).waitFor();
    await edit.waitFor({ state: 'hidden' });

    // Delete, after confirmation.
    await page.getByRole('button', { name: 'Delete Alpha 2' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete project' });
    await expectAccessible(page, 'delete confirmation');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No projects yet').waitFor();

    // Cursor paging: 25 projects, 20 a page.
    const api = apiAs(page, c);
    for (let i = 1; i <= 25; i++) {
      const res = await api.post(`/v1/orgs/${slug}/projects`, {
        name: `Project ${String(i).padStart(2, '0')}`,
      });
      expect(res.status()).toBe(201);
    }
    await page.reload();
    await page.getByRole('button', { name: 'Load more' }).waitFor();
    expect(await page.getByRole('button', { name: /^Edit Project/ }).count()).toBe(20);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect
      .poll(() => page.getByRole('button', { name: /^Edit Project/ }).count(), { timeout: 10_000 })
      .toBe(25);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);
    await expectAccessible(page, 'projects (25)');
    await screenshots(page, 'projects', '02-list');
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);
});
