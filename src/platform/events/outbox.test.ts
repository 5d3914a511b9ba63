import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { queuedJobs } from '../../../test/support/jobs.js';
import { recordAudit } from '../audit/record.js';
import { systemCtx } from '../tenancy/context.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { AUDIT_EVENTS, EVENT_TYPES, isEventPattern, matchesEventFilter } from './catalog.js';
import { DISPATCH_TASK } from './outbox.js';

/**
 * The outbox: every audit action of the mapping table emits exactly one domain event, in the transaction of
 * the change (rolled back: none), only while the organization has an enabled endpoint, with one dispatch
 * job per transaction.
 *
 * A database of its own, where no job worker runs: the tests read the dispatch jobs they queued, which
 * the job workers of other files' apps on the suite's database take (and run) as soon as they are queued.
 */
describe('domain events outbox', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let org: string;
  let quiet: string;

  const eventsWith = async (id: string) =>
    (
      await admin.query<{
        type: string;
        payload: { id: string; type: string; data: Record<string, unknown> };
      }>('select type, payload from webhook_events where id = $1', [id])
    ).rows;
  const dispatchJobs = async (o: string) =>
    (await queuedJobs(admin, DISPATCH_TASK)).filter((j) => j.tenantId === o);

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_outbox');
    tenancy = createTenancy({ url: own.url, poolSize: 2, setter: defaultTestSetter() });
    admin = await connect(own.adminUrl);
    org = await createTestOrg(tenancy, 'outbox');
    quiet = await createTestOrg(tenancy, 'outbox-quiet');
    // An enabled endpoint (its secret is never opened here: no worker runs on this database).
    await admin.query(
      `insert into webhook_endpoints (organization_id, id, url, event_types, secret)
       values ($1, $2, 'https://hooks.example.test/in', '{*}', 'not-opened-here')`,
      [org, randomUUID()],
    );
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('every mapped audit action emits exactly one event of its type, in the same transaction', async () => {
    expect(Object.keys(AUDIT_EVENTS).length).toBeGreaterThanOrEqual(20);
    for (const [action, mapping] of Object.entries(AUDIT_EVENTS)) {
      const target = randomUUID();
      const recorded = await tenancy.withTenant(org, (db) =>
        recordAudit(db, systemCtx(org, 'outbox-test'), {
          action,
          target: { type: 'thing', id: target },
          changes: { before: { n: 1 }, after: { n: 2 } },
          metadata: { note: 'x' },
        }),
      );
      const rows = await eventsWith(recorded.id);
      expect({ action, rows: rows.length }).toEqual({ action, rows: 1 });
      expect(rows[0]!.type).toBe(mapping.type);
      expect(rows[0]!.payload).toMatchObject({
        id: recorded.id,
        type: mapping.type,
        organization_id: org,
        actor: { type: 'system', id: 'outbox-test' },
        data: { object: 'thing', id: target, note: 'x', previous: { n: 1 }, current: { n: 2 } },
      });
      expect(EVENT_TYPES).toContain(mapping.type);
    }
  });

  it('rolled back: neither the audit event nor the domain event exists', async () => {
    let id = '';
    await expect(
      tenancy.withTenant(org, async (db) => {
        id = (
          await recordAudit(db, systemCtx(org, 'outbox-test'), {
            action: 'member.role_changed',
            target: { type: 'member', id: randomUUID() },
          })
        ).id;
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(id).not.toBe('');
    expect(await eventsWith(id)).toEqual([]);
    const pending = await admin.query('select 1 from audit_pending where id = $1', [id]);
    expect(pending.rowCount).toBe(0);
  });

  it('an action that is not mapped emits nothing; several mapped ones queue one dispatch job', async () => {
    await admin.query(`delete from graphile_worker._private_jobs where key = $1`, [
      `${org}/webhooks.dispatch`,
    ]);
    const ids = await tenancy.withTenant(org, async (db) => {
      const ctx = systemCtx(org, 'outbox-test');
      const out: string[] = [];
      for (const action of ['project.created', 'api_key.created', 'api_key.revoked', 'member.removed']) {
        out.push((await recordAudit(db, ctx, { action, target: { type: 't', id: randomUUID() } })).id);
      }
      return out;
    });
    expect(await eventsWith(ids[0]!)).toEqual([]);
    for (const id of ids.slice(1)) expect(await eventsWith(id)).toHaveLength(1);
    expect(await dispatchJobs(org)).toHaveLength(1);
  });

  it('an organization without an enabled endpoint writes no event and queues no job', async () => {
    const recorded = await tenancy.withTenant(quiet, (db) =>
      recordAudit(db, systemCtx(quiet, 'outbox-test'), {
        action: 'member.added',
        target: { type: 'member', id: randomUUID() },
      }),
    );
    expect(await eventsWith(recorded.id)).toEqual([]);
    expect(await dispatchJobs(quiet)).toEqual([]);
    const n = await tenancy.withTenant(
      quiet,
      async (db) =>
        (
          await sql<{
            n: number;
          }>`select count(*)::int as n from webhook_events where organization_id = ${quiet}`.execute(db)
        ).rows[0]!.n,
      { mode: 'read' },
    );
    expect(n).toBe(0);
  });

  it('filters: exact types, resource wildcards and *; unknown patterns refused', () => {
    expect(matchesEventFilter(['member.*'], 'member.added')).toBe(true);
    expect(matchesEventFilter(['member.*'], 'invitation.created')).toBe(false);
    expect(matchesEventFilter(['*'], 'invoice.finalized')).toBe(true);
    expect(matchesEventFilter(['api_key.created'], 'api_key.revoked')).toBe(false);
    expect(isEventPattern('member.*')).toBe(true);
    expect(isEventPattern('organization.deleted')).toBe(true);
    expect(isEventPattern('nope.*')).toBe(false);
    expect(isEventPattern('member.exploded')).toBe(false);
    expect(isEventPattern('member*')).toBe(false);
  });
});
