import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
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

describe('console: organizations pending deletion in Chromium (issue 12)', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it("a member sees the read-only banner and the due date, without the owners' cancel; the platform lists it and expedite wants its slug typed", async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    const owner = await newContext(browser, c);
    const member = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    await signUpVerified(owner.page, newEmail('leaving-owner'), newPassword(), seen);
    const slug = `leaving-${stamp}`;
    const name = `Leaving ${stamp}`;
    const api = apiAs(owner.page, c);
    expect((await api.post('/v1/organizations', { name, slug })).status()).toBe(201);
    // A member joins before the deletion is scheduled (an invitation is a write).
    const memberEmail = newEmail('leaving-member');
    await signUpVerified(member.page, memberEmail, newPassword(), seen);
    expect(
      (await api.post(`/v1/orgs/${slug}/invitations`, { email: memberEmail, role: 'member' })).status(),
    ).toBe(201);
    const token = new URL(await mailedLink(memberEmail, 'accept-invitation', seen)).searchParams.get('token');
    const memberApi = apiAs(member.page, c);
    expect((await memberApi.post('/v1/invitations/accept', { token })).status()).toBe(200);
    expect((await memberApi.post('/v1/session/switch', { organization: slug })).status()).toBe(200);
    expect((await api.delete(`/v1/orgs/${slug}/organization`)).status()).toBe(202);

    const m = member.page;
    await m.goto(`/o/${slug}/settings`);
    await m.getByText('This organization is scheduled for deletion').waitFor();
    await m.getByText('Read-only: scheduled for deletion').waitFor();
    await m.getByText('Only an owner can cancel the deletion.').waitFor();
    expect(await m.getByRole('button', { name: 'Cancel the deletion' }).count()).toBe(0);
    await expectAccessible(m, 'member of an organization pending deletion');
    await screenshots(m, 'org-settings', '06-pending-deletion-member');
    // Its pages still read: the projects list answers.
    await m.goto(`/o/${slug}/projects`);
    await m.getByText('Read-only: scheduled for deletion').waitFor();
    await m.getByRole('heading', { name: 'Projects' }).waitFor();

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
    expect(member.problems).toEqual([]);
    await admin.context.close();
    await owner.context.close();
    await member.context.close();
  }, 90_000);
});
