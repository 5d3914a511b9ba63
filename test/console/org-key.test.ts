import { randomBytes } from 'node:crypto';
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

describe('console: the organization encryption key in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('error with retry, no key yet, versions, rotation confirmed by the owner and its re-encryption in progress', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await signUpVerified(page, newEmail('orgkey'), newPassword(), seen);
    const api = apiAs(page, c);
    const stamp = randomBytes(4).toString('hex');
    const slug = `orgkey-${stamp}`;
    expect((await api.post('/v1/organizations', { name: `Key ${stamp}`, slug })).status()).toBe(201);
    expect((await api.post('/v1/session/switch', { organization: slug })).status()).toBe(200);
    const section = page.getByRole('region', { name: 'Encryption key' });

    // The status cannot be read: said so, with a retry.
    let failing = true;
    await page.route('**/organization/keys', (route) =>
      failing
        ? route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE', message: 'try again shortly' } }),
          })
        : route.fallback(),
    );
    await page.goto(`/o/${slug}/settings`);
    await section.getByRole('alert').filter({ hasText: 'Could not load the encryption key' }).waitFor();
    await expectAccessible(page, 'encryption key: error');
    await screenshots(page, 'org-key', '01-error');
    failing = false;
    await section.getByRole('button', { name: 'Retry' }).click();

    // A new organization has no data key until something is sealed for it.
    await section.getByText('No data key yet').waitFor();
    await expectAccessible(page, 'encryption key: none yet');
    await screenshots(page, 'org-key', '02-empty');

    // A webhook endpoint's secret is the first sealed value: version 1.
    const endpoint = await api.post(`/v1/orgs/${slug}/webhooks/endpoints`, {
      url: 'https://hooks.example.test/in',
      eventTypes: ['member.added'],
    });
    expect(endpoint.status()).toBe(201);
    await page.reload();
    const versions = section.getByRole('table', { name: 'Data key versions' });
    await versions.getByRole('row', { name: '1 active' }).waitFor();

    // Rotating: explained and confirmed; then version 2 is active and version 1 waits for the
    // re-encryption (kept until every instance's key cache has let go of it), shown as in progress.
    await section.getByRole('button', { name: 'Rotate the key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate the encryption key' });
    await dialog.getByText('Nothing stops working meanwhile').waitFor();
    await expectAccessible(page, 'encryption key: rotation confirmation');
    await screenshots(page, 'org-key', '03-confirm');
    await dialog.getByRole('button', { name: 'Rotate the key' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await versions.getByRole('row', { name: '2 active' }).waitFor();
    await versions.getByRole('row', { name: '1 retired' }).waitFor();
    await section.getByRole('status').filter({ hasText: 'Re-encrypting stored values' }).waitFor();
    expect(await section.getByRole('button', { name: 'Rotate the key' }).isDisabled()).toBe(true);
    const keys = (await (await api.get(`/v1/orgs/${slug}/organization/keys`)).json()) as {
      versions: { version: number; state: string }[];
    };
    expect(keys.versions).toEqual([
      { version: 1, state: 'retired' },
      { version: 2, state: 'active' },
    ]);
    await expectAccessible(page, 'encryption key: re-encrypting');
    await screenshots(page, 'org-key', '04-re-encrypting');
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);
});
