/**
 * The fixture of the tests of moves into a tenant database (imported by tests only): a control database and
 * a tenant database `t1` of the file's own (`openSplit`), a tenancy over both, the tenant database's owner
 * pool, and the move engine into `t1`; everything closed and dropped after the file.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { testMoveService } from '../../../test/support/placement-moves.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { closeSplit, openSplit, type SplitDatabases } from '../../platform/tenancy/split.test-support.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import type { PlacementMoveDeps, PlacementMoveService } from './tenant-placement.service.js';

export interface MoveFixture {
  readonly split: SplitDatabases;
  readonly tenancy: Tenancy;
  /** The tenant database's owner role (what the engine writes the target with). */
  readonly targetOwner: pg.Pool;
  /** Pools a test opens: ended after the file. */
  readonly pools: pg.Pool[];
  /** The engine over the control database's owner role, moving into `t1` (settling for 50 ms). */
  engine(extra?: Partial<PlacementMoveDeps>): PlacementMoveService;
  /** A pooled organization (slug `<prefix>-<random>`) with `projects` projects. */
  newOrg(prefix: string, projects?: number): Promise<string>;
}

/** Registers the file's beforeAll/afterAll; the fixture's fields are there once beforeAll has run. */
export function useMoveFixture(label: string): MoveFixture {
  let split: SplitDatabases | undefined;
  let tenancy: Tenancy | undefined;
  let targetOwner: pg.Pool | undefined;
  const pools: pg.Pool[] = [];
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the move fixture is used before its beforeAll ran');
    return v;
  };
  beforeAll(async () => {
    split = await openSplit(label);
    tenancy = createTenancy({
      url: split.control.url,
      poolSize: 10,
      placementTtlMs: 200,
      tenantDatabases: { databases: { t1: { url: split.tenant.url } }, maxConnections: 10 },
    });
    targetOwner = new pg.Pool({ connectionString: split.tenant.migrationUrl, max: 3 });
    targetOwner.on('error', () => {});
  }, 120_000);
  afterAll(async () => {
    for (const p of pools) await p.end();
    await targetOwner?.end();
    await tenancy?.close();
    await closeSplit(split);
  });
  const fixture: MoveFixture = {
    get split() {
      return ready(split);
    },
    get tenancy() {
      return ready(tenancy);
    },
    get targetOwner() {
      return ready(targetOwner);
    },
    pools,
    engine(extra = {}) {
      const made = testMoveService(
        ready(split).control.migrationUrl,
        ready(split).control.roles,
        [ready(tenancy)],
        {
          settleMs: 50,
          targetOwner: (key) => (key === 't1' ? targetOwner : undefined),
          ...extra,
        },
      );
      pools.push(made.owner);
      return made.service;
    },
    async newOrg(prefix, projects = 3) {
      const t = ready(tenancy);
      const org = (
        await createBareOrganization(t.withTenant, {
          slug: `${prefix}-${randomBytes(5).toString('hex')}`,
          name: prefix,
        })
      ).id;
      for (let i = 0; i < projects; i++) {
        await t.withTenant(org, (db) =>
          db
            .insertInto('projects')
            .values({ organization_id: org, id: uuidv7(), name: `p${i}` })
            .execute(),
        );
      }
      return org;
    },
  };
  return fixture;
}
