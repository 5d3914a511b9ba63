import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Logger } from 'pino';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { billingOrganizations } from '../../platform/tenancy/privileged.js';
import { createBillingInputs } from './billing-inputs.service.js';
import { createBillingService } from './billing.service.js';
import {
  createPeriodCloseJobHandler,
  createPeriodCloser,
  MAX_PERIODS_PER_RUN,
  type PeriodCloser,
} from './period-close.js';

/**
 * The period close's walk over an organization's periods (review findings, /tmp/review1): plan histories
 * that mix billing intervals or currencies fail loudly and never skip a period; the deployment's billing
 * start bounds the catch-up; the per-run cap defers periods rather than drop them; suspended and
 * deletion-requested organizations are closed like any other; the worker scan leaves out organizations
 * already invoiced; the job reports failing organizations every run. Each test uses its own organizations
 * and never counts invoices across the deployment.
 */
describe('period close: the walk', () => {
  const run = randomBytes(4).toString('hex');
  const db = testDb();
  let tenancy: Tenancy;
  let admin: pg.Client;
  const M = `wm-${run}`;
  const Y = `wy-${run}`;
  const E = `we-${run}`;
  const price = (currency: string, interval: string) =>
    JSON.stringify({ currency, interval, components: [{ model: 'flat', amount: 1000 }] });
  const BEFORE_ALL = '2000-01-01';

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    admin = await connect(db.adminUrl);
    await admin.query(`insert into plans (key, name, price) values ($1,'m',$2),($3,'y',$4),($5,'e',$6)`, [
      M,
      price('USD', 'month'),
      Y,
      price('USD', 'year'),
      E,
      price('EUR', 'month'),
    ]);
  });
  afterAll(async () => {
    await admin.end();
    await tenancy.close();
  });

  const services = () => {
    const inputs = createBillingInputs({ withTenant: tenancy.withTenant });
    const billing = createBillingService({ withTenant: tenancy.withTenant, inputs, issuer: 'walk.test' });
    return { billing, closer: createPeriodCloser({ withTenant: tenancy.withTenant, inputs, billing }) };
  };
  /** An organization created 2026-07-10 on plan M; with `to`, moved to it at `changedAt` (history row). */
  const setup = async (to?: string, changedAt?: string, createdAt = '2026-07-10T12:00:00Z') => {
    const org = await createTestOrg(tenancy, 'walk');
    await admin.query(`update organizations set created_at = $2, plan = $3 where id = $1`, [
      org,
      createdAt,
      to ?? M,
    ]);
    if (to) {
      await admin.query(
        `insert into organization_plan_changes (organization_id, id, from_plan, to_plan, changed_at, via)
         values ($1, $2, $3, $4, $5, 'platform')`,
        [org, randomUUID(), M, to, changedAt],
      );
    }
    return org;
  };
  const invoices = async (org: string) =>
    (
      await admin.query<{ s: string; e: string }>(
        `select period_start::text s, period_end::text e from invoices where organization_id = $1 order by 1`,
        [org],
      )
    ).rows.map((r) => `${r.s}..${r.e}`);

  it('monthly to yearly mid-month: the monthly periods before are closed, then the mixed one fails, every time', async () => {
    const org = await setup(Y, '2026-09-15T10:00:00Z');
    const { closer } = services();
    const bounds = { cutoff: '2026-11-01', startsOn: BEFORE_ALL };
    await expect(closer.closeOrganization(org, bounds)).rejects.toThrow(/interval/);
    expect(await invoices(org)).toEqual(['2026-07-01..2026-08-01', '2026-08-01..2026-09-01']);
    await expect(closer.closeOrganization(org, { ...bounds, cutoff: '2027-01-01' })).rejects.toThrow();
    expect(await invoices(org)).toEqual(['2026-07-01..2026-08-01', '2026-08-01..2026-09-01']);
  });

  it('a yearly plan from the day after the last invoiced month: refused as an overlap, nothing skipped', async () => {
    const org = await setup(Y, '2026-09-01T00:00:00Z');
    const { closer } = services();
    await expect(
      closer.closeOrganization(org, { cutoff: '2027-01-01', startsOn: BEFORE_ALL }),
    ).rejects.toMatchObject({ code: 'PERIOD_OVERLAPS_INVOICED' });
    expect(await invoices(org)).toEqual(['2026-07-01..2026-08-01', '2026-08-01..2026-09-01']);
  });

  it('USD to EUR mid-month: that month fails, later months wait; the job logs it with the tenant id, every run', async () => {
    const org = await setup(E, '2026-08-15T10:00:00Z');
    const { closer } = services();
    const errors: Record<string, unknown>[] = [];
    const log = {
      info: () => {},
      warn: () => {},
      debug: () => {},
      error: (fields: Record<string, unknown>) => errors.push(fields),
    } as unknown as Logger;
    const job = createPeriodCloseJobHandler({
      organizations: async (_cutoff, after) => (after ? [] : [{ id: org, startsOn: BEFORE_ALL }]),
      aggregatedUpToNow: async () => true,
      closer,
      latenessMs: 0,
      log,
      now: () => new Date('2026-11-01T01:00:00Z'),
    });
    for (let i = 1; i <= 2; i++) {
      await job(undefined, { tenantId: null, attempt: 1, id: 'test' });
      expect(await invoices(org)).toEqual(['2026-07-01..2026-08-01']);
      expect(errors.filter((e) => e.tenant_id === org)).toHaveLength(i);
      expect(errors.filter((e) => (e.failed_tenant_ids as string[] | undefined)?.includes(org))).toHaveLength(
        i,
      );
    }
    expect(String(errors[0]!.err)).toMatch(/currency/);
  });

  it('closes only periods that end after the billing start; older ones are an explicit closePeriod', async () => {
    const org = await setup();
    const { closer, billing } = services();
    expect(await closer.closeOrganization(org, { cutoff: '2026-12-01', startsOn: '2026-10-03' })).toBe(2);
    expect(await invoices(org)).toEqual(['2026-10-01..2026-11-01', '2026-11-01..2026-12-01']);
    // A backfill is deliberate; the scheduled walk goes on after the latest invoiced period.
    await billing.closePeriod(systemCtx(org, 'admin'), { start: '2026-08-01', end: '2026-09-01' });
    expect(await closer.closeOrganization(org, { cutoff: '2026-12-01', startsOn: '2026-10-03' })).toBe(0);
    expect(await invoices(org)).toHaveLength(3);
  });

  it('more periods than one run closes: the next run goes on, none dropped', async () => {
    const org = await setup(undefined, undefined, '2025-09-10T12:00:00Z');
    const { closer } = services();
    const bounds = { cutoff: '2026-11-01', startsOn: BEFORE_ALL };
    expect(await closer.closeOrganization(org, bounds)).toBe(MAX_PERIODS_PER_RUN);
    expect(await closer.closeOrganization(org, bounds)).toBe(14 - MAX_PERIODS_PER_RUN);
    const all = await invoices(org);
    expect(all).toHaveLength(14);
    expect(all[0]).toBe('2025-09-01..2025-10-01');
    expect(all[13]).toBe('2026-10-01..2026-11-01');
  });

  it('suspended and deletion-requested organizations are closed like any other', async () => {
    const suspended = await setup();
    const leaving = await setup();
    await admin.query(
      `update organizations set lifecycle_state = 'suspended', suspension_reason = 'admin',
         suspended_at = now() where id = $1`,
      [suspended],
    );
    await admin.query(
      `update organizations set lifecycle_state = 'pending_deletion', deletion_requested_at = now(),
         deletion_due_at = now() + interval '30 days' where id = $1`,
      [leaving],
    );
    const { closer } = services();
    for (const org of [suspended, leaving]) {
      expect(await closer.closeOrganization(org, { cutoff: '2026-09-01', startsOn: BEFORE_ALL })).toBe(2);
    }
  });

  it('the worker scan leaves out an organization invoiced for the last closable month', async () => {
    const org = await createTestOrg(tenancy, 'walk-scan');
    const workerPool = new pg.Pool({ connectionString: db.workerUrl, max: 1 });
    const scan = async () => {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await billingOrganizations(workerPool, '2100-02-14', after, 1000);
        ids.push(...page.map((o) => o.id));
        if (page.length < 1000) return ids;
        after = page[page.length - 1]!.id;
      }
    };
    const draft = randomUUID();
    try {
      expect(await scan()).toContain(org);
      await admin.query(
        `insert into invoices (organization_id, id, currency, period_start, period_end, subtotal, total, lines)
         values ($1, $2, 'USD', '2100-01-01', '2100-02-01', 0, 0, '[]')`,
        [org, draft],
      );
      expect(await scan()).not.toContain(org);
    } finally {
      await admin.query('delete from invoices where id = $1', [draft]);
      await workerPool.end();
    }
  });

  it('the job closes a few organizations at a time and starts none past its time budget', async () => {
    let active = 0;
    let peak = 0;
    const seen: string[] = [];
    const closer: PeriodCloser = {
      async closeOrganization(id) {
        seen.push(id);
        active += 1;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 20));
        active -= 1;
        return 0;
      },
    };
    const ids = Array.from({ length: 10 }, (_, i) => ({ id: `org-${i}`, startsOn: BEFORE_ALL }));
    const make = (budgetMs: number) =>
      createPeriodCloseJobHandler({
        organizations: async (_c, after) => (after ? [] : ids),
        aggregatedUpToNow: async () => true,
        closer,
        latenessMs: 0,
        log: { info: () => {}, warn: () => {}, error: () => {} } as unknown as Logger,
        budgetMs,
      });
    await make(60_000)(undefined, { tenantId: null, attempt: 1, id: 'test' });
    expect(seen).toHaveLength(10);
    expect(peak).toBe(4);
    seen.length = 0;
    await make(-1)(undefined, { tenantId: null, attempt: 1, id: 'test' });
    expect(seen).toEqual([]);
  });
});
