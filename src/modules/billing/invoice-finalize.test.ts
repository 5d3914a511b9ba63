import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { finalizeInvoice } from '../../platform/tenancy/privileged.js';
import { uuidv7 } from '../../platform/ids.js';
import * as repo from './invoices.repository.js';

/** app_invoice_finalize (migration 0019) on the real database: the time it records and its settings. */

describe('invoice finalization (database)', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let owner: pg.Client;

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    owner = await connect(db.adminUrl);
  });
  afterAll(async () => {
    await owner.end();
    await tenancy.close();
  });

  it('number order is finalization order, across interleaved transactions (clock time, not transaction start)', async () => {
    const [x, y] = await Promise.all([createTestOrg(tenancy, 'clk-x'), createTestOrg(tenancy, 'clk-y')]);
    const line = {
      description: 'x',
      planKey: 'p',
      component: 'flat' as const,
      quantity: 1,
      amount: 7,
      periodStart: '2025-09-01',
      periodEnd: '2025-10-01',
    };
    const draft = (org: string) => ({
      organization_id: org,
      id: uuidv7(),
      currency: 'EUR',
      period_start: '2025-09-01',
      period_end: '2025-10-01',
      subtotal: 7,
      total: 7,
      lines: [line],
      minor_units: 2,
      customer_name: 'clock test',
      issuer: 'test',
    });
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => (started = r));
    let secondDone!: () => void;
    const secondCommitted = new Promise<void>((r) => (secondDone = r));
    // The first transaction starts, then waits for a second one, started later, to finalize and commit.
    const first = tenancy.withTenant(x, async (tdb) => {
      const d = draft(x);
      await repo.insertDraft(tdb, d);
      started();
      await secondCommitted;
      return finalizeInvoice(tdb, x, d.id);
    });
    await firstStarted;
    await new Promise((r) => setTimeout(r, 20));
    const second = await tenancy.withTenant(y, async (tdb) => {
      const d = draft(y);
      await repo.insertDraft(tdb, d);
      return finalizeInvoice(tdb, y, d.id);
    });
    secondDone();
    const firstResult = await first;
    expect(firstResult.number > second.number).toBe(true);
    expect(firstResult.finalizedAt.getTime()).toBeGreaterThan(second.finalizedAt.getTime());
  });

  it('app_invoice_finalize waits at most 5 s for the counter; the guard has a fixed search_path', async () => {
    const res = await owner.query<{ proname: string; proconfig: string[] }>(
      `select proname, proconfig from pg_proc
        where proname in ('app_invoice_finalize', 'app_invoice_guard') order by proname`,
    );
    const config = Object.fromEntries(res.rows.map((r) => [r.proname, [...r.proconfig].sort()]));
    expect(config).toEqual({
      app_invoice_finalize: ['lock_timeout=5s', 'search_path=pg_catalog, public'],
      app_invoice_guard: ['search_path=pg_catalog, public'],
    });
  });
});
