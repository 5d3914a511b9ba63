/**
 * Hostile review of audit verification (src/platform/audit/verify-chain.ts): tampering by the database
 * owner (test/support/audit.ts `tamperAuditAsOwner`: the role that can lift every guard, whose rewrites the
 * audit log promises to catch). A chain that starts at seq k > 1 is accepted whenever a signed checkpoint
 * sits at k - 1 — that is how a retention purge looks. Nothing checked that a purge could have happened:
 * that the cut entries were past the organization's audit retention. So the owner deletes every entry up
 * to the latest signed checkpoint (they are signed hourly, and on demand by any `audit:read` holder), and
 * the checkpoints below it, and `GET /v1/audit-logs/verify` answers `valid: true` over minutes-old
 * history that is gone: the cut was only visible as `anchorSeq`, which the API described as a purge.
 * Fixed (migration 0068): a cut at a checkpoint signed within the retention the purge recorded (at least a
 * day) is a break, `cut_before_retention`.
 */
import { describe, expect, it } from 'vitest';
import { tamperAuditAsOwner } from '../support/audit.js';
import { connect } from '../support/tenancy.js';
import type { ProvisionedDatabase } from '../support/provision.js';
import { createOrg, inOrg, ownDatabaseAround, signUp, startAppAround, type E2eApp } from './helpers.js';

// A database of its own: the owner's tampering lifts audit_events' guard trigger and forced row security
// (DDL, ACCESS EXCLUSIVE until its commit), which other files' audited requests would queue behind.
let own: ProvisionedDatabase;
ownDatabaseAround('sr_review5_cut', (db) => (own = db));
let c: E2eApp;
startAppAround(
  (started) => (c = started),
  () => ({ database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl } }),
);

describe('review5: audit chain cut at a checkpoint', () => {
  it('deleting the newest-but-checkpointed entries of a live organization is reported as a break', async () => {
    const owner = await signUp(c, 'audit-cut');
    const org = await createOrg(owner.browser, 'audit-cut');
    for (const name of ['evidence-1', 'evidence-2', 'evidence-3']) {
      const res = await owner.browser.post('/v1/projects', { name }, inOrg(org.id));
      expect(res.statusCode, res.body).toBe(201);
    }
    const cp = await owner.browser.post('/v1/audit-logs/checkpoints', {}, inOrg(org.id));
    expect(cp.statusCode, cp.body).toBe(201);
    const cut = cp.json<{ statement: { seq: number } }>().statement.seq;
    expect(cut).toBeGreaterThan(3);
    const later = await owner.browser.post('/v1/projects', { name: 'after' }, inOrg(org.id));
    expect(later.statusCode, later.body).toBe(201);
    const before = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
    expect(before.json()).toMatchObject({ valid: true, anchorSeq: null });

    // The owner removes every entry up to the checkpoint (and any checkpoint below it), minutes after
    // they were written: far inside any plan's audit retention.
    const db = await connect(own.migrationUrl);
    try {
      await tamperAuditAsOwner(db, `delete from audit_events where organization_id = $1 and seq <= $2`, [
        org.id,
        cut,
      ]);
      await db.query(`delete from audit_checkpoints where organization_id = $1 and seq < $2`, [org.id, cut]);
    } finally {
      await db.end();
    }
    const listed = await owner.browser.get('/v1/audit-logs', inOrg(org.id));
    expect(listed.body).not.toContain('evidence-1');

    // Before the fix: 200 {valid: true, anchorSeq: <cut>, breaks: []}: the deletion passes as a retention purge.
    const after = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
    expect(after.statusCode, after.body).toBe(200);
    expect(after.json<{ valid: boolean }>().valid, after.body).toBe(false);
    expect(after.json()).toMatchObject({ anchorSeq: cut, firstBrokenSeq: 1, reason: 'cut_before_retention' });
  });
});
