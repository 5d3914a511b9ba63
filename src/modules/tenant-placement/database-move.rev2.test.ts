import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useMoveFixture } from './database-move-fixture.test-support.js';
import { uuidv7 } from '../../platform/ids.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';
import { purgeInTenantDatabase } from '../../app/compose/tenant-database-purge.js';
import { resolveMoveParts } from './move-parts.js';
import { placementMoveUnderWay } from '../../platform/tenancy/privileged-deletion.js';
import { deleteOrganization } from '../organization-lifecycle/deletion-job.js';

/**
 * Second review. The run lease is a session lock on a connection nobody watches. When that session ends
 * (a terminated backend, an idle connection cut by a proxy) the run carries on without it, and a second
 * run of the same move is accepted: two runs of one move at once, the situation the lease exists to forbid.
 */
describe('moves into a tenant database: a run whose lease session ended, and a deletion during a move', () => {
  const f = useMoveFixture('sr_dbmove_rev2');
  const { pools } = f;
  const engine = (extra: Partial<PlacementMoveDeps> = {}) => f.engine(extra);

  it('refuses a second run while the first is still running, even after the first lost its lease session', async () => {
    const org = await f.newOrg('rv2');
    let second: Promise<unknown> | undefined;
    let secondOutcome = 'not started';
    const first = engine({
      beforeFreeze: async () => {
        // The lease's session ends (what a proxy cutting an idle connection or pg_terminate_backend does).
        const killed = await f.split.admin.query(
          `select pg_terminate_backend(l.pid) from pg_locks l
            where l.locktype = 'advisory' and l.granted and l.objsubid = 2
              and l.classid = (hashtext('sr.placement_move.run')::bigint & 4294967295)::oid
              and l.objid = (hashtext($1)::bigint & 4294967295)::oid`,
          [id],
        );
        expect(killed.rowCount).toBe(1);
        await new Promise((r) => setTimeout(r, 200));
        // The first run is alive (inside its switching step, about to freeze): a second run starts.
        second = engine()
          .run(id)
          .then(
            (m) => (secondOutcome = `ran to ${m.step}`),
            (e: { code?: string; message?: string }) => (secondOutcome = `refused ${e.code ?? e.message}`),
          );
        await new Promise((r) => setTimeout(r, 1500));
      },
    });
    const id = (await first.start(org, 'database:t1', 'review')).id;
    const firstOutcome = await first.run(id).then(
      (m) => `ran to ${m.step}`,
      (e: { code?: string; message?: string }) => `failed ${e.code ?? e.message}`,
    );
    await second;
    // One run of a move at a time: the second took the lease (and a newer run number), the first, fenced
    // off, is refused at its next write into the tenant database and stops as superseded.
    expect({ firstOutcome, secondOutcome }).toEqual({
      firstOutcome: 'failed MOVE_RUNNING',
      secondOutcome: 'ran to done',
    });
  }, 120_000);
  it("an organization's deletion purges the tenant database that holds its rows, during a move into it too", async () => {
    const org = await f.newOrg('rv2d', 3);
    // A run that died between the switch's two commits: the control database decided (placement
    // database:t1, still moving); the resolver then commits the tenant database's part.
    const crashing = engine({
      afterDecision: () => {
        throw new Error('crash after the decision');
      },
    });
    const id = (await crashing.start(org, 'database:t1', 'review')).id;
    await expect(crashing.run(id)).rejects.toThrow(/crash/);
    const settled = await resolveMoveParts({
      owner: pools[pools.length - 1]!,
      target: f.targetOwner,
      minAgeMs: 0,
    });
    expect(settled.committed).toBe(1);
    // The resolver also activates the placement (what the cleaning step does first): requests route there.
    const placed = await f.split.admin.query(
      'select kind, state from tenant_placements where organization_id = $1',
      [org],
    );
    expect(placed.rows[0]).toEqual({ kind: 'database', state: 'active' });
    // The mirror is the tenant database's only: on the control database (which places the organization)
    // it is refused, so no run number or step of the move is written there by it.
    await expect(
      pools[pools.length - 1]!.query(`select app_priv_placement_xmove_mirror($1, $2, 't1', null, 99)`, [
        id,
        org,
      ]),
    ).rejects.toThrow(/placed from this database/);
    const inTenant = async () =>
      Number(
        (
          await f.split.tenantAdmin.query<{ n: string }>(
            'select count(*) as n from projects where organization_id = $1',
            [org],
          )
        ).rows[0]!.n,
      );
    expect(await inTenant()).toBe(3);
    // The deletion job does not purge while the move is under way (the router answers one of the two
    // databases holding rows): it waits, retried by its next run, for the move to end or be aborted.
    const worker = new pg.Pool({ connectionString: f.split.control.workerUrl, max: 1 });
    pools.push(worker);
    expect(await placementMoveUnderWay(worker, org)).toBe(true);
    const waited = await deleteOrganization(
      {
        workerPool: worker,
        shredder: undefined as never,
        now: () => new Date(),
        organizationChanged: () => {},
        purgeTenantDatabase: () => Promise.reject(new Error('purged during the move')),
        moveUnderWay: (id) => placementMoveUnderWay(worker, id),
      },
      { organizationId: org, phase: 'purging' },
    );
    expect(waited).toBe(false);
    // The move ends (a later run cleans); then the deletion's tenant database part (as the composition
    // wires it), before its control purge (which removes the placement record), empties the database
    // that holds the organization's rows, and the control database holds none of them.
    expect((await engine().run(id)).step).toBe('done');
    expect(await placementMoveUnderWay(worker, org)).toBe(false);
    f.tenancy.router.invalidate(org);
    const purged = await purgeInTenantDatabase(
      f.tenancy,
      { tenantDatabases: { databases: { t1: { workerUrl: f.split.tenant.workerUrl } } } },
      org,
      100,
    );
    const inControl = await f.split.admin.query('select 1 from projects where organization_id = $1', [org]);
    // Its 3 projects and, the move ended, what the switch admitted there (its audit event, its row).
    expect(purged).toBeGreaterThanOrEqual(3);
    expect({ left: await inTenant(), inControl: inControl.rowCount }).toEqual({ left: 0, inControl: 0 });
  }, 120_000);
  it('two runs of one move (the first lost its lease) do not undo an acknowledged update', async () => {
    const org = await f.newOrg('rv2u', 0);
    const x = uuidv7();
    await f.tenancy.withTenant(org, (t) =>
      t.insertInto('projects').values({ organization_id: org, id: x, name: 'v0' }).execute(),
    );
    const rename = (name: string) =>
      f.tenancy.withTenant(org, (t) =>
        t
          .updateTable('projects')
          .set({ name })
          .where('organization_id', '=', org)
          .where('id', '=', x)
          .execute(),
      );
    // The second run's tenant database pool: its upsert of row x waits at a gate.
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    let atGate!: () => void;
    const reachedGate = new Promise<void>((r) => (atGate = r));
    const gated = new pg.Pool({ connectionString: f.split.tenant.migrationUrl, max: 3 });
    gated.on('error', () => {});
    pools.push(gated);
    const origQuery = gated.query.bind(gated) as (...a: unknown[]) => Promise<unknown>;
    (gated as unknown as { query: unknown }).query = async (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : '';
      const params = (args[1] ?? []) as unknown[];
      if (
        text.includes('app_priv_placement_xmove_import') &&
        params[1] === 'projects' &&
        String(params[3]).includes(x)
      ) {
        atGate();
        await gate;
      }
      return origQuery(...args);
    };
    let second: Promise<unknown> | undefined;
    const first = engine({
      beforeFreeze: async () => {
        await rename('v1'); // after the copy: the second run's first round reads it
        await f.split.admin.query(
          `select pg_terminate_backend(l.pid) from pg_locks l
            where l.locktype = 'advisory' and l.granted and l.objsubid = 2
              and l.classid = (hashtext('sr.placement_move.run')::bigint & 4294967295)::oid
              and l.objid = (hashtext($1)::bigint & 4294967295)::oid`,
          [id],
        );
        await new Promise((r) => setTimeout(r, 200));
        second = engine({ targetOwner: (key) => (key === 't1' ? gated : undefined) })
          .run(id)
          .catch(() => undefined);
        await reachedGate; // the second run holds v1, read in its round's snapshot
        await rename('v2'); // acknowledged: the first run's freeze carries it
      },
      afterDecision: async () => {
        openGate(); // the second run's upsert passes its step check (the mirror still says switching)
        await new Promise((r) => setTimeout(r, 500));
      },
    });
    const id = (await first.start(org, 'database:t1', 'review')).id;
    // The first run, fenced off by the second's run number, stops before its decision (it never reaches
    // afterDecision): the second's gated upsert goes on once the first has ended.
    const firstOutcome = await first.run(id).then(
      (m) => `ran to ${m.step}`,
      (e: { code?: string }) => `failed ${e.code ?? ''}`,
    );
    openGate();
    await second;
    expect(firstOutcome).toBe('failed MOVE_RUNNING');
    const row = await f.split.tenantAdmin.query<{ name: string }>('select name from projects where id = $1', [
      x,
    ]);
    const moved = await f.split.admin.query<{ step: string }>(
      'select step from placement_moves where id = $1',
      [id],
    );
    // The move ends done, the source discarded: the acknowledged v2 is nowhere.
    expect({ step: moved.rows[0]?.step, name: row.rows[0]?.name }).toEqual({ step: 'done', name: 'v2' });
  }, 120_000);
});
