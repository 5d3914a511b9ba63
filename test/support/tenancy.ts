import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import type { TenantSetterKind } from '../../src/platform/tenancy/tenant-setters.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';

/** The suite's provisioned database (see global-setup). */
export function testDb() {
  return inject('db');
}

/** The tenant setters the core's own tests run under (the Citus setter's statements run on plain
 *  PostgreSQL too). */
export const TENANT_SETTERS: readonly TenantSetterKind[] = ['pooled', 'citus'];

/** The setter of tests that do not choose one: TEST_TENANT_SETTER (`citus` on a Citus cluster), else pooled. */
export function defaultTestSetter(): TenantSetterKind {
  return process.env.TEST_TENANT_SETTER === 'citus' ? 'citus' : 'pooled';
}

/** A tenancy core on the runtime role with a small pool. */
export function createTestTenancy(poolSize = 4, setter = defaultTestSetter()): Tenancy {
  return createTenancy({ url: testDb().url, poolSize, setter });
}

/** Creates an organization (no members) with a random slug and returns its id. */
export async function createTestOrg(tenancy: Tenancy, prefix = 'org'): Promise<string> {
  const org = await createBareOrganization(tenancy.withTenant, {
    slug: `${prefix}-${randomBytes(5).toString('hex')}`,
    name: `${prefix} test org`,
  });
  return org.id;
}

/** A plain client as the given URL's role (runtime, owner or superuser). */
export async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}
