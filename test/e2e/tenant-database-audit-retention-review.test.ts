import { describe, expect, it } from 'vitest';
import { useAuditRetentionFixture } from './tenant-database-audit.test-support.js';
import { retentionCutDays } from '../../src/modules/audit/audit.repository.js';

/**
 * Audit retention of organizations in a tenant database (`database` placement, migration 0077): the
 * retention job's audit rule and the hourly checkpoint scan on the tenant database `eu-1` take each
 * organization's retention from the control database (its plan there), not from the organization row's
 * copy in `eu-1` (the default plan, free: 90 days). Each chain is verified afterwards, as
 * `npx saasready audit verify --org` does.
 */
describe('review: the tenant database audit purge trusts the retention its caller gives', () => {
  const f = useAuditRetentionFixture('sr_auditrev');
  const { placedOn, oldHistory, seqs, verify } = f;

  it('a worker-given retention shorter than the plan cuts a chain whose head checkpoint states "kept forever"', async () => {
    // On the free plan (90 days) with a checkpoint 200 days back (stating 90), then upgraded to
    // enterprise (kept forever) and signed again: the head's checkpoint states "forever".
    const slug = 'rev-forever';
    const org = await placedOn('free', slug);
    await oldHistory(org);
    await f.admin.query(`update organizations set plan = 'enterprise' where id = $1`, [org]);
    f.tenancy.router.invalidate(org);
    await f.audit.checkpointOrganization(org);
    const stated = await f.euAdmin.query<{ retention_days: number | null }>(
      'select retention_days from audit_checkpoints where organization_id = $1 and statement_v = 2 order by seq',
      [org],
    );
    expect(stated.rows.map((r) => r.retention_days)).toEqual([90, null]);
    // The tenant database's worker role (its workerUrl) calls the purge with the old plan's period.
    const res = await f.euWorker.query<{ deleted: number }>(
      `select deleted from worker_api.app_retention_purge_audit_given(now(), null, false, 10000,
         array[$1]::uuid[], array[90])`,
      [org],
    );
    const verified = await verify(slug);
    // Wanted: nothing purged (the plan keeps it forever; docs: "never when one states kept forever").
    expect({ deleted: res.rows, seqs: await seqs(org), verifies: verified?.valid }).toEqual({
      deleted: [],
      seqs: [1, 2, 3, 4],
      verifies: true,
    });
  });
  it('verification reads the cut period from the control database row, as documented (the record the purge writes on the copy goes unused)', async () => {
    const org = await placedOn('free', 'rev-cutdays');
    await f.admin.query('update organizations set audit_retention_cut_days = 8 where id = $1', [org]);
    await f.euAdmin.query('update organizations set audit_retention_cut_days = 7 where id = $1', [org]);
    const read = await f.tenancy.withTenant(org, (db) => retentionCutDays(db, org), { mode: 'read' });
    // docs/isolation-models.md: "verification reads the control database's row".
    expect(read).toBe(8);
  });
});
