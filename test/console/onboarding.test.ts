import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  expectAccessible,
  mailedLink,
  newContext,
  screenshots,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();
const password = () => `Pw-${randomBytes(12).toString('base64url')}-console`;
const email = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}@console.example.com`;

describe('console: onboarding in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('sign up → mail → verify link → signed in with the Personal Organization → create "Acme" → create a project', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const folder = 'onboarding';
    const owner = email('owner');

    await page.goto('/');
    // Signed out: the console sends the person to sign-in.
    await page.waitForURL('**/sign-in**');
    await expect
      .poll(() => page.getByRole('heading', { name: 'Sign in' }).isVisible(), { timeout: 10_000 })
      .toBe(true);
    await expectAccessible(page, 'sign-in');
    await screenshots(page, folder, '01-sign-in');

    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await expectAccessible(page, 'sign-up');
    await screenshots(page, folder, '02-sign-up');
    await page.getByRole('textbox', { name: 'Email' }).fill(owner);
    await page.getByRole('textbox', { name: 'Password' }).fill(password());
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    await expect.poll(() => page.getByText(owner).isVisible(), { timeout: 10_000 }).toBe(true);
    await expectAccessible(page, 'check your mail');
    await screenshots(page, folder, '03-check-mail');

    // The mailed link opens the console, verifies the address and signs the person in.
    const link = await mailedLink(owner, 'verify-email', seen);
    expect(link.startsWith(`${c.origin}/verify-email?token=`)).toBe(true);
    await page.goto(link);
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    const switcher = page.getByRole('combobox', { name: 'Organization' });
    await expect.poll(() => switcher.inputValue(), { timeout: 10_000 }).toMatch(/\(Personal\)$/);
    await page.getByText('No projects yet').waitFor();
    await expect.poll(() => page.getByText('Verify your email address').count(), { timeout: 10_000 }).toBe(0);
    await expectAccessible(page, 'projects (empty, personal organization)');
    await screenshots(page, folder, '04-personal-projects');

    // Create the organization "Acme" from the switcher.
    await page.getByRole('link', { name: 'New organization' }).click();
    await page.getByRole('heading', { name: 'New organization' }).waitFor();
    await page.getByRole('textbox', { name: 'Name' }).fill('Acme');
    expect(await page.getByRole('textbox', { name: 'Slug' }).inputValue()).toBe('acme');
    const slug = `acme-${randomBytes(3).toString('hex')}`;
    await page.getByRole('textbox', { name: 'Slug' }).fill(slug);
    await expectAccessible(page, 'new organization');
    await screenshots(page, folder, '05-new-organization');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.waitForURL(`**/o/${slug}/projects`);
    await expect.poll(() => switcher.inputValue(), { timeout: 10_000 }).toBe('Acme');

    // A project in Acme.
    await page.getByRole('button', { name: 'New project' }).click();
    const dialog = page.getByRole('dialog', { name: 'New project' });
    await dialog.getByRole('textbox', { name: 'Name' }).fill('Website relaunch');
    await dialog.getByRole('textbox', { name: 'Description' }).fill('The first project of Acme');
    await expectAccessible(page, 'new project dialog');
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('cell', { name: 'Website relaunch', exact: true }).waitFor();
    await dialog.waitFor({ state: 'hidden' });
    await expectAccessible(page, 'projects (one project)');
    await screenshots(page, folder, '06-acme-projects');

    // The project is Acme's, not the personal organization's (the API agrees).
    const projects = await page.request.get(`/v1/orgs/${slug}/projects`);
    expect(projects.status()).toBe(200);
    expect(((await projects.json()) as { data: { name: string }[] }).data.map((p) => p.name)).toEqual([
      'Website relaunch',
    ]);

    // The server remembers the organization last opened: a new visit to `/` opens Acme.
    await page.goto('/');
    await page.waitForURL(`**/o/${slug}/projects`);

    // Members (read-only): the owner alone.
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('cell', { name: owner, exact: true }).waitFor();
    await expectAccessible(page, 'members');
    await screenshots(page, folder, '07-members');

    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);
  it('signed in before verifying: the banner sends a new link, which verifies the address', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const person = email('unverified');
    const pw = password();
    await page.goto('/sign-up');
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByRole('textbox', { name: 'Email' }).fill(person);
    await page.getByRole('textbox', { name: 'Password' }).fill(pw);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    const first = await mailedLink(person, 'verify-email', seen);

    // Signing in works unverified; the console says what is missing and offers a new link.
    await page.goto('/sign-in');
    await page.getByRole('textbox', { name: 'Email' }).fill(person);
    await page.getByRole('textbox', { name: 'Password' }).fill(pw);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Verify your email address').waitFor();
    await expectAccessible(page, 'unverified banner');
    await screenshots(page, 'verify', '01-banner');
    await page.getByRole('button', { name: `Send a new link to ${person}` }).click();
    await page.getByText(`We sent a new link to ${person}.`).waitFor();
    const second = await mailedLink(person, 'verify-email', seen);
    expect(second).not.toBe(first);

    await page.goto(second);
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await expect.poll(() => page.getByText('Verify your email address').count(), { timeout: 10_000 }).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);
});
