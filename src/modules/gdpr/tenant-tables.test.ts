import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import {
  EXPORTED_SECRET_LIKE_COLUMNS,
  REDACTED_COLUMNS,
  REDACTED_VALUE,
  redactRow,
  SECRET_LIKE_COLUMN,
  tenantTables,
} from './tenant-tables.js';

/** The columns whose names look like a secret and that neither catalog names. */
const unlisted = (columns: readonly string[]): string[] =>
  columns.filter(
    (c) =>
      SECRET_LIKE_COLUMN.test(c.split('.').pop()!) &&
      !Object.hasOwn(REDACTED_COLUMNS, c) &&
      !Object.hasOwn(EXPORTED_SECRET_LIKE_COLUMNS, c),
  );

/**
 * Guard: every column of every table an organization export reads whose name looks like a credential, a
 * digest or key material is either redacted in the archive or explicitly allowed with a reason. A new
 * migration adding, say, `sso_connections.client_secret` fails here until it is classified.
 */
describe('organization export: secret-looking columns', () => {
  let tenancy: Tenancy;
  let admin: pg.Client;
  let orgId: string;
  let columns: string[];

  beforeAll(async () => {
    tenancy = createTestTenancy(1);
    admin = await connect(testDb().adminUrl);
    orgId = await createTestOrg(tenancy, 'redact');
    const tables = await tenancy.withTenant(orgId, (db) => tenantTables(db), { mode: 'read' });
    const res = await admin.query<{ col: string }>(
      `select n.nspname || '.' || c.relname || '.' || a.attname as col
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where (n.nspname || '.' || c.relname) = any($1::text[]) order by 1`,
      [tables.map((t) => `${t.schema}.${t.table}`)],
    );
    columns = res.rows.map((r) => r.col);
  });
  afterAll(async () => {
    await admin.end();
    await tenancy.close();
  });

  it('every secret-looking column is redacted or explicitly exported', () => {
    expect(columns).toContain('public.api_keys.secret_hash');
    expect(unlisted(columns)).toEqual([]);
    // The guard catches a column added later.
    expect(unlisted([...columns, 'public.sso_connections.client_secret', 'public.x.refresh_token'])).toEqual([
      'public.sso_connections.client_secret',
      'public.x.refresh_token',
    ]);
  });

  it('names only columns that exist (no stale entry hides a renamed one)', () => {
    const known = new Set(columns);
    const stale = [...Object.keys(REDACTED_COLUMNS), ...Object.keys(EXPORTED_SECRET_LIKE_COLUMNS)].filter(
      (c) => !known.has(c),
    );
    expect(stale).toEqual([]);
  });

  it('the credentials of api_keys, invitations and webhook endpoints are redacted', async () => {
    const tables = await tenancy.withTenant(orgId, (db) => tenantTables(db), { mode: 'read' });
    const of = (name: string) => tables.find((t) => t.table === name)!.redacted;
    expect(of('api_keys')).toEqual(['secret_hash']);
    expect(of('invitations')).toEqual(['token_hash']);
    expect(of('webhook_endpoints')).toContain('secret');
    const t = tables.find((x) => x.table === 'api_keys')!;
    expect(redactRow(t, { id: 'k', secret_hash: '\\x00ff', name: 'n' })).toEqual({
      id: 'k',
      secret_hash: REDACTED_VALUE,
      name: 'n',
    });
  });
});
