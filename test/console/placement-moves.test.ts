import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUpPlatformAdmin } from './platform-admin-support.js';
import {
  apiAs,
  expectAccessible,
  newContext,
  newEmail,
  newPassword,
  sharedChromium,
  signUpVerified,
  startConsoleApp,
  stopConsoleApp,
  type ConsoleApp,
} from './support.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { testDb } from '../support/tenancy.js';

const seen = new Set<string>();

describe('console: placement moves in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  /** An app on a database of its own: a move to a schema creates the organization's schema and tables
   *  (DDL, with foreign keys to public's tables, which it locks), and a placement schema in the suite's
   *  database is one other files' exact catalog and grant checks of that database see while it is there. */
  let own: ProvisionedDatabase;
  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_console_moves');
    c = await startConsoleApp({
      database: {
        url: own.url,
        workerUrl: own.workerUrl,
        keyVaultUrl: own.keyVaultUrl,
        owner: { url: own.migrationUrl, roles: own.roles },
      },
    });
    browser = await sharedChromium();
  });
  afterAll(async () => {
    await stopConsoleApp(c);
    if (own) await dropProvisioned(own);
  });

  it('moves an organization to its own schema from its row, confirmed, and sees the move reach done', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    const member = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen, own.migrationUrl);
    await signUpVerified(member.page, newEmail('moved-member'), newPassword(), seen);
    const slug = `mover-${stamp}`;
    const name = `Mover ${stamp}`;
    expect((await apiAs(member.page, c).post('/v1/organizations', { name, slug })).status()).toBe(201);
    const a = admin.page;

    await a.getByRole('button', { name: /platform-admin-/ }).click();
    await a.getByRole('menuitem', { name: 'Platform administration' }).click();
    await a.getByRole('heading', { name: 'Organizations' }).waitFor();
    await a.getByRole('textbox', { name: 'Search' }).fill(stamp);
    const orgRow = a.getByRole('table', { name: 'Organizations' }).getByRole('row').filter({ hasText: slug });
    await orgRow.waitFor();
    // The placement column shows the organization's recorded placement.
    const placementCell = orgRow.getByRole('cell').nth(2);
    await placementCell.getByText('Pooled', { exact: true }).waitFor();

    await a.getByRole('button', { name: `Placement of ${name}` }).click();
    const dialog = a.getByRole('dialog', { name: 'Organization placement' });
    await dialog.getByText('is placed in pooled').waitFor();
    await expectAccessible(a, 'placement move confirmation');
    await dialog.getByRole('button', { name: 'Move to its own schema' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const moves = a.getByRole('table', { name: 'Placement moves' });
    const row = moves.getByRole('row').filter({ hasText: name });
    await row.getByText('pooled → schema').waitFor();
    await row.getByText('done', { exact: true }).waitFor({ timeout: 30_000 });
    await expect.poll(() => row.getByText(/\d+ ms/).count()).toBe(1);
    await expectAccessible(a, 'placement moves, one done');

    // Its placement is now its own schema: the column says so (the list reloads when the move ends), and
    // the dialog offers the way back.
    await placementCell.getByText('Own schema', { exact: true }).waitFor();
    await a.getByRole('button', { name: `Placement of ${name}` }).click();
    await dialog.getByText('is placed in its own schema').waitFor();
    // And it goes back.
    await dialog.getByRole('button', { name: 'Move back to pooled' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const back = moves.getByRole('row').filter({ hasText: 'schema → pooled' });
    await back.getByText('done', { exact: true }).waitFor({ timeout: 30_000 });
    await placementCell.getByText('Pooled', { exact: true }).waitFor();
  });
});
