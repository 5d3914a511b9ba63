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
  screenshots,
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
  /** A tenant database the server can move organizations into and out of (its owner URL configured),
   *  region `eu`'s; no default region, so organizations are created pooled. */
  let eu: ProvisionedDatabase;
  beforeAll(async () => {
    [own, eu] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_console_moves'),
      provisionDatabase(testDb().superuserUrl, 'sr_console_moves_eu', { tenantDatabase: true }),
    ]);
    c = await startConsoleApp({
      database: {
        url: own.url,
        workerUrl: own.workerUrl,
        keyVaultUrl: own.keyVaultUrl,
        owner: { url: own.migrationUrl, roles: own.roles },
      },
      tenantDatabases: {
        databases: { 'eu-1': { url: eu.url, ownerUrl: eu.migrationUrl, workerUrl: eu.workerUrl } },
        regions: { eu: 'eu-1' },
        maxConnections: 6,
        poolSize: 3,
        idleTimeoutMs: 30_000,
        acquireTimeoutMs: 5_000,
      },
    });
    browser = await sharedChromium();
  });
  afterAll(async () => {
    await stopConsoleApp(c);
    if (own) await dropProvisioned(own);
    if (eu) await dropProvisioned(eu);
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

  it('moves an organization into a tenant database (region eu) chosen in the dialog, its settings then showing the region, and back out to pooled (no region)', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    const member = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen, own.migrationUrl);
    await signUpVerified(member.page, newEmail('db-moved-member'), newPassword(), seen);
    const slug = `dbmover-${stamp}`;
    const name = `DB mover ${stamp}`;
    const memberApi = apiAs(member.page, c);
    expect((await memberApi.post('/v1/organizations', { name, slug })).status()).toBe(201);
    const project = await memberApi.post(`/v1/orgs/${slug}/projects`, { name: 'Kept' });
    expect(project.status()).toBe(201);
    const a = admin.page;

    await a.getByRole('button', { name: /platform-admin-/ }).click();
    await a.getByRole('menuitem', { name: 'Platform administration' }).click();
    await a.getByRole('heading', { name: 'Organizations' }).waitFor();
    await a.getByRole('textbox', { name: 'Search' }).fill(stamp);
    const orgRow = a.getByRole('table', { name: 'Organizations' }).getByRole('row').filter({ hasText: slug });
    const placementCell = orgRow.getByRole('cell').nth(2);
    await placementCell.getByText('Pooled', { exact: true }).waitFor();

    await a.getByRole('button', { name: `Placement of ${name}` }).click();
    const dialog = a.getByRole('dialog', { name: 'Organization placement' });
    const target = dialog.getByRole('radio', { name: 'the tenant database eu-1 (region eu)' });
    await target.waitFor();
    expect(await dialog.getByRole('radio', { name: 'its own schema' }).isChecked()).toBe(true);
    await target.check();
    await dialog.getByText('Move it to the tenant database eu-1 (region eu)?').waitFor();
    await expectAccessible(a, 'placement move to a tenant database');
    await screenshots(a, 'placement-moves', '01-move-to-database');
    await dialog.getByRole('button', { name: 'Move to database eu-1' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const row = a
      .getByRole('table', { name: 'Placement moves' })
      .getByRole('row')
      .filter({ hasText: 'pooled → database eu-1' });
    await row.getByText('done', { exact: true }).waitFor({ timeout: 30_000 });
    await placementCell.getByText('Own database', { exact: true }).waitFor();
    await placementCell.getByText('eu-1', { exact: true }).waitFor();
    await expectAccessible(a, 'placement moves, into a tenant database');
    // The member's organization works as before, from eu's database, and its settings show the region.
    const projects = await memberApi.get(`/v1/orgs/${slug}/projects`);
    expect(((await projects.json()) as { data: { name: string }[] }).data.map((p) => p.name)).toEqual([
      'Kept',
    ]);
    const m = member.page;
    await m.goto(`/o/${slug}/settings`);
    await m.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const region = m.getByRole('textbox', { name: 'Region' });
    await region.waitFor();
    expect(await region.inputValue()).toBe('eu');

    // And out of it again: the dialog offers pooled and its own schema (not the database it is in, the
    // only one configured), pooled chosen first.
    await a.getByRole('button', { name: `Placement of ${name}` }).click();
    await dialog.getByText('is placed in its own database (eu-1, region eu)').waitFor();
    await dialog.getByText('No other tenant database to move into is configured on this server').waitFor();
    expect(await dialog.getByRole('radio').count()).toBe(2);
    expect(await dialog.getByRole('radio', { name: 'pooled (the shared schema)' }).isChecked()).toBe(true);
    await dialog.getByRole('radio', { name: 'its own schema' }).waitFor();
    await dialog.getByText('Its data leaves the tenant database eu-1 for the main database').waitFor();
    await expectAccessible(a, 'placement move out of a tenant database');
    await screenshots(a, 'placement-moves', '02-move-out-of-database');
    await dialog.getByRole('button', { name: 'Move to pooled' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const out = a
      .getByRole('table', { name: 'Placement moves' })
      .getByRole('row')
      .filter({ hasText: 'database eu-1 → pooled' });
    await out.getByText('done', { exact: true }).waitFor({ timeout: 30_000 });
    await placementCell.getByText('Pooled', { exact: true }).waitFor();
    expect(await placementCell.getByText('eu-1', { exact: true }).count()).toBe(0);
    await expectAccessible(a, 'placement moves, out of a tenant database');

    // Its data came back; its settings no longer show eu: no region, the main database.
    const after = await memberApi.get(`/v1/orgs/${slug}/projects`);
    expect(((await after.json()) as { data: { name: string }[] }).data.map((p) => p.name)).toEqual(['Kept']);
    await m.reload();
    await m.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    await region.waitFor();
    await expect.poll(() => region.inputValue()).toBe('Main database');
  }, 90_000);
});
