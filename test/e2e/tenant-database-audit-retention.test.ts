import { beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { recordAuditEvents, sealAudit, systemCtx } from '../support/audit.js';
import { testAuditKey } from '../support/app.js';
import { useAuditRetentionFixture } from './tenant-database-audit.test-support.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import { auditChainsToCheckpoint } from '../../src/platform/tenancy/privileged.js';
import { GDPR_DEFAULTS } from '../../src/platform/config-gdpr.js';
import {
  checkpointListing,
  retentionRules,
  type SweepTarget,
} from '../../src/app/compose/tenant-database-sweeps.js';

/**
 * Audit retention of organizations in a tenant database (`database` placement, migration 0077): the
 * retention job's audit rule and the hourly checkpoint scan on the tenant database `eu-1` take each
 * organization's retention from the control database (its plan there), not from the organization row's
 * copy in `eu-1` (the default plan, free: 90 days). Each chain is verified afterwards, as
 * `npx saasready audit verify --org` does.
 */
describe('tenant databases: audit retention by the control database plans', () => {
  const f = useAuditRetentionFixture('sr_auditret');
  const { placedOn, oldHistory, seqs, verify } = f;
  let target: SweepTarget;
  beforeAll(() => {
    target = { pool: f.euWorker, log: pino({ level: 'silent' }), database: 'eu-1', control: f.controlWorker };
  });
  /** The retention job's audit rule on `eu-1`, run to the end. */
  async function auditRetention(): Promise<number> {
    const rule = retentionRules(target, GDPR_DEFAULTS.retention).find((r) => r.kind === 'audit_events')!;
    let total = 0;
    for (;;) {
      const n = await rule.purgeBatch(new Date(), 10_000);
      total += n;
      if (n === 0) return total;
    }
  }

  it('purges, by the plan of the control database, the events before a signed checkpoint; keeps the rest', async () => {
    // `pro` (365 days) in the tenant database's seeded catalog; 30 days in the control database's.
    await f.admin.query(`update plans set audit_retention_days = 30 where key = 'pro'`);
    const shortSlug = 'ret-short';
    const short = await placedOn('pro', shortSlug);
    const foreverSlug = 'ret-forever';
    const forever = await placedOn('enterprise', foreverSlug);
    const upgradedSlug = 'ret-upgraded';
    const upgraded = await placedOn('free', upgradedSlug);
    for (const org of [short, forever, upgraded]) await oldHistory(org);
    // Upgraded in the control database after its old checkpoint (which states the free plan's 90 days).
    await f.admin.query(`update organizations set plan = 'enterprise' where id = $1`, [upgraded]);
    // The copies in eu-1 are all on the default plan (free, 90 days): were it applied, all three would be cut.
    const copies = await f.euAdmin.query<{ plan: string }>(
      'select distinct plan from organizations where id = any ($1::uuid[])',
      [[short, forever, upgraded]],
    );
    expect(copies.rows).toEqual([{ plan: 'free' }]);

    expect(await auditRetention()).toBe(3);
    expect(await seqs(short)).toEqual([4]);
    expect(await seqs(forever)).toEqual([1, 2, 3, 4]);
    expect(await seqs(upgraded)).toEqual([1, 2, 3, 4]);
    // The cut's checkpoint (seq 3) is kept: the chain still verifies from it.
    const checkpoints = await f.euAdmin.query<{ seq: string }>(
      'select seq from audit_checkpoints where organization_id = $1 order by seq',
      [short],
    );
    expect(checkpoints.rows.map((r) => Number(r.seq))).toEqual([3]);
    for (const slug of [shortSlug, foreverSlug, upgradedSlug]) {
      expect(await verify(slug)).toMatchObject({ valid: true });
    }
    // Nothing due any more.
    expect(await auditRetention()).toBe(0);
  });

  it('the hourly scan compares a tenant database chain with the retention of its control database plan', async () => {
    const slug = 'scan-enterprise';
    const org = await placedOn('enterprise', slug);
    await recordAuditEvents(f.tenancy.withTenant, systemCtx(org), 2);
    await sealAudit(f.tenancy.withTenant, org);
    const kid = (await testAuditKey()).kid;
    const listed = () => checkpointListing(target, kid)(null, 500);
    expect(await listed()).toContain(org);
    // Signed (stating "forever", the control database's enterprise plan): no longer listed.
    await f.audit.checkpointOrganization(org);
    const stated = await f.euAdmin.query<{ retention_days: number | null }>(
      'select retention_days from audit_checkpoints where organization_id = $1',
      [org],
    );
    expect(stated.rows).toEqual([{ retention_days: null }]);
    expect(await listed()).not.toContain(org);
    // The plain scan there compares with the copy's plan (free: 90 days), and would list it every hour.
    expect(await auditChainsToCheckpoint(f.euWorker, kid, null, 500)).toContain(org);
    // A plan change in the control database lists it again (its head's checkpoint states another one).
    await f.admin.query(`update organizations set plan = 'free' where id = $1`, [org]);
    expect(await listed()).toContain(org);
  });

  it('the control database lists only the organizations placed in that tenant database', async () => {
    const elsewhere = (await createBareOrganization(f.tenancy.withTenant, { slug: 'ret-ctl', name: 'c' })).id;
    const placed = await f.controlWorker.query<{ organization_id: string }>(
      `select organization_id from worker_api.app_retention_audit_placed('eu-1', now(), null, false, 1000)`,
    );
    expect(placed.rows.map((r) => r.organization_id)).not.toContain(elsewhere);
    expect(placed.rows.length).toBeGreaterThanOrEqual(4);
  });

  it("the tenant database purge never cuts by less than the chain's newest checkpoint states, and refuses an organization given twice", async () => {
    await f.admin.query(`update plans set audit_retention_days = 365 where key = 'pro'`);
    const slug = 'ret-raised';
    // On the free plan (90 days) with a checkpoint 200 days back stating 90, then upgraded to pro (365
    // days) and signed again: the newest checkpoint states 365, the shortest of them 90.
    const org = await placedOn('free', slug);
    await oldHistory(org);
    await f.admin.query(`update organizations set plan = 'pro' where id = $1`, [org]);
    f.tenancy.router.invalidate(org);
    await f.audit.checkpointOrganization(org);
    const stated = await f.euAdmin.query<{ retention_days: number | null }>(
      'select retention_days from audit_checkpoints where organization_id = $1 and statement_v = 2 order by seq',
      [org],
    );
    expect(stated.rows.map((r) => r.retention_days)).toEqual([90, 365]);
    const given = (orgs: string[], days: number[]) =>
      f.euWorker.query(
        `select * from worker_api.app_retention_purge_audit_given(now(), null, false, 10000,
           $1::uuid[], $2::integer[])`,
        [orgs, days],
      );
    // A worker caller giving 90 days (the old plan's) for events 200 days old: raised to the 365 stated.
    expect((await given([org], [90])).rows).toEqual([]);
    expect(await seqs(org)).toEqual([1, 2, 3, 4]);
    await expect(given([org, org], [400, 1])).rejects.toThrow(/given twice/);
    expect(await seqs(org)).toEqual([1, 2, 3, 4]);
    expect(await verify(slug)).toMatchObject({ valid: true });
  });
});
