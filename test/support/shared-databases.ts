import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { viaRunBouncer } from './pgbouncer.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from './provision.js';

/**
 * The suite's other databases, each provisioned by the first file of a run that asks for it and shared by
 * every file after it (files are processes: a session advisory lock in the cluster's `postgres` database
 * lets one provision while the others wait, then read its URLs from a file named after the suite's
 * database). The global teardown drops them (`dropSharedDatabases`). A run that asks for none pays nothing.
 *
 * - `placements`: a control database where organizations are placed in schemas of their own. Not the
 *   suite's database: a placement schema is a schema the runtime role can reach, and files that check that
 *   database's catalog exactly (runtime grants, the GDPR table lists) run meanwhile. Files place their own
 *   organizations there, so every check on it must hold with any number of placement schemas.
 * - `tenant`: a dedicated tenant database (a `database` placement): the same migrations, its own roles.
 */
export type SharedDatabaseName = 'placements' | 'tenant';

const cache = new Map<SharedDatabaseName, Promise<ProvisionedDatabase>>();

function stateFile(suiteDatabase: string, name: SharedDatabaseName): string {
  return join(tmpdir(), `saasready-${suiteDatabase}-${name}.json`);
}

/**
 * The shared database `name` of the run whose suite database is `suite` (`testDb()`). `prepare` runs once,
 * right after provisioning, under the lock (what every user may rely on being there).
 */
export function sharedDatabase(
  suite: ProvisionedDatabase,
  name: SharedDatabaseName,
  prepare?: (db: ProvisionedDatabase) => Promise<void>,
): Promise<ProvisionedDatabase> {
  let p = cache.get(name);
  if (!p) {
    // The state file keeps the direct URLs; a run through PgBouncer routes the runtime role through it.
    p = provisionOnce(suite, name, prepare).then(viaRunBouncer);
    cache.set(name, p);
  }
  return p;
}

async function provisionOnce(
  suite: ProvisionedDatabase,
  name: SharedDatabaseName,
  prepare?: (db: ProvisionedDatabase) => Promise<void>,
): Promise<ProvisionedDatabase> {
  const file = stateFile(suite.database, name);
  const lock = new pg.Client({ connectionString: suite.superuserUrl });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock(hashtext($1))', [file]);
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ProvisionedDatabase;
    const db = await provisionDatabase(suite.superuserUrl, `${suite.database}_${name.slice(0, 2)}`, {
      tenantDatabase: name === 'tenant',
    });
    try {
      await prepare?.(db);
    } catch (err) {
      await dropProvisioned(db);
      throw err;
    }
    writeFileSync(file, JSON.stringify(db), { mode: 0o600 });
    return db;
  } finally {
    await lock.end(); // ends the session, and with it the lock
  }
}

/** Drops every shared database the run provisioned (global teardown). */
export async function dropSharedDatabases(suite: ProvisionedDatabase): Promise<void> {
  for (const name of ['placements', 'tenant'] as const) {
    const file = stateFile(suite.database, name);
    if (!existsSync(file)) continue;
    await dropProvisioned(JSON.parse(readFileSync(file, 'utf8')) as ProvisionedDatabase);
    rmSync(file, { force: true });
  }
}
