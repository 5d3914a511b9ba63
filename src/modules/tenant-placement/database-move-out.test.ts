import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { testJwtKey } from '../tokens/tokens.test-support.js';
import { tenantSchemaName } from '../../platform/tenancy/placed-tables.js';
import { createAuditSigner, createAuditVerifier, type AuditVerifier } from '../../platform/audit/signing.js';
import { verifyOrganizationChain } from '../audit/audit-verification.js';
import { useMoveFixture } from './database-move-fixture.test-support.js';
import { freezeLatencies, moveLoad, placedRows as placedRowsIn } from './database-move.test-support.js';
import type { PlacementMove } from './tenant-placement.service.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const FREEZE_HOLD_MS = 900;

/**
 * Moves OUT of a tenant database (migration 0078) under continuous writes to the organization and to another:
 * into another tenant database, back to pooled, into its own schema (the moves into one: database-move.test.ts), with
 * every acknowledged write once where it now lives and nothing of it left in any database it left (placed
 * tables read from the catalog), no pair of rows ever seen half, the chain verifying with every move in it,
 * and the freeze of a move out making the organization's requests wait and never the other's.
 */
describe('online moves out of a tenant database', () => {
  const f = useMoveFixture('sr_dbout', { second: true });
  let verifier: AuditVerifier;
  beforeAll(async () => {
    verifier = createAuditVerifier([createAuditSigner(await testJwtKey()).publicKey]);
  });

  type Where = 'pooled' | 'schema' | 't1' | 't2';
  const clientOf = (where: Where): pg.Client =>
    where === 't1' ? f.split.tenantAdmin : where === 't2' ? f.t2.admin : f.split.admin;
  const schemaOf = (where: Where, org: string) => (where === 'schema' ? tenantSchemaName(org) : 'public');
  /** The organization's rows per placed table (from the catalog) where it is or was. */
  const placedRows = (where: Where, org: string) => placedRowsIn(clientOf(where), org, schemaOf(where, org));
  const projectIds = async (where: Where, org: string) =>
    (
      await clientOf(where).query<{ id: string }>(
        `select id::text from "${schemaOf(where, org)}".projects where organization_id = $1`,
        [org],
      )
    ).rows.map((r) => r.id);
  const targetOf = (where: Where) =>
    where === 't1' ? 'database:t1' : where === 't2' ? 'database:t2' : where;

  /** Runs the legs under one load (the organization's writers pausing 5 ms between writes), checking after
   *  each its record, the placement and that nothing is left where the organization was. */
  async function underLoad(org: string, other: string, legs: [Where, Where][], holdLast: boolean) {
    const load = moveLoad(f.tenancy, org, other, 5);
    await sleep(300);
    let last: PlacementMove | undefined;
    try {
      for (const [from, to] of legs) {
        const moves = f.engine({
          settleMs: 250,
          regionOf: (key) => (key === 't2' ? 'eu' : undefined),
          duringFreeze: holdLast && from === legs.at(-1)![0] ? () => sleep(FREEZE_HOLD_MS) : undefined,
        });
        const started = await moves.start(org, targetOf(to), 'test');
        const done = await moves.run(started.id);
        expect(done, `${from} → ${to}`).toMatchObject({
          step: 'done',
          from: from.startsWith('t') ? 'database' : from,
          fromDatabaseKey: from.startsWith('t') ? from : null,
        });
        expect(await f.placement(org)).toEqual({
          kind: to.startsWith('t') ? 'database' : to,
          database_key: to.startsWith('t') ? to : null,
          state: 'active',
        });
        // Nothing of it is left where it was (a schema it left is dropped).
        expect(await placedRows(from, org), `left in ${from}`).toEqual({});
        last = done;
        await sleep(200);
      }
    } finally {
      await sleep(300);
      await load.stop();
    }
    expect(load.errors).toEqual([]);
    expect(load.halfPairs).toEqual([]);
    if (!last) throw new Error('no leg ran');
    return { load, last };
  }

  it('moves t1 → t2 → pooled under load: nothing lost, doubled, mixed or left behind', async () => {
    const org = await f.inT1('out', 12);
    const other = await f.newOrg('other', 2);
    const { load, last } = await underLoad(
      org,
      other,
      [
        ['t1', 't2'],
        ['t2', 'pooled'],
      ],
      true,
    );

    // Every acknowledged write once, in the control database's pooled tables; none anywhere else.
    const ids = await projectIds('pooled', org);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of load.acked) expect(ids, `acknowledged ${id}`).toContain(id);
    for (const id of load.deleted) expect(ids).not.toContain(id);
    expect(ids.length).toBe(load.acked.size + 12);
    for (const where of ['t1', 't2'] as const) expect(await placedRows(where, org)).toEqual({});
    expect((await projectIds('pooled', other)).length).toBe(load.otherAcked.size + 2);

    // The databases it left keep a tombstone of its row (no name), their record of the move says done.
    for (const c of [f.split.tenantAdmin, f.t2.admin]) {
      const row = await c.query<{ slug: string; name: string }>(
        'select slug, name from organizations where id = $1',
        [org],
      );
      expect(row.rows).toEqual([{ slug: `org-${org}`, name: `org-${org}` }]);
    }
    // Its region: recorded by the move into t2 (region eu's database), none once it left.
    const region = await f.split.admin.query('select region from organizations where id = $1', [org]);
    expect(region.rows[0]).toEqual({ region: null });

    // The last freeze: the organization's requests waited, the other's did not.
    const waited = freezeLatencies(load, last.switchedAt!, FREEZE_HOLD_MS);
    expect(waited.org).toBeGreaterThanOrEqual(FREEZE_HOLD_MS / 2);
    expect(waited.other).toBeLessThan(FREEZE_HOLD_MS / 3);

    // The chain verifies, with each move once in it, where it lives now.
    expect((await verifyOrganizationChain(f.tenancy.withTenant, verifier, org)).valid).toBe(true);
    const moved = await f.split.admin.query<{ m: { from: string; to: string } }>(
      `select metadata as m from audit_events where organization_id = $1 and action = 'organization.placement_moved'
        order by seq`,
      [org],
    );
    expect(moved.rows.map((r) => `${r.m.from} → ${r.m.to}`)).toEqual([
      'pooled → database:t1',
      'database:t1 → database:t2',
      'database:t2 → pooled',
    ]);
    const paired = await f.split.admin.query<{ n: number }>(
      `select count(*)::int as n from audit_events where organization_id = $1 and action = 'project.paired'`,
      [org],
    );
    expect(paired.rows[0]!.n).toBe(load.pairsAcked.n);
  }, 180_000);

  it('moves t1 → its own schema under load, the chain whole there', async () => {
    const org = await f.inT1('outs', 8);
    const other = await f.newOrg('others', 1);
    const { load } = await underLoad(org, other, [['t1', 'schema']], false);
    const ids = await projectIds('schema', org);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of load.acked) expect(ids, `acknowledged ${id}`).toContain(id);
    expect(ids.length).toBe(load.acked.size + 8);
    expect(await placedRows('pooled', org)).toEqual({});
    expect(await placedRows('t1', org)).toEqual({});
    expect((await verifyOrganizationChain(f.tenancy.withTenant, verifier, org)).valid).toBe(true);
  }, 120_000);
});
