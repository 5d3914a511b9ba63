import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDatabase } from '../../src/platform/db/bootstrap.js';
import { testDb } from './tenancy.js';

/** Small databases on the test cluster, each reachable by one login role (no tables: scopes only). */
export interface TestTenantDatabases {
  /** key (`d0`, `d1`, …) → database name and runtime URL. */
  readonly databases: Record<string, { name: string; url: string }>;
  drop(): Promise<void>;
}

/** Creates `count` plain databases and one login role able to connect to them. */
export async function createTestTenantDatabases(count: number): Promise<TestTenantDatabases> {
  const { superuserUrl } = testDb();
  const stem = `sr_tdb_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  const databases: Record<string, { name: string; url: string }> = {};
  try {
    await admin.query(`create role ${stem} login password '${password}'`);
    for (let i = 0; i < count; i++) {
      const name = `${stem}_d${i}`;
      await admin.query(`create database ${name}`);
      const url = new URL(withDatabase(superuserUrl, name));
      url.username = stem;
      url.password = password;
      databases[`d${i}`] = { name, url: url.toString() };
    }
  } finally {
    await admin.end();
  }
  return {
    databases,
    async drop() {
      const c = new pg.Client({ connectionString: superuserUrl });
      await c.connect();
      try {
        for (const { name } of Object.values(databases)) {
          await c.query(`drop database if exists ${name} with (force)`);
        }
        await c.query(`drop role if exists ${stem}`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Backends whose application_name starts with `prefix` (superuser: sees every database's sessions). */
export async function backendsOf(admin: pg.Client, prefix: string): Promise<string[]> {
  const res = await admin.query<{ application_name: string }>(
    `select application_name from pg_stat_activity where starts_with(application_name, $1)
      order by application_name`,
    [prefix],
  );
  return res.rows.map((r) => r.application_name);
}
