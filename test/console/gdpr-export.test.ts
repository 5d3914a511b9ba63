import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { unzip } from '../support/unzip.js';
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

describe('console: exports in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('account: "Export my data" from empty to ready, then the download through the signed link', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await signUpVerified(page, newEmail('export-me'), newPassword(), seen);
    await page.goto('/account');
    await page.getByRole('heading', { name: 'Export my data' }).waitFor();
    await page.getByText('No exports yet').waitFor();
    await expectAccessible(page, 'account export (empty)');
    await screenshots(page, 'gdpr-export', '01-account-empty');

    await page.getByRole('button', { name: 'Export my data' }).click();
    const download = page.getByRole('button', { name: /^Download the export of/ });
    await download.waitFor({ timeout: 30_000 });
    await page.getByText('Ready', { exact: true }).waitFor();
    await expectAccessible(page, 'account export (ready)');
    await screenshots(page, 'gdpr-export', '02-account-ready');
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    const files = unzip(await streamToBuffer(await file.createReadStream()));
    expect([...files.keys()]).toContain('manifest.json');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('organization settings: owners export the organization; the section says when one is running', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await signUpVerified(page, newEmail('export-org'), newPassword(), seen);
    const api = apiAs(page, c);
    const slug = `export-${randomBytes(4).toString('hex')}`;
    expect((await api.post('/v1/organizations', { name: `Export ${slug}`, slug })).status()).toBe(201);
    expect((await api.post('/v1/session/switch', { organization: slug })).status()).toBe(200);

    await page.goto(`/o/${slug}/settings`);
    await page.getByRole('heading', { name: 'Export organization data' }).waitFor();
    await page.getByText('No exports yet').waitFor();
    await page.getByRole('button', { name: 'Export organization data' }).click();
    // A second start while the first runs (or right after) is explained, not an error box.
    await page.getByRole('button', { name: 'Export organization data' }).click();
    const download = page.getByRole('button', { name: /^Download the export of/ });
    await download.first().waitFor({ timeout: 30_000 });
    // The second click may have started a second export (when the first was already done): wait until none
    // is queued or running, so the list stops polling and its rows stop changing under the click below
    // (a CI run clicked Download while the second one finished and saw no download start).
    await page.getByText('Running', { exact: true }).first().waitFor({ state: 'detached', timeout: 30_000 });
    await page.getByText('Queued', { exact: true }).first().waitFor({ state: 'detached', timeout: 30_000 });
    await expectAccessible(page, 'organization export (ready)');
    await screenshots(page, 'gdpr-export', '03-organization-ready');
    const [file] = await Promise.all([page.waitForEvent('download'), download.first().click()]);
    const files = unzip(await streamToBuffer(await file.createReadStream()));
    expect([...files.keys()]).toContain('tables/public.projects.jsonl');
    expect(problems).toEqual([]);
    await context.close();
  });
});

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}
