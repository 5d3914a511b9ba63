import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import { uuidv7 } from '../../src/platform/ids.js';
import { tenantSchemaName } from '../../src/platform/tenancy/placed-tables.js';
import type { PlacementKind } from '../../src/platform/tenancy/placement.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { placeInSchema } from './placements.js';
import type { ProvisionedDatabase } from './provision.js';
import { sharedDatabase } from './shared-databases.js';
import { connect, defaultTestSetter } from './tenancy.js';
import type { TenantSetterKind } from '../../src/platform/tenancy/tenant-setters.js';

/**
 * Where a tenancy suite runs for each placement kind (issue 13: every tenancy test runs for each):
 * - `pooled`: the suite's database; organizations stay in `public`.
 * - `schema`: the shared `placements` database (shared-databases.ts); each organization a suite creates
 *   is placed in its own schema (`placeInSchema`), and one resident organization placed when the
 *   database was provisioned guarantees a placement schema for the catalog checks.
 * - `database`: the shared `tenant` database, a dedicated tenant database migrated by the same
 *   migrations with its own roles; its organizations are pooled in it.
 */
export interface KindDatabase {
  readonly kind: PlacementKind;
  readonly db: ProvisionedDatabase;
  /** A tenancy core on the database's runtime role (with the default test setter unless given). */
  tenancy(poolSize: number, setter?: TenantSetterKind): Tenancy;
  /** Puts organizations that `tenancy` created where the kind keeps them, invalidating its cache. */
  place(tenancy: Tenancy, ...orgIds: string[]): Promise<void>;
  /** The schema holding an organization's placed tables: its own for `schema`, else `public`. */
  schemaOf(orgId: string): string;
}

export const PLACEMENT_KINDS: readonly PlacementKind[] = ['pooled', 'schema', 'database'];

export async function kindDatabase(kind: PlacementKind): Promise<KindDatabase> {
  const suite = inject('db');
  const db =
    kind === 'pooled'
      ? suite
      : await sharedDatabase(suite, kind === 'schema' ? 'placements' : 'tenant', (d) =>
          kind === 'schema' ? placeResident(d) : Promise.resolve(),
        );
  return {
    kind,
    db,
    tenancy: (poolSize, setter = defaultTestSetter()) => createTenancy({ url: db.url, poolSize, setter }),
    async place(tenancy, ...orgIds) {
      if (kind !== 'schema') return;
      // One placement at a time in the database, across the run's files: a schema's sync (DDL) running
      // while another organization's rows move was seen to end in "deadlock detected". The product's
      // placement DDL lock orders syncs against moves, yet without this lock a sync still deadlocked once
      // against other files' work on this database (docs/testing.md), so the lock stays.
      const lock = await connect(db.adminUrl);
      try {
        await lock.query('select pg_advisory_lock(hashtext($1))', ['test placements']);
        for (const id of orgIds) await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, id);
      } finally {
        await lock.end(); // ends the session, and with it the lock
      }
      for (const id of orgIds) tenancy.router.invalidate(id);
    },
    schemaOf: (orgId) => (kind === 'schema' ? tenantSchemaName(orgId) : 'public'),
  };
}

/** One organization placed in its schema, with a project, when the `placements` database is made. */
async function placeResident(db: ProvisionedDatabase): Promise<void> {
  const tenancy = createTenancy({ url: db.url, poolSize: 1 });
  try {
    const org = await createBareOrganization(tenancy.withTenant, {
      slug: `resident-${randomBytes(5).toString('hex')}`,
      name: 'resident',
    });
    await tenancy.withTenant(org.id, (t) =>
      t.insertInto('projects').values({ organization_id: org.id, id: uuidv7(), name: 'resident' }).execute(),
    );
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, org.id);
  } finally {
    await tenancy.close();
  }
}
