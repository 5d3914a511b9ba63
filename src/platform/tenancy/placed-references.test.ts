import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { publicPlacedReferences } from '../../../test/support/placed-references.js';
import { connect, testDb } from '../../../test/support/tenancy.js';

/**
 * The guard that nothing names a placed table of `public` past the search path (it would read or write
 * public's table for an organization placed in its own schema) cannot be fooled by how SQL spells a
 * name: case, quotes and spaces around the dot all name the same table. Decoys are created in a
 * transaction rolled back.
 */
describe('guard: public placed-table references', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = await connect(testDb().adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('finds none in the migrated database', async () => {
    expect(await publicPlacedReferences(admin)).toEqual([]);
  });

  const decoys: [string, string][] = [
    [
      'upper',
      `create function zz_decoy_upper() returns bigint language plpgsql as $$
       begin return (select count(*) from PUBLIC.audit_events); end $$`,
    ],
    [
      'quoted',
      `create function zz_decoy_quoted() returns bigint language plpgsql as $$
       begin return (select count(*) from "public"."audit_events"); end $$`,
    ],
    [
      'spaced',
      `create function zz_decoy_spaced() returns bigint language plpgsql as $$
       begin return (select count(*) from public . invoices); end $$`,
    ],
    [
      'newline',
      `create function zz_decoy_newline() returns bigint language plpgsql as $$
       begin return (select count(*) from public.
         usage_events); end $$`,
    ],
    [
      'sql body',
      `create function zz_decoy_sql_body() returns bigint language sql
       begin atomic select count(*) from public.projects; end`,
    ],
    ['view', `create view zz_decoy_view as select organization_id from public.webhook_events`],
  ];
  for (const [name, ddl] of decoys) {
    it(`finds a reference spelled ${name}`, async () => {
      await admin.query('begin');
      try {
        await admin.query(ddl);
        const found = await publicPlacedReferences(admin);
        expect(found.some((w) => w.includes('zz_decoy'))).toBe(true);
      } finally {
        await admin.query('rollback');
      }
    });
  }
});
