import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { createTenancy, type Tenancy } from './tenancy.js';

const FAKE = '00000000-0000-4000-8000-00000000f00d';

/**
 * A search path without `pg_temp` searches the session's temporary schema FIRST for relations: the
 * placement search paths the definer's functions set (0039) must name it last, as 0017's pinned paths
 * did, or a temporary table of the caller's session stands in for a placed table inside a function that
 * runs as the definer (BYPASSRLS). The runtime and worker roles may create no temporary table today
 * (reachable-schemas.test.ts); any role that may, and may call these functions (the owner role is a
 * member of the definer's), must not be able to feed them rows.
 */
describe('schema placement: the definer functions search pg_temp last', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let placed: string;
  let pooled: string;

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_place_temp');
    tenancy = createTenancy({ url: own.url, poolSize: 2 });
    admin = await connect(own.adminUrl);
    const org = async (slug: string) =>
      (
        await createBareOrganization(tenancy.withTenant, {
          slug: `${slug}-${randomBytes(3).toString('hex')}`,
          name: slug,
        })
      ).id;
    placed = await org('tmp-placed');
    pooled = await org('tmp-pooled');
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, placed);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('the placement search path of a pooled and of a placed organization ends with pg_temp', async () => {
    const res = await admin.query<{ a: string; b: string }>(
      'select app_placement_search_path($1) as a, app_placement_search_path($2) as b',
      [pooled, placed],
    );
    expect(res.rows[0]!.a).toMatch(/, pg_temp$/);
    expect(res.rows[0]!.b).toMatch(/, pg_temp$/);
  });

  it("a temporary table of the caller's session does not stand in for a placed table in a worker scan", async () => {
    const c = await connect(own.migrationUrl);
    try {
      await c.query('create temp table audit_pending (organization_id uuid)');
      await c.query('grant select on pg_temp.audit_pending to public');
      await c.query('insert into pg_temp.audit_pending values ($1)', [FAKE]);
      const res = await c.query<{ organization_id: string }>(
        'select organization_id from worker_api.app_priv_audit_orgs_pending(null, 100)',
      );
      expect(res.rows.map((r) => r.organization_id)).not.toContain(FAKE);
    } finally {
      await c.end();
    }
  });

  it('guard: no function setting its search path sets one ending in public (pg_temp would come first)', async () => {
    const res = await admin.query<{ fn: string }>(
      `select p.oid::regprocedure::text as fn from pg_proc p
         join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema')
          and p.prosrc ~ 'set_config\\(\\s*''search_path''' and p.prosrc ~ ', public'''
        order by 1`,
    );
    expect(res.rows.map((r) => r.fn)).toEqual([]);
  });
});
