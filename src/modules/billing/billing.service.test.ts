import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  connect,
  createTestOrg,
  createTestTenancy,
  defaultTestSetter,
  testDb,
} from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { auditEvents } from '../../../test/support/audit.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { finalizeInvoice } from '../../platform/tenancy/privileged.js';
import { uuidv7 } from '../../platform/ids.js';
import type { PlanPrice } from './price-model.js';
import type { BillingInputs, PeriodData } from './billing-inputs.js';
import { calendarPeriod } from './billing-period.js';
import { createBillingService } from './billing.service.js';
import { createInvoicesService } from './invoices.service.js';
import * as repo from './invoices.repository.js';
import type { InvoiceLine } from './pricing/price-invoice.js';
import { notOnCitus } from '../../../test/support/citus.js';

/** The billing service on the real database, with in-memory plan and usage inputs (fixtures). */

const starter: PlanPrice = {
  currency: 'EUR',
  interval: 'month',
  components: [
    { model: 'flat', amount: 3100 },
    { model: 'per_unit', meter: 'api_calls', unitAmount: 1 },
  ],
};
const pro: PlanPrice = {
  currency: 'EUR',
  interval: 'month',
  components: [
    { model: 'flat', amount: 6200 },
    { model: 'per_seat', unitAmount: 500 },
    {
      model: 'graduated',
      meter: 'api_calls',
      tiers: [
        { upTo: 1000, unitAmount: 2 },
        { upTo: null, unitAmount: 1 },
      ],
    },
  ],
};

/** January 2026: starter for 10 days, then pro; 3 seats, 1,500 API calls. */
const fixtures: BillingInputs = {
  async periodContaining(_ctx, day) {
    return calendarPeriod('month', day);
  },
  async periodData(_ctx, period): Promise<PeriodData> {
    return {
      segments: [
        { planKey: 'starter', price: starter, fromDay: 0, toDay: 10 },
        { planKey: 'pro', price: pro, fromDay: 10, toDay: period.days },
      ],
      seats: 3,
      usage: { api_calls: 1500 },
    };
  },
};
// Starter 3100 × 10/31 = 1000; pro 6200 × 21/31 = 4200; seats 3 × 500 × 21/31 = 1016.13 → 1016;
// usage at pro: 1000 × 2 + 500 × 1 = 2500. Total 8716.
const JANUARY_TOTAL = 8716;

describe('billing service (database, fixture inputs)', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let owner: pg.Client;
  let orgA: string;
  let orgB: string;
  let ctxA: TenantCtx;
  const today = new Date('2026-02-20T12:00:00Z');

  beforeAll(async () => {
    tenancy = createTestTenancy(6);
    owner = await connect(db.adminUrl);
    orgA = await createTestOrg(tenancy, 'bill-a');
    orgB = await createTestOrg(tenancy, 'bill-b');
    ctxA = { tenantId: orgA, actor: { kind: 'system', name: 'billing-test' }, requestId: 'r-bill' };
  });
  afterAll(async () => {
    await owner.end();
    await tenancy.close();
  });

  const billing = () =>
    createBillingService({
      withTenant: tenancy.withTenant,
      inputs: fixtures,
      issuer: 'test',
      now: () => today,
    });

  it('preview: the current period line by line, with the proration of the change', async () => {
    const p = await billing().preview(ctxA);
    expect(p).toMatchObject({ periodStart: '2026-02-01', periodEnd: '2026-03-01', currency: 'EUR' });
    // February (28 days): 3100 × 10/28 = 1107.14 → 1107; 6200 × 18/28 = 3985.71 → 3986;
    // 1500 × 18/28 = 964.29 → 964; usage 2500.
    expect(p.lines.map((l) => [l.planKey, l.component, l.amount])).toEqual([
      ['starter', 'flat', 1107],
      ['pro', 'flat', 3986],
      ['pro', 'per_seat', 964],
      ['pro', 'graduated', 2000],
      ['pro', 'graduated', 500],
    ]);
    expect(p.total).toBe(8557);
  });

  it('closePeriod: a finalized, numbered invoice, once per period (also when closed concurrently), audited', async () => {
    const period = { start: '2026-01-01', end: '2026-02-01' };
    const results = await Promise.all([1, 2, 3, 4].map(() => billing().closePeriod(ctxA, period)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const ids = new Set(results.map((r) => r.invoice.id));
    expect(ids.size).toBe(1);
    const { invoice } = results[0]!;
    expect(invoice).toMatchObject({
      status: 'finalized',
      currency: 'EUR',
      periodStart: '2026-01-01',
      periodEnd: '2026-02-01',
      subtotal: JANUARY_TOTAL,
      total: JANUARY_TOTAL,
    });
    expect(invoice.number).toMatch(/^INV-\d{6,}$/);
    expect(invoice.lines.reduce((a, l) => a + l.amount, 0)).toBe(JANUARY_TOTAL);
    const again = await billing().closePeriod(ctxA, period);
    expect(again).toEqual({ invoice, created: false });
    const events = await auditEvents(tenancy.withTenant, orgA, 'invoice.finalized');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      target: { type: 'invoice', id: invoice.id },
      metadata: { number: invoice.number, total: JANUARY_TOTAL },
    });
    // Read back through the invoices service: listed, and another tenant sees nothing of it.
    const invoices = createInvoicesService({ withTenant: tenancy.withTenant });
    expect((await invoices.list(ctxA)).data.map((i) => i.id)).toEqual([invoice.id]);
    const ctxB = { ...ctxA, tenantId: orgB };
    expect((await invoices.list(ctxB)).data).toEqual([]);
    await expect(invoices.get(ctxB, invoice.id)).rejects.toMatchObject({ code: 'INVOICE_NOT_FOUND' });
    await expect(invoices.get(ctxA, 'not-a-uuid')).rejects.toMatchObject({ code: 'INVOICE_NOT_FOUND' });
  });

  it('closePeriod refuses a period that has not ended, a malformed one, and one that is not a billing period', async () => {
    await expect(
      billing().closePeriod(ctxA, { start: '2026-01-05', end: '2026-02-05' }),
    ).rejects.toMatchObject({
      code: 'INVALID_PERIOD',
      status: 400,
    });
    await expect(
      billing().closePeriod(ctxA, { start: '2026-02-01', end: '2026-03-01' }),
    ).rejects.toMatchObject({
      code: 'PERIOD_NOT_CLOSED',
      status: 409,
    });
    await expect(
      billing().closePeriod(ctxA, { start: '2026-02-01', end: '2026-01-01' }),
    ).rejects.toMatchObject({
      code: 'INVALID_PERIOD',
    });
  });

  it('finalized invoices are immutable for every role; only voiding is allowed', async (ctx) => {
    await notOnCitus(
      ctx,
      "the invoice guard trigger exists on plain PostgreSQL only (on Citus, the runtime role's privileges guard invoices: docs/citus.md)",
    );
    const { invoice } = await billing().closePeriod(
      { ...ctxA, tenantId: orgB },
      { start: '2025-10-01', end: '2025-11-01' },
    );
    const app = await connect(db.url);
    try {
      await app.query('begin');
      await app.query(`select set_config('app.tenant_id', $1, true)`, [orgB]);
      await expect(app.query('update invoices set total = 1 where id = $1', [invoice.id])).rejects.toThrow(
        /permission denied/,
      );
      await app.query('rollback');
      await app.query('begin');
      await app.query(`select set_config('app.tenant_id', $1, true)`, [orgB]);
      await expect(app.query('delete from invoices where id = $1', [invoice.id])).rejects.toThrow(
        /permission denied/,
      );
      await app.query('rollback');
    } finally {
      await app.end();
    }
    // The superuser too: the trigger refuses any change of a finalized invoice.
    for (const change of [
      'total = total + 1',
      `lines = '[]'`,
      `number = 'INV-999999'`,
      `status = 'draft', number = null, finalized_at = null`,
      `customer_name = 'Renamed'`,
      `issuer = 'elsewhere.test'`,
      'minor_units = 0',
    ]) {
      await expect(owner.query(`update invoices set ${change} where id = $1`, [invoice.id])).rejects.toThrow(
        /immutable/,
      );
    }
    // Nor deleted, directly or by the cascade of its organization's deletion (which therefore fails).
    await expect(owner.query('delete from invoices where id = $1', [invoice.id])).rejects.toThrow(
      /cannot be deleted/,
    );
    await expect(owner.query('delete from organizations where id = $1', [orgB])).rejects.toThrow(
      /cannot be deleted/,
    );
    expect((await owner.query('select 1 from organizations where id = $1', [orgB])).rowCount).toBe(1);
    // A draft is finalized only by the function, not by an update.
    const draft = uuidv7();
    await owner.query(
      `insert into invoices (organization_id, id, currency, period_start, period_end, subtotal, total, lines)
       values ($1, $2, 'EUR', '2001-05-01', '2001-06-01', 0, 0, '[]')`,
      [orgB, draft],
    );
    await expect(
      owner.query(
        `update invoices set status = 'finalized', number = 'INV-888888', finalized_at = now() where id = $1`,
        [draft],
      ),
    ).rejects.toThrow(/immutable/);
    // A draft may be deleted (drafts never outlive the closing transaction).
    expect((await owner.query('delete from invoices where id = $1', [draft])).rowCount).toBe(1);
    // Voiding (status and voided_at only) is the one change allowed; a void invoice changes no more.
    await owner.query(`update invoices set status = 'void', voided_at = now() where id = $1`, [invoice.id]);
    await expect(
      owner.query(`update invoices set status = 'finalized', voided_at = null where id = $1`, [invoice.id]),
    ).rejects.toThrow(/immutable/);
    await expect(owner.query('delete from invoices where id = $1', [invoice.id])).rejects.toThrow(
      /void and cannot be deleted/,
    );
    // A voided period may be closed again: a new invoice with a new number.
    const reissued = await billing().closePeriod(
      { ...ctxA, tenantId: orgB },
      { start: '2025-10-01', end: '2025-11-01' },
    );
    expect(reissued.created).toBe(true);
    expect(reissued.invoice.number).not.toBe(invoice.number);
  });
  it('stores the customer, the issuer and ISO 4217 minor digits at finalization; renaming changes nothing', async () => {
    const org = await createTestOrg(tenancy, 'snap');
    const ctx = { ...ctxA, tenantId: org };
    const { invoice } = await billing().closePeriod(ctx, { start: '2026-01-01', end: '2026-02-01' });
    expect(invoice).toMatchObject({ customerName: 'snap test org', issuer: 'test', minorUnits: 2 });
    await owner.query(`update organizations set name = 'Renamed' where id = $1`, [org]);
    const invoices = createInvoicesService({ withTenant: tenancy.withTenant });
    expect(await invoices.get(ctx, invoice.id)).toEqual(invoice);
  });
});

/**
 * A database of its own: the check reads every invoice number and the counter of its database, which
 * other files finalize from (and whose organizations they delete with their invoices) while it runs.
 */
describe('billing: gapless invoice numbers (a database of its own)', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let owner: pg.Client;

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_invoice_numbers');
    tenancy = createTenancy({ url: own.url, poolSize: 6, setter: defaultTestSetter() });
    owner = await connect(own.adminUrl);
  });
  afterAll(async () => {
    await owner?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('gapless numbers: concurrent finalizations and one rollback leave 1..N with no hole', async () => {
    const orgs = await Promise.all([1, 2, 3, 4, 5].map((i) => createTestOrg(tenancy, `gap-${i}`)));
    const line = {
      description: 'x',
      planKey: 'p',
      component: 'flat' as const,
      quantity: 1,
      amount: 7,
      periodStart: '2025-11-01',
      periodEnd: '2025-12-01',
    };
    /** Inserts a draft of 7 and finalizes it; `rollback` throws after the number was taken. */
    const finalize = (org: string, opts: { lines: unknown[]; rollback?: boolean; total?: number }) =>
      tenancy
        .withTenant(org, async (tdb) => {
          const id = uuidv7();
          await repo.insertDraft(tdb, {
            organization_id: org,
            id,
            currency: 'EUR',
            period_start: '2025-11-01',
            period_end: '2025-12-01',
            subtotal: opts.total ?? 7,
            total: opts.total ?? 7,
            lines: opts.lines as InvoiceLine[],
            minor_units: 2,
            customer_name: 'gap test',
            issuer: 'test',
          });
          const { number } = await finalizeInvoice(tdb, org, id);
          await new Promise((r) => setTimeout(r, 20)); // hold the counter while the others wait
          if (opts.rollback) throw new Error(`rolled back ${number}`);
          return number;
        })
        .catch((err: Error) => err);
    // A draft whose lines do not add up to its total is refused (and rolled back with its transaction).
    const badly = await finalize(orgs[0]!, { lines: [] });
    expect(badly).toBeInstanceOf(Error);
    expect((badly as Error).message).toMatch(/lines sum to 0/);
    // Lines that are not what the pricing engine writes are refused before a number is taken.
    const malformed: [unknown[], number][] = [
      [[{ amount: 0.5 }, { amount: 0.5 }], 1],
      [[{ amount: -100 }, { amount: 107 }], 7],
      [[1, 'x', null, [5], { amount: 7 }], 7],
      [[{ amount: '0.07e2' }], 7],
      [[{ description: 'hi' }, { amount: 7 }], 7],
      // Every key present, the amount wrong:
      [
        [
          { ...line, amount: 0.5 },
          { ...line, amount: 0.5 },
        ],
        1,
      ],
      [
        [
          { ...line, amount: -100 },
          { ...line, amount: 107 },
        ],
        7,
      ],
      [[{ ...line, amount: '7' }], 7],
      [[{ ...line, amount: null }, { ...line }], 7],
      [[{ ...line, amount: 2 ** 53 }], 7],
      [[{ ...line, quantity: 1.5 }], 7],
      [[{ ...line, description: 5 }], 7],
    ];
    for (const [lines, total] of malformed) {
      const refused = await finalize(orgs[0]!, { lines, total });
      expect(refused, JSON.stringify(lines)).toBeInstanceOf(Error);
      expect((refused as Error).message, JSON.stringify(lines)).toMatch(/malformed|not an integer/);
    }
    const tooMany = await finalize(orgs[0]!, { lines: Array(1001).fill({ ...line, amount: 0 }), total: 0 });
    expect((tooMany as Error).message).toMatch(/1001 lines, more than 1000/);
    const outcomes = await Promise.all(orgs.map((o, i) => finalize(o, { lines: [line], rollback: i === 2 })));
    const numbers = outcomes.filter((o): o is string => typeof o === 'string');
    expect(numbers).toHaveLength(4);
    expect(new Set(numbers).size).toBe(4);
    expect(outcomes[2]).toBeInstanceOf(Error);
    // The rolled-back number went to a finalization that waited for it, unless none came after it.
    const returned = /rolled back (INV-\d+)/.exec((outcomes[2] as Error).message)![1]!;
    expect(numbers.includes(returned) || numbers.every((n) => n < returned)).toBe(true);
    // The whole database: the numbers of every finalized or void invoice are exactly 1..counter, read in
    // one snapshot.
    const all = await owner.query<{ numbers: string[]; last: string }>(
      `select array(select number from invoices where number is not null order by number) as numbers,
              (select last_value from invoice_number_counter)::text as last`,
    );
    const { numbers: every, last } = all.rows[0]!;
    expect(every.map((n) => Number(n.slice(4)))).toEqual(
      Array.from({ length: Number(last) }, (_, i) => i + 1),
    );
  });
});
