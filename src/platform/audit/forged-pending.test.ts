import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { systemCtx } from '../tenancy/context.js';
import { createAuditVerifier } from './signing.js';
import { verifyOrganizationChain } from '../../modules/audit/audit-verification.js';
import { recordAudit } from './record.js';
import { sealPending } from './seal.js';
import { draftEntry } from './draft.js';
import { tamperAuditAsOwner } from '../../../test/support/audit.js';

/**
 * A pending row whose canonical text (`prefix`, `suffix`) disagrees with its columns, inserted with the
 * runtime role's own INSERT (what an injection into the application could do), is sealed as it is: verify
 * reports that entry broken and goes on past it, so a later change is still reported, and sealing never
 * stops (docs/audit-log.md, "Known limit").
 *
 * A database of its own: the owner's tampering lifts audit_events' guard trigger and forced row security
 * (DDL, ACCESS EXCLUSIVE until its commit), which other files' audited reads would queue behind.
 */
describe('audit sealing and verification of forged pending rows (real PostgreSQL)', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let runtime: pg.Client;
  let owner: pg.Client;
  const verifier = createAuditVerifier([]);

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_forged_pending');
    tenancy = createTenancy({ url: db.url, poolSize: 6, setter: defaultTestSetter() });
    runtime = await connect(db.url);
    owner = await connect(db.migrationUrl);
  });
  afterAll(async () => {
    await runtime?.end();
    await owner?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  const record = (org: string, metadata: Record<string, unknown> | null = null, i = 0) =>
    tenancy.withTenant(org, (t) =>
      recordAudit(t, systemCtx(org, 'test'), {
        action: 'project.updated',
        target: { type: 'project', id: `p${i}` },
        metadata,
      }),
    );
  const verify = (org: string) => verifyOrganizationChain(tenancy.withTenant, verifier, org);
  const events = (org: string) =>
    tenancy.withTenant(
      org,
      (t) =>
        t
          .selectFrom('audit_events')
          .select(['seq', 'action'])
          .where('organization_id', '=', org)
          .orderBy('seq')
          .execute(),
      { mode: 'read' },
    );

  /** A pending row as the application drafts it (system actor, `project.created`, metadata {"n":1}), its
   *  canonical text replaced by `prefix`/`suffix`, inserted with the runtime role's own INSERT in the
   *  organization's tenant scope. */
  const insertAsRuntime = async (org: string, text?: { prefix: string; suffix: string }) => {
    const d = draftEntry(org, { kind: 'system', name: 'test' }, 'r-forged', {
      action: 'project.created',
      target: { type: 'project', id: 'p-forged' },
      metadata: { n: 1 },
    });
    const row = text ?? { prefix: d.prefix, suffix: d.suffix };
    await runtime.query('begin');
    try {
      await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await runtime.query(
        `insert into audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type, actor_id,
           action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, null, null, $11, null, $12::jsonb)`,
        [
          org,
          d.entry.id,
          d.entry.occurred_at,
          row.prefix,
          row.suffix,
          d.entry.actor.type,
          d.entry.actor.id,
          d.entry.action,
          d.entry.target.type,
          d.entry.target.id,
          d.entry.request_id,
          d.metadataJson,
        ],
      );
      await runtime.query('commit');
    } catch (err) {
      await runtime.query('rollback');
      throw err;
    }
  };

  /** Tampering as the owner role, every guard lifted. */
  const tamperAsOwner = (sql: string, params: unknown[]) => tamperAuditAsOwner(owner, sql, params);

  it('a forged text is sealed as written: verify names that seq alone, and still reports a later change', async () => {
    const org = await createTestOrg(tenancy, 'forge-repro');
    await insertAsRuntime(org, { prefix: '{"forged":', suffix: '}' });
    expect(await sealPending(tenancy.withTenant, org)).toBe(1);
    await record(org, { n: 2 }, 2);
    await record(org, { n: 3 }, 3);
    expect(await sealPending(tenancy.withTenant, org)).toBe(2);
    expect((await events(org)).map((r) => [Number(r.seq), r.action])).toEqual([
      [1, 'project.created'],
      [2, 'project.updated'],
      [3, 'project.updated'],
    ]);
    // The later real events link to the forged entry's stored hash and verify on their own.
    expect(await verify(org)).toMatchObject({
      valid: false,
      lastSeq: 3,
      firstBrokenSeq: 1,
      reason: 'hash_mismatch',
      breaks: [{ seq: 1, reason: 'hash_mismatch' }],
      breaksTruncated: false,
    });

    await tamperAsOwner(
      `update audit_events set metadata = '{"n": 99}' where organization_id = $1 and seq = 3`,
      [org],
    );
    expect(await verify(org)).toMatchObject({
      valid: false,
      firstBrokenSeq: 1,
      reason: 'hash_mismatch',
      breaks: [
        { seq: 1, reason: 'hash_mismatch' },
        { seq: 3, reason: 'hash_mismatch' },
      ],
    });
  });

  it('a forged entry in the middle: the entries before it and after it verify', async () => {
    const org = await createTestOrg(tenancy, 'forge-middle');
    await record(org, { n: 1 }, 1);
    await insertAsRuntime(org, { prefix: '{"forged":', suffix: '}' });
    await record(org, { n: 3 }, 3);
    await record(org, { n: 4 }, 4);
    expect(await sealPending(tenancy.withTenant, org)).toBe(4);
    expect(await verify(org)).toMatchObject({
      valid: false,
      lastSeq: 4,
      firstBrokenSeq: 2,
      breaks: [{ seq: 2, reason: 'hash_mismatch' }],
    });
    // A later entry deleted: the gap is reported beside the forged entry.
    await tamperAsOwner(`delete from audit_events where organization_id = $1 and seq = 3`, [org]);
    expect((await verify(org)).breaks).toMatchObject([
      { seq: 2, reason: 'hash_mismatch' },
      { seq: 3, reason: 'missing_entry' },
    ]);
  });

  it('a text that is not JSON, or empty, does not stop sealing: later events are still sealed', async () => {
    const org = await createTestOrg(tenancy, 'forge-notjson');
    await insertAsRuntime(org, { prefix: 'not json at all \\', suffix: '\u0001' });
    await insertAsRuntime(org, { prefix: '', suffix: '' });
    // The application's own draft, inserted the same way, is consistent and verifies.
    await insertAsRuntime(org);
    await record(org, { n: 4 }, 4);
    expect(await sealPending(tenancy.withTenant, org)).toBe(4);
    await record(org, { n: 5 }, 5);
    expect(await sealPending(tenancy.withTenant, org)).toBe(1);
    expect((await events(org)).map((r) => [Number(r.seq), r.action])).toEqual([
      [1, 'project.created'],
      [2, 'project.created'],
      [3, 'project.created'],
      [4, 'project.updated'],
      [5, 'project.updated'],
    ]);
    expect(await verify(org)).toMatchObject({
      valid: false,
      lastSeq: 5,
      firstBrokenSeq: 1,
      breaks: [
        { seq: 1, reason: 'hash_mismatch' },
        { seq: 2, reason: 'hash_mismatch' },
      ],
    });
  });
});
