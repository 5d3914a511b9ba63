import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { newPlacementOrg, placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { recordAuditEvents } from '../../../test/support/audit.js';
import { verifyOrganizationChain } from '../../modules/audit/audit-verification.js';
import { systemCtx } from '../tenancy/context.js';
import { tenantSchemaName } from '../tenancy/placed-tables.js';
import { auditSealOrganizations } from '../tenancy/privileged.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { createAuditSealer } from './sealer.js';
import { createAuditVerifier } from './signing.js';
import { unsealedEvents } from './seal.js';

/**
 * `app_audit_seal_many` (migration 0070): the batches of several organizations in one transaction, on a
 * database of its own (an organization is placed in its own schema here).
 */
describe('audit sealing of several organizations in one transaction (real PostgreSQL)', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let runtime: pg.Client;
  let placed: string;
  const verifier = createAuditVerifier([]);

  const record = (org: string, n: number) => recordAuditEvents(tenancy.withTenant, systemCtx(org, 'test'), n);
  const sealMany = (orgs: (string | null)[], max = 500, budget = 100_000) =>
    auditSealOrganizations(tenancy.control.pool, orgs as string[], max, budget);
  /** The organization's chain, as the superuser reads it in `nsp`. */
  const seqs = async (org: string, nsp = 'public') =>
    (
      await admin.query<{ seq: string }>(
        `select seq from "${nsp}".audit_events where organization_id = $1 order by seq`,
        [org],
      )
    ).rows.map((r) => Number(r.seq));
  const chain = (org: string) => seqs(org, org === placed ? tenantSchemaName(placed) : 'public');
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const expectVerified = async (org: string, n: number) =>
    expect(await verifyOrganizationChain(tenancy.withTenant, verifier, org)).toMatchObject({
      valid: true,
      entriesChecked: n,
      lastSeq: n,
      unsealed: { count: 0, oldestOccurredAt: null },
    });

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_seal_many');
    tenancy = createTenancy({ url: own.url, poolSize: 8 });
    admin = await connect(own.adminUrl);
    runtime = await connect(own.url);
    placed = await newPlacementOrg(tenancy, 'sm-placed');
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, placed);
    tenancy.router.invalidate(placed);
  }, 120_000);
  afterAll(async () => {
    await runtime?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('seals pooled organizations and a schema-placed one in one call: gapless chains that verify, each in its place', async () => {
    const pooled = await Promise.all([1, 2, 3, 4].map((i) => newPlacementOrg(tenancy, `sm-pooled${i}`)));
    const orgs = [...pooled, placed];
    const before = new Map(
      await Promise.all(
        orgs.map(async (o) => [o, (await unsealedEvents(tenancy.withTenant, o)).count] as const),
      ),
    );
    for (const [i, org] of orgs.entries()) await record(org, 3 + i);
    // Batches of 2: three calls seal them all, each organization's events in pending order.
    const counts: Map<string, number>[] = [];
    for (let i = 0; i < 4; i++) counts.push(await sealMany(orgs, 2));
    expect(counts[0]!.size).toBe(orgs.length);
    for (const [i, org] of orgs.entries()) {
      const n = 3 + i + before.get(org)!;
      expect(
        counts.reduce((s, c) => s + c.get(org)!, 0),
        org,
      ).toBe(n);
      expect(await chain(org)).toEqual(upTo(n));
      await expectVerified(org, n);
    }
    // The placed organization's seal landed in its schema, nothing in public's tables.
    expect(await seqs(placed)).toEqual([]);
    const pub = await admin.query('select 1 from public.audit_pending where organization_id = $1', [placed]);
    expect(pub.rows).toEqual([]);
  });

  it('concurrent callers (orders reversed, writers meanwhile) neither deadlock nor seal an event twice', async () => {
    const orgs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => newPlacementOrg(tenancy, `sm-conc${i}`)),
    );
    const all = [...orgs, placed];
    await sealMany(all); // what their creation recorded
    const before = new Map(await Promise.all(all.map(async (o) => [o, (await chain(o)).length] as const)));
    let sealed = 0;
    const seal = async (list: string[]) => {
      for (let i = 0; i < 8; i++) {
        for (const n of (await sealMany(list, 3)).values()) if (n > 0) sealed += n;
      }
    };
    await Promise.all([
      ...all.map((org) => record(org, 10)),
      seal(all),
      seal([...all].reverse()),
      seal([all[3]!, all[0]!, all[5]!, all[6]!]),
      seal(all),
    ]);
    for (const n of (await sealMany(all, 500)).values()) sealed += n;
    expect(sealed).toBe(all.length * 10);
    for (const org of all) {
      const n = before.get(org)! + 10;
      expect(await chain(org)).toEqual(upTo(n));
      await expectVerified(org, n);
    }
  });

  it('skips and reports (-1) an organization whose chain head another sealer holds', async () => {
    const [busy, free] = await Promise.all([
      newPlacementOrg(tenancy, 'sm-busy'),
      newPlacementOrg(tenancy, 'sm-free'),
    ]);
    await record(busy, 1);
    await sealMany([busy]); // its head exists from now on
    await record(busy, 2);
    await record(free, 2);
    // A per-organization seal, in busy's scope, holding its head until it ends.
    const holder = await connect(own.url);
    onTestFinished(() => holder.end());
    await holder.query('begin');
    await holder.query(`select set_config('app.tenant_id', $1, true)`, [busy]);
    await holder.query('select app_audit_seal($1, 1, true)', [busy]);
    const counts = await sealMany([busy, free]);
    expect(counts.get(busy)).toBe(-1);
    expect(counts.get(free)).toBe(2);
    await holder.query('commit');
    expect((await sealMany([busy])).get(busy)).toBe(1);
    expect(await seqs(busy)).toEqual(upTo(3));
    await expectVerified(busy, 3);
  });

  it('ignores nulls and duplicates, reports 0 for an unknown organization, -2 for one not on this database', async () => {
    const org = await newPlacementOrg(tenancy, 'sm-list');
    const elsewhere = await newPlacementOrg(tenancy, 'sm-elsewhere');
    const noSchema = await newPlacementOrg(tenancy, 'sm-noschema');
    await admin.query(
      `update tenant_placements set kind = 'database', database_key = 'other' where organization_id = $1`,
      [elsewhere],
    );
    await admin.query(
      `update tenant_placements set kind = 'schema', schema_version = 'x' where organization_id = $1`,
      [noSchema],
    );
    await record(org, 2);
    const unknown = randomUUID();
    const counts = await sealMany([null, org, unknown, org, null, elsewhere, noSchema, org]);
    expect([...counts.entries()].sort()).toEqual(
      [
        [org, 2],
        [unknown, 0],
        [elsewhere, -2],
        [noSchema, -2],
      ].sort(),
    );
    expect(await seqs(org)).toEqual(upTo(2));
    expect((await sealMany([])).size).toBe(0);
    await expect(sealMany(Array.from({ length: 1001 }, () => randomUUID()))).rejects.toThrow(/at most 1000/);
  });

  it('stops at its budget: the organizations after it are reported -3 and left untouched', async () => {
    const orgs = (await Promise.all([1, 2, 3].map((i) => newPlacementOrg(tenancy, `sm-budget${i}`)))).sort();
    await sealMany(orgs); // what their creation recorded
    for (const org of orgs) await record(org, 3);
    // A budget of 4: the first organization seals 3, the second 3 more (it was under 4 when it started).
    const counts = await sealMany(orgs, 500, 4);
    expect(orgs.map((o) => counts.get(o))).toEqual([3, 3, -3]);
    expect((await chain(orgs[2]!)).length).toBe(0);
    expect((await sealMany([orgs[2]!], 500, 4)).get(orgs[2]!)).toBe(3);
  });

  it('leaves a moving organization to the per-organization path (-2) without waiting for its move lock', async () => {
    const org = await newPlacementOrg(tenancy, 'sm-moving');
    await record(org, 2);
    await admin.query(`update tenant_placements set state = 'moving' where organization_id = $1`, [org]);
    const freeze = await connect(own.adminUrl);
    onTestFinished(() => freeze.end());
    await freeze.query('begin');
    await freeze.query('select pg_advisory_xact_lock(app_placement_move_key($1))', [org]);
    // The switch holds the move lock: the call answers at once, the organization untouched.
    expect((await sealMany([org])).get(org)).toBe(-2);
    await freeze.query('commit');
    await admin.query(`update tenant_placements set state = 'active' where organization_id = $1`, [org]);
    expect((await sealMany([org])).get(org)).toBe(2);
  });

  it('is refused inside a tenant scope and to the worker role; its helper is nobody’s', async () => {
    const org = await newPlacementOrg(tenancy, 'sm-refused');
    await record(org, 1);
    await runtime.query('begin');
    await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
    await expect(
      runtime.query('select * from app_audit_seal_many($1::uuid[], 10, 100)', [[org]]),
    ).rejects.toThrow(/refused inside a tenant scope/);
    await runtime.query('rollback');
    await expect(runtime.query('select app_audit_seal_org($1, 10, true)', [org])).rejects.toThrow(
      /permission denied/,
    );
    const worker = await connect(own.workerUrl);
    onTestFinished(() => worker.end());
    await expect(
      worker.query('select * from public.app_audit_seal_many($1::uuid[], 10, 100)', [[org]]),
    ).rejects.toThrow(/permission denied/);
    // Counts only: the organization and how many it sealed.
    const res = await runtime.query('select * from app_audit_seal_many($1::uuid[], 10, 100)', [[org]]);
    expect(res.fields.map((f) => f.name)).toEqual(['org', 'sealed']);
    expect(res.rows).toEqual([{ org, sealed: 1 }]);
  });

  it('the in-process sealer seals its due organizations through it, the placed one included', async () => {
    const orgs = await Promise.all([1, 2, 3].map((i) => newPlacementOrg(tenancy, `sm-sealer${i}`)));
    const all = [...orgs, placed];
    await sealMany(all); // what their creation recorded
    const before = new Map(await Promise.all(all.map(async (o) => [o, (await chain(o)).length] as const)));
    const calls: number[] = [];
    const sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db],
      delayMs: 60_000,
      sealMany: (list, max, budget) => {
        calls.push(list.length);
        return auditSealOrganizations(tenancy.control.pool, list, max, budget);
      },
      perCall: 3,
    });
    onTestFinished(() => sealer.stop());
    for (const org of all) await record(org, 2);
    // Events of the control database's pooled organizations are heard; the schema-placed one's come
    // from the sweep's list (as where the job worker runs).
    sealer.startSweep(async () => [placed], 60_000);
    await sealer.flush();
    await expect
      .poll(async () => (await Promise.all(all.map(chain))).map((c) => c.length), { timeout: 10_000 })
      .toEqual(all.map((o) => before.get(o)! + 2));
    expect(calls.reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(all.length);
    expect(Math.max(...calls)).toBeLessThanOrEqual(3);
    for (const org of all) {
      const n = before.get(org)! + 2;
      expect(await chain(org)).toEqual(upTo(n));
      await expectVerified(org, n);
    }
  });
});
