import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../../../test/support/app.js';
import { createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import {
  backendsOf,
  createTestTenantDatabases,
  type TestTenantDatabases,
} from '../../../test/support/tenant-databases.js';
import { isDatabaseUnavailable } from '../db/pg-errors.js';
import { TenancyError } from './errors.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import { createTenantDatabasePools, type TenantDatabasePools } from './tenant-database-pools.js';

const DATABASES = 12;
const CAP = 8;

let dbs: TestTenantDatabases;
let admin: pg.Client;
let setup: Tenancy;
/** One organization placed in each tenant database (org i in `d<i>`), and one on a key not configured. */
const orgs: string[] = [];
let unconfiguredOrg: string;

function urls(): Record<string, { url: string }> {
  return Object.fromEntries(Object.entries(dbs.databases).map(([k, v]) => [k, { url: v.url }]));
}

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Opens and releases one connection to `key`'s database. */
async function use(pools: TenantDatabasePools, key: string): Promise<void> {
  const client = await pools.get(key)!.pool.connect();
  try {
    await client.query('select 1');
  } finally {
    client.release();
  }
}

beforeAll(async () => {
  dbs = await createTestTenantDatabases(DATABASES);
  admin = new pg.Client({ connectionString: testDb().adminUrl });
  await admin.connect();
  setup = createTestTenancy(2);
  for (let i = 0; i < DATABASES; i++) {
    const org = await createTestOrg(setup, `tdb-${i}`);
    orgs.push(org);
    await admin.query(
      `update tenant_placements set kind = 'database', database_key = $2 where organization_id = $1`,
      [org, `d${i}`],
    );
  }
  unconfiguredOrg = await createTestOrg(setup, 'tdb-x');
  await admin.query(
    `update tenant_placements set kind = 'database', database_key = 'nowhere' where organization_id = $1`,
    [unconfiguredOrg],
  );
}, 120_000);

afterAll(async () => {
  // Back to pooled: other test files' jobs may visit every organization of the shared database.
  await admin?.query(
    `update tenant_placements set kind = 'pooled', database_key = null where organization_id = any($1)`,
    [[...orgs, unconfiguredOrg]],
  );
  await admin?.end();
  await setup?.close();
  await dbs?.drop();
});

describe('tenant database pools under one connection cap', () => {
  it('a burst of 200 scopes over 12 databases never has more than the cap open, and every scope completes in its own database', async () => {
    const app = `sr-burst-${randomBytes(3).toString('hex')}`;
    const tenancy = createTenancy({
      url: testDb().url,
      poolSize: 2,
      tenantDatabases: {
        databases: urls(),
        maxConnections: CAP,
        applicationName: app,
        acquireTimeoutMs: 30_000,
      },
    });
    let sampling = true;
    let maxSeen = 0;
    let maxCounted = 0;
    let samples = 0;
    const sampler = (async () => {
      while (sampling) {
        maxSeen = Math.max(maxSeen, (await backendsOf(admin, `${app}:`)).length);
        maxCounted = Math.max(maxCounted, tenancy.databases!.stats().connections);
        samples++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          tenancy.withTenant(
            orgs[i % DATABASES]!,
            async (db) => {
              const { rows } = await sql<{
                db: string;
              }>`select current_database() as db, pg_sleep(0.01)`.execute(db);
              return rows[0]!.db;
            },
            { mode: i % 2 === 0 ? 'read' : 'write' },
          ),
        ),
      );
      results.forEach((name, i) => expect(name).toBe(dbs.databases[`d${i % DATABASES}`]!.name));
    } finally {
      sampling = false;
      await sampler;
    }
    const stats = tenancy.databases!.stats();
    // The counter and the pools agree: every permit held is a connection of an open pool.
    expect(stats.connections).toBe(stats.pools.reduce((n, p) => n + p.total, 0));
    expect(samples).toBeGreaterThan(5);
    expect(maxSeen).toBeGreaterThan(0);
    expect(maxSeen).toBeLessThanOrEqual(CAP);
    expect(maxCounted).toBeLessThanOrEqual(CAP);
    expect(stats.peakConnections).toBe(CAP); // the cap was reached, and held
    expect(stats.waiting).toBe(0);

    // Shutdown closes every pool: nothing of ours left on the server, and no scope can start again.
    await tenancy.close();
    expect(tenancy.databases!.stats()).toMatchObject({ connections: 0, pools: [] });
    await until(async () => (await backendsOf(admin, `${app}:`)).length === 0);
    await expect(tenancy.withTenant(orgs[0]!, async () => 1)).rejects.toMatchObject({
      code: 'TENANT_DATABASES_CLOSED',
    });
  }, 120_000);

  it('a scope of an organization placed on a key not configured fails with PLACEMENT_UNSUPPORTED', async () => {
    const tenancy = createTenancy({
      url: testDb().url,
      poolSize: 2,
      tenantDatabases: { databases: urls(), maxConnections: 2 },
    });
    try {
      await expect(tenancy.withTenant(unconfiguredOrg, async () => 1)).rejects.toMatchObject({
        code: 'PLACEMENT_UNSUPPORTED',
      });
      // Without any tenant database configured, the same.
      const bare = createTestTenancy(1);
      await expect(bare.withTenant(orgs[0]!, async () => 1)).rejects.toMatchObject({
        code: 'PLACEMENT_UNSUPPORTED',
      });
      await bare.close();
      expect(tenancy.databases!.get('nowhere')).toBeUndefined();
      expect(tenancy.databases!.keys).toEqual(Object.keys(dbs.databases));
      expect(tenancy.databases!.stats().pools).toEqual([]); // nothing opened by routing alone
    } finally {
      await tenancy.close();
    }
  });

  it('makes room by closing idle pools least recently used first', async () => {
    const app = `sr-lru-${randomBytes(3).toString('hex')}`;
    const pools = createTenantDatabasePools({ databases: urls(), maxConnections: 2, applicationName: app });
    try {
      await use(pools, 'd0');
      await use(pools, 'd1');
      await use(pools, 'd0'); // d1 is now the least recently used
      expect(pools.stats().pools.map((p) => p.key)).toEqual(['d1', 'd0']);
      await use(pools, 'd2'); // the cap is reached: d1's pool is closed to make room
      expect(pools.stats().pools.map((p) => p.key)).toEqual(['d0', 'd2']);
      await until(async () => (await backendsOf(admin, `${app}:`)).join() === `${app}:d0,${app}:d2`);
      await use(pools, 'd3'); // then d0's
      expect(pools.stats().pools.map((p) => p.key)).toEqual(['d2', 'd3']);
      expect(pools.stats().peakConnections).toBe(2);
    } finally {
      await pools.close();
    }
  });

  it('closes the pools of databases idle past the idle timeout', async () => {
    const app = `sr-idle-${randomBytes(3).toString('hex')}`;
    const pools = createTenantDatabasePools({
      databases: urls(),
      maxConnections: 4,
      idleTimeoutMs: 200,
      applicationName: app,
    });
    try {
      await Promise.all([use(pools, 'd0'), use(pools, 'd1'), use(pools, 'd1')]);
      expect(pools.stats().pools.length).toBe(2);
      await until(async () => pools.stats().pools.length === 0);
      // A permit comes back once the closed pool's socket has closed, a moment after the pool is gone.
      await until(async () => pools.stats().connections === 0);
      await until(async () => (await backendsOf(admin, `${app}:`)).length === 0);
      await use(pools, 'd0'); // and opens again on the next use
      expect(pools.stats().pools.map((p) => p.key)).toEqual(['d0']);
    } finally {
      await pools.close();
    }
  });

  it('a connection waits for a permit at most the acquire timeout, then fails with TENANT_DATABASE_BUSY', async () => {
    const pools = createTenantDatabasePools({ databases: urls(), maxConnections: 1, acquireTimeoutMs: 200 });
    try {
      const held = await pools.get('d0')!.pool.connect(); // the only permit, in use: nothing to close
      const started = Date.now();
      await expect(pools.get('d1')!.pool.connect()).rejects.toMatchObject({ code: 'TENANT_DATABASE_BUSY' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(pools.stats()).toMatchObject({ connections: 1, waiting: 0 });
      held.release();
      await use(pools, 'd1'); // d0's idle connection is closed for it
      expect(pools.stats().pools.map((p) => p.key)).toEqual(['d1']);
    } finally {
      await pools.close();
    }
  });
});

describe('the composition', () => {
  it('builds the pools from the configuration, routes placed organizations to them and closes them', async () => {
    const app = await buildTestApp({
      tenantDatabases: {
        databases: urls(),
        maxConnections: 3,
        poolSize: 3,
        idleTimeoutMs: 30_000,
        acquireTimeoutMs: 5_000,
      },
    });
    const pools = app.tenancy.databases!;
    try {
      expect(pools.keys).toEqual(Object.keys(dbs.databases));
      expect(app.logs.some((l) => String(l.msg).startsWith('database placements'))).toBe(true);
      const name = await app.tenancy.withTenant(orgs[3]!, async (db) => {
        const { rows } = await sql<{ db: string }>`select current_database() as db`.execute(db);
        return rows[0]!.db;
      });
      expect(name).toBe(dbs.databases.d3!.name);
      expect(pools.stats().pools.map((p) => p.key)).toEqual(['d3']);
    } finally {
      await app.close();
    }
    expect(pools.stats()).toMatchObject({ connections: 0, pools: [] });
  }, 60_000);
});

describe('the busy error over HTTP', () => {
  it('is a condition of the deployment (503 with Retry-After), not a bug of the request', () => {
    expect(isDatabaseUnavailable(new TenancyError('TENANT_DATABASE_BUSY', 'busy'))).toBe(true);
    expect(isDatabaseUnavailable(new TenancyError('PLACEMENT_UNSUPPORTED', 'x'))).toBe(false);
  });
});
