import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  inOrg,
  signUp,
  startApp,
  stopApp,
  tenantDatabasesOption,
  uniqueSlug,
  type E2eApp,
  type User,
} from './helpers.js';

/**
 * Quota notices of an organization in a region's tenant database (`database` placement): its plan is the
 * control database's (`organizations.plan` and `plans` are directory and global tables), whatever its
 * row's copy in the tenant database says. Here the copy's plan is `enterprise` (no quotas: the plan it
 * was placed with, say; the copy is never kept in step) while the organization is on a paid plan with a
 * low soft quota in the control database: the composition's aggregator of the tenant database must still
 * pick it for the notice check, by the control database's plan.
 */
describe('e2e: quota notices of a tenant database organization', () => {
  let c: E2eApp;
  let eu: ProvisionedDatabase;
  let control: pg.Client;
  let euAdmin: pg.Client;
  let owner: User;
  const run = randomUUID().slice(0, 8);
  const meter = `rqn.calls.${run}`;
  const plan = `rqn-${run}`;

  beforeAll(async () => {
    eu = await provisionDatabase(testDb().superuserUrl, 'sr_quota_eu', { tenantDatabase: true });
    c = await startApp({
      usage: { aggregateEveryMs: 300 },
      tenantDatabases: tenantDatabasesOption(
        { 'eu-1': { url: eu.url, workerUrl: eu.workerUrl } },
        { regions: { eu: 'eu-1' }, defaultRegion: 'eu', maxConnections: 6, poolSize: 3 },
      ),
    });
    control = await connect(testDb().adminUrl);
    euAdmin = await connect(eu.adminUrl);
    await control.query(`insert into meters (key, aggregation) values ($1, 'count')`, [meter]);
    await control.query(
      `insert into plans (key, name, price, quotas) values ($1, 'Paid, low quota', $2, $3)`,
      [
        plan,
        JSON.stringify({ currency: 'USD', interval: 'month', components: [{ model: 'flat', amount: 1000 }] }),
        JSON.stringify([{ meter, period: 'day', limit: 2, enforcement: 'soft' }]),
      ],
    );
    owner = await signUp(c, 'region-quota');
  }, 60_000);
  afterAll(async () => {
    await control?.end();
    await euAdmin?.end();
    if (c) await stopApp(c);
    if (eu) await dropProvisioned(eu);
  });

  it(
    'a paid plan’s low quota reached in the tenant database mails the owners, by the control database’s plan',
    { timeout: 60_000 },
    async () => {
      const created = await owner.browser.post('/v1/organizations', {
        slug: uniqueSlug('quota'),
        name: 'Quota',
        region: 'eu',
      });
      expect(created.statusCode, created.body).toBe(201);
      const org = created.json<{ id: string }>().id;
      await control.query('update organizations set plan = $2 where id = $1', [org, plan]);
      await euAdmin.query(`update organizations set plan = 'enterprise' where id = $1`, [org]);
      const now = new Date().toISOString();
      const sent = await owner.browser.post(
        '/v1/usage/events',
        { events: [0, 1].map((i) => ({ id: `rqn-${i}`, meter, timestamp: now })) },
        inOrg(org),
      );
      expect(sent.statusCode, sent.body).toBe(200);
      // The tenant database's aggregator (every 300 ms here) lists the organization, the notice run checks it
      // (within a second or so; longer while another file's transaction holds the cluster's xmin back).
      await expect
        .poll(
          async () =>
            (
              await euAdmin.query<{ threshold: number }>(
                'select threshold from quota_notices where organization_id = $1 and meter = $2 order by threshold',
                [org, meter],
              )
            ).rows.map((r) => r.threshold),
          { timeout: 40_000, interval: 300 },
        )
        .toEqual([80, 100]);
      // The notice is the tenant database's row (its owners' mails queued in the same transaction), none
      // in the control database's placed tables.
      const there = await control.query('select 1 from quota_notices where organization_id = $1', [org]);
      expect(there.rowCount).toBe(0);
    },
  );
});
