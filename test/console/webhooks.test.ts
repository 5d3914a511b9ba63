import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import {
  apiAs,
  expectAccessible,
  launchChromium,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  startConsoleApp,
  stopConsoleApp,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

describe('console: webhooks in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  let server: http.Server;
  let receiverUrl: string;
  let secret = '';
  const received: { id: string; type: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (ch: Buffer) => chunks.push(ch));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          new Webhook(secret).verify(body, req.headers as Record<string, string>);
        } catch {
          res.writeHead(401).end();
          return;
        }
        received.push({
          id: String(req.headers['webhook-id']),
          type: (JSON.parse(body) as { type: string }).type,
        });
        res.writeHead(200).end('thanks');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    // The webhook settings of every test app (test/support/app.ts): loopback allowed, short retries.
    c = await startConsoleApp();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stopConsoleApp(c);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('create (secret once), see deliveries with their status, redeliver, disable, delete', async () => {
    const { context, page } = await newContext(browser, c);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: c.origin });
    await signUpVerified(page, newEmail('hooks'), newPassword(), seen);

    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Webhooks' })
      .click();
    await page.getByText('No webhook endpoints yet').waitFor();
    await expectAccessible(page, 'webhooks (empty)');
    await screenshots(page, 'webhooks', '01-empty');

    await page.getByRole('button', { name: 'New endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'New webhook endpoint' });
    const url = dialog.getByRole('textbox', { name: 'Endpoint URL' });
    await url.fill('http://10.0.0.1/hooks');
    await dialog.getByRole('button', { name: 'Create endpoint' }).click();
    await dialog.getByText('Choose at least one event type').waitFor();
    await dialog.getByRole('combobox', { name: /^Events/ }).click();
    await page.getByRole('option', { name: 'api_key.*', exact: true }).click();
    // Leaving the field closes its list.
    await page.keyboard.press('Tab');
    await page.getByRole('listbox').waitFor({ state: 'hidden' });
    await dialog.getByRole('button', { name: 'Create endpoint' }).click();
    await dialog.getByText(/url is not allowed/).waitFor();
    await expect.poll(() => url.getAttribute('aria-invalid')).toBe('true');
    await expectAccessible(page, 'new endpoint form with a field error');
    await screenshots(page, 'webhooks', '02-form-error');

    await url.fill(receiverUrl);
    await dialog.getByRole('textbox', { name: 'Description' }).fill('CRM sync');
    await dialog.getByRole('button', { name: 'Create endpoint' }).click();
    const secretDialog = page.getByRole('dialog', { name: 'Copy the signing secret' });
    await secretDialog.getByText('This is the only time the secret is shown').waitFor();
    secret = await secretDialog.getByRole('textbox').inputValue();
    expect(secret).toMatch(/^whsec_/);
    seen.add(secret);
    await secretDialog.getByRole('button', { name: 'Copy', exact: true }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await expectAccessible(page, 'the new endpoint’s secret');
    await screenshots(page, 'webhooks', '03-secret');
    await secretDialog.getByRole('button', { name: 'I have copied it' }).click();
    await secretDialog.waitFor({ state: 'hidden' });
    expect(await page.content()).not.toContain(secret);

    const row = page.getByRole('row', { name: /CRM sync/ });
    await row.getByText('enabled').waitFor();
    await row.getByText('api_key.*').waitFor();

    // An event: an API key created through the API.
    const key = await apiAs(page, c).post('/v1/api-keys', { name: 'ci', scopes: ['projects:read'] });
    expect(key.status()).toBe(201);
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(1);
    expect(received[0]!.type).toBe('api_key.created');

    await row.getByRole('button', { name: /^Deliveries of/ }).click();
    const log = page.getByRole('region', { name: /Deliveries to/ });
    await log.getByText('api_key.created').waitFor();
    await log.getByText('succeeded').waitFor();
    await log.getByText(/#1 .*HTTP 200/).waitFor();
    await expectAccessible(page, 'the delivery log');
    await screenshots(page, 'webhooks', '04-deliveries');

    await log.getByRole('button', { name: /^Redeliver api_key.created/ }).click();
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(2);
    expect(received[1]!.id).toBe(received[0]!.id);
    await log.getByText(/#2 \(redelivery\).*HTTP 200/).waitFor({ timeout: 20_000 });

    await row.getByRole('button', { name: /^Disable / }).click();
    await row.getByText('disabled', { exact: true }).waitFor();
    await row.getByRole('button', { name: /^Delete / }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete this webhook endpoint?' });
    await confirm.getByRole('button', { name: 'Delete endpoint' }).click();
    await page.getByText('No webhook endpoints yet').waitFor();
    await context.close();
  }, 120_000);
});
