import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { InvoiceLine } from './pricing/price-invoice.js';

/** An invoice row as read (dates as `YYYY-MM-DD`, bigint amounts as text). */
export interface InvoiceRow {
  id: string;
  number: string | null;
  status: 'draft' | 'finalized' | 'void';
  currency: string;
  period_start: string;
  period_end: string;
  subtotal: string;
  total: string;
  lines: InvoiceLine[];
  /** The snapshot taken at finalization (null only on a draft, which is never read outside its transaction). */
  minor_units: number | null;
  customer_name: string | null;
  issuer: string | null;
  created_at: Date;
  finalized_at: Date | null;
}

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard. Dates are read as text: pg would turn a `date` into a local Date.

const columns = [
  'id',
  'number',
  'status',
  'currency',
  sql<string>`period_start::text`.as('period_start'),
  sql<string>`period_end::text`.as('period_end'),
  'subtotal',
  'total',
  sql<InvoiceLine[]>`lines`.as('lines'),
  'minor_units',
  'customer_name',
  'issuer',
  'created_at',
  'finalized_at',
] as const;

/**
 * Inserts a draft invoice of the current tenant (finalized by `finalizeInvoice` in the same transaction);
 * its creation time, or undefined when the period already has an invoice that is not void.
 */
export async function insertDraft(
  db: TenantDb,
  row: {
    organization_id: string;
    id: string;
    currency: string;
    period_start: string;
    period_end: string;
    subtotal: number;
    total: number;
    lines: InvoiceLine[];
    minor_units: number;
    customer_name: string;
    issuer: string;
  },
): Promise<Date | undefined> {
  const res = await db
    .insertInto('invoices')
    .values({ ...row, lines: JSON.stringify(row.lines) })
    .onConflict((oc) =>
      oc
        .columns(['organization_id', 'period_start', 'period_end'])
        .where('status', '<>', sql.lit('void'))
        .doNothing(),
    )
    .returning('created_at')
    .executeTakeFirst();
  return res?.created_at;
}

/** The organization's name now (snapshot on the invoice at finalization), or undefined. */
export async function organizationName(db: TenantDb, tenantId: string): Promise<string | undefined> {
  const org = await db
    .selectFrom('organizations')
    .select('name')
    .where('id', '=', tenantId)
    .executeTakeFirst();
  return org?.name;
}

/** One invoice by id, or undefined. */
export function findInvoice(db: TenantDb, tenantId: string, id: string): Promise<InvoiceRow | undefined> {
  return db
    .selectFrom('invoices')
    .select(columns)
    .where('organization_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The invoice of a period that is not void, or undefined. */
export function findInvoiceOfPeriod(
  db: TenantDb,
  tenantId: string,
  period: { start: string; end: string },
): Promise<InvoiceRow | undefined> {
  return db
    .selectFrom('invoices')
    .select(columns)
    .where('organization_id', '=', tenantId)
    .where('period_start', '=', period.start)
    .where('period_end', '=', period.end)
    .where('status', '<>', 'void')
    .executeTakeFirst();
}

/** Finalized and void invoices newest first (drafts never outlive their transaction), before `before`. */
export function listInvoices(
  db: TenantDb,
  tenantId: string,
  opts: { before?: string; limit: number },
): Promise<InvoiceRow[]> {
  let q = db
    .selectFrom('invoices')
    .select(columns)
    .where('organization_id', '=', tenantId)
    .where('status', '<>', 'draft');
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}
