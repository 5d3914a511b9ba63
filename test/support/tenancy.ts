import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createOrganizationsService } from '../../src/modules/organizations/organizations.service.js';

/** The suite's provisioned database (see global-setup). */
export function testDb() {
  return inject('db');
}

/** A tenancy core on the runtime role with a small pool. */
export function createTestTenancy(poolSize = 4): Tenancy {
  return createTenancy({ url: testDb().url, poolSize });
}

/** Creates an organization with a random slug and returns its id. */
export async function createTestOrg(tenancy: Tenancy, prefix = 'org'): Promise<string> {
  const orgs = createOrganizationsService({ withTenant: tenancy.withTenant });
  const org = await orgs.create({
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
