import type { SealedColumn } from './contract.js';

/**
 * Every column holding values sealed with `sealForTenant`. An organization's key rotation re-encrypts
 * the values of each one before the old key version is destroyed, so a sealed column missing here would
 * become unreadable after a rotation: append yours (module load time, before the worker starts).
 *
 * Each table must be a tenant table (`organization_id`, forced RLS), its `idColumn` the binding's rowId
 * and the values in `column` text (`t1.<version>.…`, null allowed). The binding's `table` and `column`
 * are these names.
 */
export const sealedColumns: SealedColumn[] = [
  // Webhook endpoints' signing secrets (migration 0025, src/modules/webhooks).
  { table: 'webhook_endpoints', column: 'secret', idColumn: 'id' },
  // The secret a rotation replaced, still signing during the overlap (migration 0033).
  { table: 'webhook_endpoints', column: 'previous_secret', idColumn: 'id' },
];

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Registers a sealed column (idempotent). */
export function registerSealedColumn(column: SealedColumn): void {
  for (const name of [column.table, column.column, column.idColumn]) {
    if (!IDENT.test(name)) throw new Error(`registerSealedColumn: invalid identifier ${name}`);
  }
  if (!sealedColumns.some((c) => c.table === column.table && c.column === column.column)) {
    sealedColumns.push(column);
  }
}

/** Removes a registration (tests that register a throwaway table). */
export function unregisterSealedColumn(table: string, column: string): void {
  const i = sealedColumns.findIndex((c) => c.table === table && c.column === column);
  if (i >= 0) sealedColumns.splice(i, 1);
}
