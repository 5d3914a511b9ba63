import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rlsProbe } from '../../../test/support/explicit-filters.js';
import { sql } from 'kysely';
import { uuidv7 } from '../ids.js';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import type { TenantDb } from '../tenancy/tenant-database.js';
import { precompiled } from './precompiled.js';

describe('precompiled', () => {
  let tenancy: Tenancy;
  let orgA: string;
  let orgB: string;
  const idsA: string[] = [];

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    orgA = await createTestOrg(tenancy, 'pc-a');
    orgB = await createTestOrg(tenancy, 'pc-b');
    await tenancy.withTenant(orgA, async (db) => {
      for (const name of ['one', 'two', 'three']) {
        const id = uuidv7();
        idsA.push(id);
        await db.insertInto('projects').values({ organization_id: orgA, id, name }).execute();
      }
    });
  });
  afterAll(async () => {
    await tenancy.close();
  });

  const byId = precompiled((db: TenantDb, p: { tenantId: string; id: string }) =>
    db
      .selectFrom('projects')
      .select(['id', 'name'])
      .where('organization_id', '=', p.tenantId)
      .where('id', '=', p.id),
  );

  it('runs the statement with each call’s values, in its tenant scope', async () => {
    for (const [i, name] of ['one', 'two', 'three'].entries()) {
      const rows = await tenancy.withTenant(
        orgA,
        async (db) => (await byId(db, { tenantId: orgA, id: idsA[i]! })).rows,
        {
          mode: 'read',
        },
      );
      expect(rows).toEqual([{ id: idsA[i], name }]);
    }
  });

  it(
    'stays under RLS: another tenant’s scope sees nothing, even when naming the other tenant',
    rlsProbe(async () => {
      const rows = await tenancy.withTenant(
        orgB,
        async (db) => (await byId(db, { tenantId: orgA, id: idsA[0]! })).rows,
        {
          mode: 'read',
        },
      );
      expect(rows).toEqual([]);
    }),
  );

  it('fails closed outside a tenant scope', async () => {
    await expect(byId(tenancy.control.db, { tenantId: orgA, id: idsA[0]! })).rejects.toMatchObject({
      code: 'NO_TENANT_CONTEXT',
    });
  });

  it('keeps the builder’s own constants, and a parameter used twice fills both places', async () => {
    const named = precompiled((db: TenantDb, p: { tenantId: string; name: string }) =>
      db
        .selectFrom('projects')
        .select('name')
        .where('organization_id', '=', p.tenantId)
        .where((eb) => eb.or([eb('name', '=', p.name), eb('name', '=', 'three')]))
        .where(sql<boolean>`${p.name}::text is not null`)
        .orderBy('name'),
    );
    const rows = await tenancy.withTenant(
      orgA,
      async (db) => (await named(db, { tenantId: orgA, name: 'one' })).rows,
      {
        mode: 'read',
      },
    );
    expect(rows.map((r) => r.name)).toEqual(['one', 'three']);
  });

  it('takes a list as one array value', async () => {
    const byIds = precompiled((db: TenantDb, p: { tenantId: string; ids: string[] }) =>
      db
        .selectFrom('projects')
        .select('id')
        .where('organization_id', '=', p.tenantId)
        .where('id', '=', sql<string>`any(${p.ids}::uuid[])`),
    );
    const rows = await tenancy.withTenant(
      orgA,
      async (db) => (await byIds(db, { tenantId: orgA, ids: idsA.slice(0, 2) })).rows,
      {
        mode: 'read',
      },
    );
    expect(rows.map((r) => r.id).sort()).toEqual(idsA.slice(0, 2).sort());
  });

  it('refuses, at its first run, a parameter the builder computed with or left unused', async () => {
    const computed = precompiled((db: TenantDb, p: { tenantId: string; limit: number }) =>
      db
        .selectFrom('projects')
        .select('id')
        .where('organization_id', '=', p.tenantId)
        .limit(p.limit + 1),
    );
    await expect(
      tenancy.withTenant(orgA, (db) => computed(db, { tenantId: orgA, limit: 1 }), { mode: 'read' }),
    ).rejects.toThrow(/changed by the builder/);

    const unused = precompiled((db: TenantDb, p: { tenantId: string; at: string }) =>
      db
        .selectFrom('projects')
        .select('id')
        .where('organization_id', '=', p.tenantId)
        .where('created_at', '<', new Date(p.at)),
    );
    await expect(
      tenancy.withTenant(orgA, (db) => unused(db, { tenantId: orgA, at: '2030-01-01' }), { mode: 'read' }),
    ).rejects.toThrow(/'at' does not reach the SQL/);
  });
});
