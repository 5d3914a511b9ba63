import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapThrowaway,
  dropThrowaway,
  type ThrowawayDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { knownMigrations, latestMigration } from './migrate.js';
import { DIRECTORY_TABLES } from '../tenancy/placed-tables.js';
import {
  CONTROL_FOREIGN_KEYS_SQL,
  dropControlForeignKeys,
  migrateTenantDatabases,
  tenantDatabasesBehind,
  tenantDatabasesRefusal,
} from './tenant-database-migrations.js';
import type { TenantDatabaseConfig } from '../config-tenant-databases.js';

/**
 * A dedicated tenant database (TENANT_DATABASES) that is behind: refused at start with its name, brought
 * up by the same migrations as the control database, a broken one reported while the others still run.
 */
describe('tenant databases carry the control database migrations', () => {
  const control = testDb();
  let own: ThrowawayDatabase;
  let eu1: TenantDatabaseConfig;

  beforeAll(async () => {
    // A database that exists, with its roles, and has never been migrated.
    own = await bootstrapThrowaway(control.superuserUrl, 'sr_tdb');
    eu1 = {
      key: 'eu1',
      url: own.url,
      ownerUrl: own.migrationUrl,
      definerRole: own.roles.definer,
      workerRole: own.roles.worker,
    };
  });
  afterAll(async () => {
    if (own) await dropThrowaway(own);
  });

  it('one behind is refused at start, naming it and the command; migrate brings it up, a broken one is reported', async () => {
    const behind = await tenantDatabasesBehind([eu1]);
    expect(behind).toEqual([{ key: 'eu1', version: null, current: false }]);
    expect(tenantDatabasesRefusal(behind)).toBe(
      `tenant database "eu1" is at no migration, this version needs ${latestMigration()}: run \`npx saasready migrate\` (see docs/isolation-models.md, "Migrations across placements")`,
    );

    const broken = { key: 'bad', url: own.url, ownerUrl: own.migrationUrl.replace(/:[^:@]+@/, ':wrong@') };
    const seen: string[] = [];
    const result = await migrateTenantDatabases({
      databases: [broken, eu1],
      controlRoles: control.roles,
      onOutcome: (o) => seen.push(o.key),
    });
    expect(seen).toEqual(['bad', 'eu1']);
    expect(result.failed).toBe(1);
    expect(result.outcomes[0]).toMatchObject({ key: 'bad', applied: [], version: null });
    expect(result.outcomes[0]!.error).toMatch(/password authentication failed/);
    expect(result.outcomes[1]).toEqual({
      key: 'eu1',
      applied: knownMigrations(),
      version: latestMigration(),
    });

    expect(await tenantDatabasesBehind([eu1])).toEqual([]);
    expect(tenantDatabasesRefusal([])).toBeUndefined();
    // Unreadable (here: a wrong password) is not "current": the server does not start on it either.
    const unreadable = await tenantDatabasesBehind([{ ...eu1, url: broken.ownerUrl }]);
    expect(tenantDatabasesRefusal(unreadable)).toMatch(
      /^tenant database "eu1" cannot be checked \(.*password authentication failed.*\): run `npx saasready migrate`/,
    );
  }, 120_000);

  it('keeps no foreign key from a placed table to a control table in a tenant database, and all in the control database', async () => {
    const keysIn = async (url: string) => {
      const c = await connect(url);
      try {
        return (
          await c.query<{ tbl: string; name: string }>(CONTROL_FOREIGN_KEYS_SQL, [
            Object.keys(DIRECTORY_TABLES),
          ])
        ).rows;
      } finally {
        await c.end();
      }
    };
    // The control database keeps them (its users, flags and plans are there): some exist.
    expect((await keysIn(control.adminUrl)).length).toBeGreaterThan(0);
    // The tenant database migrated above holds none, and a second run finds none to drop.
    expect(await keysIn(own.adminUrl)).toEqual([]);
    expect(await dropControlForeignKeys(own.migrationUrl)).toEqual([]);
  });

  it('one a migration behind says where it is', async () => {
    const admin = await connect(own.adminUrl);
    const last = latestMigration();
    const row = await admin.query('delete from kysely_migration where name = $1 returning *', [last]);
    try {
      const behind = await tenantDatabasesBehind([eu1]);
      expect(behind).toEqual([{ key: 'eu1', version: knownMigrations().at(-2), current: false }]);
      expect(tenantDatabasesRefusal(behind)).toMatch(
        new RegExp(`^tenant database "eu1" is at ${knownMigrations().at(-2)}, this version needs ${last}: `),
      );
    } finally {
      await admin.query('insert into kysely_migration (name, timestamp) values ($1, $2)', [
        last,
        (row.rows[0] as { timestamp: string }).timestamp,
      ]);
      await admin.end();
    }
  });
});
