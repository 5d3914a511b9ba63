import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../ids.js';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import type { Tenancy } from './tenancy.js';
import { scopeStorage } from './tenant-database.js';
import type { TenantConnection } from './tenant-connection.js';

const INSERT = 'insert into projects (organization_id, id, name) values ($1, $2, $3)';

/** `TenantConnection.deferUntilCommit`: statements sent in the same network write as COMMIT. */
describe('deferUntilCommit', () => {
  let tenancy: Tenancy;
  let org: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    org = await createTestOrg(tenancy, 'defer');
  });
  afterAll(async () => {
    await tenancy.close();
  });

  const scope = (): TenantConnection => scopeStorage.getStore() as TenantConnection;
  const names = () =>
    tenancy.withTenant(
      org,
      async (db) =>
        (await db.selectFrom('projects').select('name').where('organization_id', '=', org).execute()).map(
          (r) => r.name,
        ),
      { mode: 'read' },
    );

  it('commits the deferred statement with the transaction, and calls onCommitted after', async () => {
    let committed = false;
    await tenancy.withTenant(org, async (db) => {
      await db
        .insertInto('projects')
        .values({ organization_id: org, id: uuidv7(), name: 'd-first' })
        .execute();
      scope().deferUntilCommit(INSERT, [org, uuidv7(), 'd-deferred'], () => (committed = true));
      expect(committed).toBe(false);
    });
    expect(committed).toBe(true);
    expect(await names()).toEqual(expect.arrayContaining(['d-first', 'd-deferred']));
  });

  it('the same statement deferred twice, on a connection that never prepared it, is parsed once', async () => {
    // A text no connection has seen (so its prepared statement is new here): two audit events of one
    // transaction are two inserts of one statement in the same pipeline.
    const fresh = `${INSERT} -- twice ${uuidv7()}`;
    await tenancy.withTenant(org, async () => {
      scope().deferUntilCommit(fresh, [org, uuidv7(), 'd-twice-1'], undefined);
      scope().deferUntilCommit(fresh, [org, uuidv7(), 'd-twice-2'], undefined);
    });
    expect(await names()).toEqual(expect.arrayContaining(['d-twice-1', 'd-twice-2']));
  });

  it('begins the transaction itself when the scope ran no statement', async () => {
    await tenancy.withTenant(org, async () => {
      scope().deferUntilCommit(INSERT, [org, uuidv7(), 'd-alone'], undefined);
    });
    expect(await names()).toContain('d-alone');
  });

  it('a failing deferred statement rolls back the whole transaction and its error surfaces', async () => {
    let committed = false;
    const id = uuidv7();
    await expect(
      tenancy.withTenant(org, async (db) => {
        await db
          .insertInto('projects')
          .values({ organization_id: org, id: uuidv7(), name: 'd-lost' })
          .execute();
        // Same primary key twice: the second insert fails at COMMIT time.
        scope().deferUntilCommit(INSERT, [org, id, 'd-dup-1']);
        scope().deferUntilCommit(INSERT, [org, id, 'd-dup-2'], () => (committed = true));
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(committed).toBe(false);
    const after = await names();
    expect(after).not.toContain('d-lost');
    expect(after).not.toContain('d-dup-1');
    // The connection went back clean: the next scope works.
    await tenancy.withTenant(org, (db) =>
      db.insertInto('projects').values({ organization_id: org, id: uuidv7(), name: 'd-next' }).execute(),
    );
    expect(await names()).toContain('d-next');
  });

  it('nothing deferred is sent when the scope throws', async () => {
    await expect(
      tenancy.withTenant(org, async () => {
        scope().deferUntilCommit(INSERT, [org, uuidv7(), 'd-thrown']);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await names()).not.toContain('d-thrown');
  });

  it('is refused in a read scope', async () => {
    await expect(
      tenancy.withTenant(org, async () => scope().deferUntilCommit(INSERT, [org, uuidv7(), 'x']), {
        mode: 'read',
      }),
    ).rejects.toThrow(/write scope/);
  });

  it('a deferred statement that could change session state marks the connection dirty', async () => {
    await tenancy.withTenant(org, async () => {
      const conn = scope();
      expect(conn.dirty).toBe(false);
      conn.deferUntilCommit(`select set_config('statement_timeout', '5s', false)`, []);
      expect(conn.dirty).toBe(true);
    });
  });
});
