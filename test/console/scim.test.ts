import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  expectAccessible,
  newContext,
  newEmail,
  newPassword,
  signUpVerified,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

describe('console: directory sync (SCIM) in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('shows the base URL, creates a token shown once, logs the directory’s requests, revokes the token', async () => {
    const { page } = await newContext(browser, c);
    await signUpVerified(page, newEmail('scim'), newPassword(), seen);

    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Directory sync' })
      .click();
    await page.getByRole('heading', { name: 'Directory sync' }).waitFor();
    await page.getByText('No SCIM token yet').waitFor();
    await page.getByText('No SCIM request yet').waitFor();
    await page.getByText(`${c.origin}/scim/v2`).waitFor();
    await expectAccessible(page, 'directory sync (empty)');

    await page.getByRole('button', { name: 'New SCIM token' }).click();
    const dialog = page.getByRole('dialog', { name: 'Copy your new SCIM token' });
    await dialog.getByText('This is the only time the token is shown').waitFor();
    const secret = await dialog.getByRole('textbox', { name: 'SCIM token' }).inputValue();
    seen.add(secret);
    expect(secret).toMatch(/^scim_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    await expectAccessible(page, 'the new SCIM token');
    await dialog.getByRole('button', { name: 'I have copied it' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.content()).not.toContain(secret);

    // The identity provider's side: the token works on /scim/v2.
    const scim = (path: string, init: RequestInit = {}) =>
      fetch(`${c.base}/scim/v2${path}`, {
        ...init,
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/scim+json' },
      });
    const created = await scim('/Users', {
      method: 'POST',
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: newEmail('scim-user'),
      }),
    });
    expect(created.status).toBe(201);
    expect((await scim('/Users')).status).toBe(200);

    const tokenId = secret.split('_')[1]!;
    const row = page.getByRole('row', { name: new RegExp(`scim_${tokenId}`) });
    await row.getByText('active').waitFor();
    // The sync log (written right after each answer), once the page asks again.
    await expect
      .poll(
        async () => {
          await page.reload();
          await page.getByRole('heading', { name: 'Sync log' }).waitFor();
          // The log's table, or its empty state: the page has its answer.
          await page
            .getByRole('columnheader', { name: 'Outcome' })
            .or(page.getByText('No SCIM request yet'))
            .first()
            .waitFor();
          return page.getByRole('row', { name: /POST Users/ }).count();
        },
        { timeout: 15_000 },
      )
      .toBeGreaterThan(0);
    await expectAccessible(page, 'directory sync (token and log)');

    await page.getByRole('button', { name: `Revoke scim_${tokenId}` }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke SCIM token' });
    await confirm.getByRole('button', { name: 'Revoke token' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await page
      .getByRole('row', { name: new RegExp(`scim_${tokenId}`) })
      .getByText('revoked')
      .waitFor();
    expect((await scim('/Users')).status).toBe(401);
  });
});
