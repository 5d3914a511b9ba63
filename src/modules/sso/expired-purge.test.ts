import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import { tenantSchemaName } from '../../platform/tenancy/placed-tables.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { purgeExpiredSignInRows } from './expired-purge.js';
import { testPool } from '../../../test/support/pools.js';

/**
 * The scheduled purge of expired pending sign-in rows (migration 0062): expired rows of every kind go, in
 * a pooled organization and in one placed in its own schema; live rows stay; the SQL function is the
 * worker role's, refused inside a tenant scope, and deletes at most its limit.
 *
 * A database of its own: placing an organization in a schema is DDL (and a placement schema in the suite's
 * database is one other files' exact catalog and grant checks would see), and the purge deletes every
 * expired sign-in row of its database, other files' too.
 */
describe('expired sign-in rows purge', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let platformDb: PlatformDb;
  let pooled: string;
  let placed: string;
  const past = new Date(Date.now() - 60_000);
  const future = new Date(Date.now() + 10 * 60_000);
  const tag = randomBytes(4).toString('hex');

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_sso_purge');
    const db = own;
    tenancy = createTenancy({ url: db.url, poolSize: 2, setter: defaultTestSetter() });
    admin = await connect(db.adminUrl);
    workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    platformDb = createPlatformDb(tenancy.control.pool);
    pooled = await createTestOrg(tenancy, 'purgep');
    placed = await createTestOrg(tenancy, 'purges');
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, placed);
    tenancy.router.invalidate(placed);
  });
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  /** One SAML pending request and one replay entry per expiry, in the organization's own tables. */
  async function samlRows(schema: string, org: string, id: string) {
    for (const [state, expires] of [
      ['old', past],
      ['live', future],
    ] as const) {
      await admin.query(
        `insert into "${schema}".saml_pending_requests
           (organization_id, request_id, connection_id, return_to, expires_at) values ($1, $2, $3, '/', $4)`,
        [org, `_req-${state}-${id}`, randomUUID(), expires],
      );
      await admin.query(
        `insert into "${schema}".saml_assertion_replays (organization_id, assertion_id, connection_id, expires_at)
         values ($1, $2, $3, $4)`,
        [org, `_as-${state}-${id}`, randomUUID(), expires],
      );
    }
  }
  const samlLeft = async (schema: string, org: string) => {
    const r = await admin.query<{ id: string }>(
      `select request_id as id from "${schema}".saml_pending_requests where organization_id = $1
       union all select assertion_id from "${schema}".saml_assertion_replays where organization_id = $1
       order by 1`,
      [org],
    );
    return r.rows.map((x) => x.id);
  };

  /** Global rows: one expired and one live of each table; answers their keys. */
  async function globalRows() {
    const keys: Record<string, Buffer> = {};
    for (const [state, expires] of [
      ['old', past],
      ['live', future],
    ] as const) {
      const k = randomBytes(32);
      keys[`sso-${state}`] = k;
      await admin.query(
        `insert into sso_flows (state_hash, connection_id, nonce, return_to, expires_at)
         values ($1, $2, 'n', '/', $3)`,
        [k, randomUUID(), expires],
      );
      const s = randomBytes(32);
      keys[`social-${state}`] = s;
      await admin.query(
        `insert into social_sign_in_flows (state_hash, provider, browser_hash, code_verifier, return_to, expires_at)
         values ($1, 'google', $2, 'v', '/', $3)`,
        [s, randomBytes(32), expires],
      );
      const p = randomBytes(32);
      keys[`passkey-${state}`] = p;
      await admin.query(
        `insert into passkey_challenges (purpose, binding_hash, challenge, expires_at)
         values ('sign_in', $1, 'c', $2)`,
        [p, expires],
      );
    }
    return keys;
  }
  const globalLeft = async (keys: Record<string, Buffer>) => {
    const left: string[] = [];
    for (const [name, k] of Object.entries(keys)) {
      const table = name.startsWith('sso')
        ? 'sso_flows'
        : name.startsWith('social')
          ? 'social_sign_in_flows'
          : 'passkey_challenges';
      const key = table === 'passkey_challenges' ? 'binding_hash' : 'state_hash';
      const r = await admin.query(`select 1 from ${table} where ${key} = $1`, [k]);
      if (r.rowCount) left.push(name);
    }
    return left.sort();
  };

  it('expired rows go, live rows stay: pooled and schema-placed SAML tables, and the global tables', async () => {
    await samlRows('public', pooled, tag);
    const schema = tenantSchemaName(placed);
    await samlRows(schema, placed, tag);
    const keys = await globalRows();

    const counts = await purgeExpiredSignInRows({ workerPool, db: platformDb, batchSize: 2 });
    expect(counts.saml).toBeGreaterThanOrEqual(4);
    for (const t of ['sso_flows', 'social_sign_in_flows', 'passkey_challenges'] as const)
      expect(counts[t]).toBeGreaterThanOrEqual(1);

    const live = [`_as-live-${tag}`, `_req-live-${tag}`];
    expect(await samlLeft('public', pooled)).toEqual(live);
    expect(await samlLeft(schema, placed)).toEqual(live);
    expect(await globalLeft(keys)).toEqual(['passkey-live', 'social-live', 'sso-live']);
  });

  it('deletes at most its limit a call, shared by the schemas and tables', async () => {
    await samlRows('public', pooled, `${tag}-2`);
    await samlRows(tenantSchemaName(placed), placed, `${tag}-2`);
    const n = await workerPool.query<{ n: number }>('select worker_api.app_priv_sso_purge_expired(1) as n');
    expect(n.rows[0]!.n).toBe(1);
    const rest = await purgeExpiredSignInRows({ workerPool, db: platformDb, batchSize: 1 });
    expect(rest.saml).toBeGreaterThanOrEqual(3);
    expect(await samlLeft('public', pooled)).not.toContain(`_req-old-${tag}-2`);
  });

  it('is the worker role’s only, and refused inside a tenant scope', async () => {
    const runtime = await connect(own.url);
    try {
      await expect(runtime.query('select worker_api.app_priv_sso_purge_expired(10)')).rejects.toThrow();
    } finally {
      await runtime.end();
    }
    const worker = await workerPool.connect();
    try {
      await worker.query('begin');
      await worker.query(`select set_config('app.tenant_id', $1, true)`, [pooled]);
      await expect(worker.query('select worker_api.app_priv_sso_purge_expired(10)')).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await worker.query('rollback');
      worker.release();
    }
  });
});
