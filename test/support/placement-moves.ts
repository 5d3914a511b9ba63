import pg from 'pg';
import type { RoleNames } from '../../src/platform/db/bootstrap.js';
import { knownMigrations } from '../../src/platform/db/migrate.js';
import type { Tenancy } from '../../src/platform/tenancy/tenancy.js';
import {
  createPlacementMoveService,
  type PlacementMoveDeps,
  type PlacementMoveService,
} from '../../src/modules/tenant-placement/tenant-placement.service.js';

/** TEST ONLY: the move engine over a provisioned database's owner role, invalidating `tenancies`'
 *  placement caches directly (what the invalidation bus does across instances). */
export function testMoveService(
  ownerUrl: string,
  roles: RoleNames,
  tenancies: readonly Tenancy[],
  extra: Partial<PlacementMoveDeps> = {},
): { service: PlacementMoveService; owner: pg.Pool } {
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 3 });
  // A connection still closing when the test's database is dropped is terminated (57P01): expected at
  // teardown, and with nobody listening it would fail a run whose tests all passed.
  owner.on('error', () => {});
  owner.on('connect', (client) => client.on('error', () => {}));
  const service = createPlacementMoveService({
    owner,
    roles,
    schemaVersion: knownMigrations().at(-1)!,
    invalidate: (org) => {
      for (const t of tenancies) t.router.invalidate(org);
    },
    settleMs: 300,
    batchSize: 7,
    ...extra,
  });
  return { service, owner };
}
