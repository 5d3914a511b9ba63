import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDb } from '../../../test/support/tenancy.js';

/**
 * The SSO lookups (migration 0055) answer only outside a tenant scope, and the worker's domain scan only
 * to the worker role. (What they answer is exercised end to end in test/e2e/sso-oidc.test.ts.)
 */
describe('SSO privileged lookups', () => {
  let app: pg.Client;
  beforeAll(async () => {
    app = new pg.Client({ connectionString: testDb().url });
    await app.connect();
  });
  afterAll(async () => {
    await app?.end();
  });

  const inTenant = async (query: string, params: unknown[]) => {
    await app.query('begin');
    try {
      await app.query(`select set_config('app.tenant_id', $1, true)`, [randomUUID()]);
      return await app.query(query, params);
    } finally {
      await app.query('rollback');
    }
  };

  it.each([
    ['select * from app_priv_sso_connection_for_sign_in($1::uuid)', [randomUUID()]],
    ['select * from app_priv_sso_discover($1, null)', ['example.test']],
    ['select * from app_priv_sso_required_for($1::uuid, $2)', [randomUUID(), 'example.test']],
  ])('%s is refused inside a tenant scope, answers nothing for unknown keys outside', async (q, params) => {
    await expect(inTenant(q, params)).rejects.toMatchObject({ code: '42501' });
    expect((await app.query(q, params)).rows).toEqual([]);
  });

  it('the verified domain scan is the worker role’s only', async () => {
    await expect(
      app.query('select * from worker_api.app_priv_sso_domain_organizations(null, 10)'),
    ).rejects.toThrow();
  });
});
