import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { newPlacementOrg, placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { systemCtx } from '../tenancy/context.js';
import { auditSealOrganizations } from '../tenancy/privileged.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { recordAudit } from './record.js';
import { createAuditSealer } from './sealer.js';
import { sealPending, unsealedEvents } from './seal.js';

/**
 * A hostile review of `app_audit_seal_many` (migration 0070) and the in-process sealer's groups: each test
 * states what the code or docs promise, and failed before its fix.
 */
describe('the audit seal of several organizations, under review', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;

  /** `n` events of `org`, in one transaction. */
  const recordMany = (org: string, n: number) =>
    tenancy.withTenant(org, async (t) => {
      const ctx = systemCtx(org, 'test');
      for (let i = 0; i < n; i++) {
        await recordAudit(t, ctx, { action: 'project.created', target: { type: 'project', id: `p${i}` } });
      }
    });
  const pending = async (org: string) => (await unsealedEvents(tenancy.withTenant, org)).count;
  const sealMany = (orgs: readonly string[], max = 500, budget = 2000) =>
    auditSealOrganizations(tenancy.control.pool, orgs, max, budget);

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_review9');
    tenancy = createTenancy({ url: own.url, poolSize: 8 });
    admin = await connect(own.adminUrl);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('the in-process sealer hears a schema-placed organization’s events (not left to the sweep or a reader)', async () => {
    const placed = await newPlacementOrg(tenancy, 'r9-placed');
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, placed);
    tenancy.router.invalidate(placed);
    await sealMany([placed]);
    // As compose.ts builds it: the control database's handle (and tenant databases'), no sweep (a web
    // process without the job worker).
    const sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db],
      delayMs: 50,
      sealMany: (list, max, budget) => auditSealOrganizations(tenancy.control.pool, list, max, budget),
    });
    onTestFinished(() => sealer.stop());
    await recordMany(placed, 3);
    // "About five seconds after the commit ... the in-process sealer seals the due organizations"
    // (docs/audit-log.md): here 50 ms.
    await expect.poll(() => pending(placed), { timeout: 3000, interval: 100 }).toBe(0);
  });

  it('a reader of one organization does not wait for another organization’s move (a moving one is left to its own call)', async () => {
    const [a, b] = (
      await Promise.all([newPlacementOrg(tenancy, 'r9-a'), newPlacementOrg(tenancy, 'r9-b')])
    ).sort();
    await sealMany([a, b]);
    await recordMany(a, 2);
    await recordMany(b, 2);
    await admin.query(`update tenant_placements set state = 'moving' where organization_id = $1`, [b]);
    onTestFinished(async () => {
      await admin.query(`update tenant_placements set state = 'active' where organization_id = $1`, [b]);
    });
    // The move's switch of B (its move lock, exclusive) for as long as a switch takes.
    const freeze = await connect(own.adminUrl);
    onTestFinished(() => freeze.end());
    await freeze.query('begin');
    await freeze.query('select pg_advisory_xact_lock(app_placement_move_key($1))', [b]);
    let released = false;
    onTestFinished(async () => {
      if (!released) await freeze.query('rollback');
    });
    const sealing = sealMany([a, b]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A reader of A (reads seal first, waiting for the head): A is not moving, it should not wait for B.
    const reader = sealPending(tenancy.withTenant, a).then(() => 'read' as const);
    const outcome = await Promise.race([
      reader,
      new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 2000)),
    ]);
    await freeze.query('commit');
    released = true;
    await sealing;
    await reader;
    expect(outcome).toBe('read');
  });

  it('organizations with a backlog do not starve the rest of their group (each gets its share of the call’s budget)', async () => {
    const orgs = (
      await Promise.all(Array.from({ length: 5 }, (_, i) => newPlacementOrg(tenancy, `r9-fair${i}`)))
    ).sort();
    await sealMany(orgs, 100_000, 1_000_000);
    const busy = orgs.slice(0, 4);
    const quiet = orgs[4]!;
    // Each busy organization has two full batches pending; the quiet one (highest id) one event.
    await Promise.all(busy.map((o) => recordMany(o, 1000)));
    await recordMany(quiet, 1);
    const firstCount: number[] = [];
    const sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [],
      delayMs: 60_000,
      sealMany: async (list, max, budget) => {
        const counts = await auditSealOrganizations(tenancy.control.pool, list, max, budget);
        if (counts.has(quiet)) firstCount.push(counts.get(quiet)!);
        return counts;
      },
    });
    onTestFinished(() => sealer.stop());
    sealer.startSweep(async (after) => (after === null ? orgs : []), 60_000);
    await expect.poll(() => pending(quiet), { timeout: 20_000 }).toBe(0);
    // Round-robin: "one batch per organization per turn ... so one busy organization cannot starve the
    // others". The quiet organization's first turn should seal it.
    expect(firstCount[0]).toBe(1);
  });

  it('a second caller does not wait for another’s creation of an organization’s first chain head (it reports -1)', async () => {
    const org = await newPlacementOrg(tenancy, 'r9-headless');
    await recordMany(org, 1);
    const first = await connect(own.url);
    const second = await connect(own.url);
    onTestFinished(async () => {
      await first.end();
      await second.end();
    });
    await first.query('begin');
    await first.query('select * from app_audit_seal_many($1::uuid[], 500, 2000)', [[org]]);
    const started = Date.now();
    const waiting = second
      .query('select * from app_audit_seal_many($1::uuid[], 500, 2000)', [[org]])
      .then(() => Date.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await first.query('commit');
    // "taking each head with SKIP LOCKED: one another sealer holds is reported -1 and left" (0070).
    expect(await waiting).toBeLessThan(500);
  });
});
