import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { maintainUsagePartitions, uniqueValuesKeptFrom } from '../usage/aggregator.js';
import { calendarPeriod, utcDate } from './billing-period.js';
import { createBillingInputs } from './billing-inputs.service.js';
import { createBillingService } from './billing.service.js';

const DAY = 86_400_000;
const run = randomBytes(4).toString('hex');
const MAU = `br.mau.${run}`;
const PLAN = `br-y-${run}`;

/**
 * A yearly plan billed on a unique_count meter (migration 0063: the distinct values over the year's months)
 * while USAGE_RETENTION_DAYS is below a year (the config allows 60): the hourly partition task drops the
 * distinct values of the months that ended before retention began (`app_usage_unique_purge`), so the
 * year's preview and close counted only the months left, silently (no USAGE_NOT_BILLABLE): a user seen
 * only in January was never billed. Now the purge keeps every month from January 1 of the previous year on.
 * Own database: the purge is global.
 */
describe('a yearly unique_count bill and the usage retention', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_bur');
    tenancy = createTenancy({ url: db.url, poolSize: 2 });
    admin = await connect(db.adminUrl);
    workerPool = new pg.Pool({ connectionString: db.workerUrl, max: 2 });
    await admin.query(`insert into meters (key, aggregation, property) values ($1, 'unique_count', 'user')`, [
      MAU,
    ]);
    await admin.query(`insert into plans (key, name, price) values ($1, 'Year', $2)`, [
      PLAN,
      JSON.stringify({
        currency: 'USD',
        interval: 'year',
        components: [{ model: 'per_unit', meter: MAU, unitAmount: 10 }],
      }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it('the year counts every month’s distinct values, whatever USAGE_RETENTION_DAYS is', async () => {
    const now = new Date();
    const year = calendarPeriod('year', utcDate(now));
    const month = calendarPeriod('month', utcDate(now));
    // Meaningful once the year's first month ended more than 60 days ago (March on); the cut-off rule itself
    // is checked for any date below.
    if (now.getTime() - new Date(`${year.start}T00:00:00Z`).getTime() <= 95 * DAY) return;
    const org = (await createBareOrganization(tenancy.withTenant, { slug: `bur-${run}`, name: 'bur' })).id;
    await admin.query(
      `update organizations set plan = $2, created_at = now() - interval '800 days' where id = $1`,
      [org, PLAN],
    );
    // As the aggregator stored them: January's users and this month's (one in both).
    const stored = (day: string, names: string[]) =>
      admin.query(
        `insert into usage_unique_values (organization_id, meter, month, value_digest)
          select $1, $2, $3::date, sha256(convert_to(x, 'UTF8')) from unnest($4::text[]) x`,
        [org, MAU, day, names],
      );
    await stored(year.start, ['ann', 'bob']);
    await stored(month.start, ['bob', 'cy']);
    const billing = createBillingService({
      withTenant: tenancy.withTenant,
      inputs: createBillingInputs({ withTenant: tenancy.withTenant }),
      issuer: 'billing-unique-retention.test',
      now: () => now,
    });
    const before = await billing.preview(systemCtx(org, 'test'));
    expect(before.total).toBe(30); // ann, bob, cy

    // The hourly task with the lowest retention the configuration accepts.
    await maintainUsagePartitions(workerPool, { latenessMs: 7 * DAY, aheadDays: 7, retentionDays: 60 });
    const after = await billing.preview(systemCtx(org, 'test'));
    expect(after.total).toBe(30);
  }, 60_000);

  it('the cut-off keeps every month from January 1 of the previous year, and follows retention before that', () => {
    const at = (iso: string) => new Date(iso).getTime();
    expect(uniqueValuesKeptFrom(at('2026-12-06T12:00:00Z'), 60)).toBe('2025-01-01');
    expect(uniqueValuesKeptFrom(at('2026-03-15T00:00:00Z'), 60)).toBe('2025-01-01');
    expect(uniqueValuesKeptFrom(at('2026-12-06T12:00:00Z'), 1000)).toBe('2024-03-01');
    expect(uniqueValuesKeptFrom(at('2027-01-01T00:00:00Z'), 400)).toBe('2025-11-01');
  });
});
