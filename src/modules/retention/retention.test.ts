import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { connect, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { uuidv7 } from '../../platform/ids.js';
import { GDPR_DEFAULTS } from '../../platform/config-gdpr.js';
import { recordRetentionAudit, retentionPurge } from '../../platform/tenancy/privileged-gdpr.js';
import { webhookRetentionPurge } from '../../platform/tenancy/privileged-retention.js';
import { webhookRetentionRules } from '../webhooks/webhook-retention.js';
import { builtInRetentionRules, runRetention } from './retention.js';

const log = pino({ level: 'silent' });

/**
 * The retention job on a database of its own (it deletes across every organization and user): rows past
 * their period go, the others stay, each run is audited with its counts in the platform chain, and a
 * second run finds nothing more to delete.
 */
describe('retention', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let org: string;
  const user = uuidv7();
  const kept: Record<string, string[]> = {};

  const run = () =>
    runRetention({
      rules: [
        ...builtInRetentionRules(GDPR_DEFAULTS.retention, (kind, cutoff, limit) =>
          retentionPurge(workerPool, kind, cutoff, limit),
        ),
        ...webhookRetentionRules(GDPR_DEFAULTS.retention.webhooks, (kind, cutoff, limit) =>
          webhookRetentionPurge(workerPool, kind, cutoff, limit),
        ),
      ],
      audit: (event) => recordRetentionAudit(createPlatformDb(workerPool), 'job:retention_purge', event),
      log,
    });

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_retention');
    tenancy = createTenancy({ url: own.url, poolSize: 2 });
    admin = await connect(own.adminUrl);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    org = (await createBareOrganization(tenancy.withTenant, { slug: 'ret-a', name: 'A' })).id;
    await admin.query(
      `insert into users (id, email, email_normalized) values ($1, 'r@ret.test', 'r@ret.test')`,
      [user],
    );
    const q = (text: string, values: unknown[] = []) => admin.query<{ id: string }>(text, values);
    const session = `insert into sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at, revoked_at)
      values (gen_random_uuid(), $1, sha256(gen_random_uuid()::text::bytea), now() + $2::interval, now() + $3::interval, $4)
      returning id`;
    // 2,500 sessions expired 40 days ago (more than two batches), one revoked 40 days ago: purged (30 days).
    await q(
      `insert into sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at)
         select gen_random_uuid(), $1, sha256(gen_random_uuid()::text::bytea), now() - interval '40 days',
                now() - interval '40 days' from generate_series(1, 2500)`,
      [user],
    );
    await q(session, [user, '1 hour', '1 day', new Date(Date.now() - 40 * 86_400_000)]);
    kept.sessions = [
      (await q(session, [user, '-5 days', '-5 days', null])).rows[0]!.id,
      (await q(session, [user, '1 hour', '1 day', null])).rows[0]!.id,
    ];
    const refresh = `insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at)
      values (gen_random_uuid(), gen_random_uuid(), $1, sha256(gen_random_uuid()::text::bytea), now() + $2::interval)
      returning id`;
    await q(refresh, [user, '-40 days']);
    kept.refresh_tokens = [(await q(refresh, [user, '-5 days'])).rows[0]!.id];
    const email = `insert into email_tokens (id, user_id, purpose, token_hash, expires_at)
      values (gen_random_uuid(), $1, 'verify_email', sha256(gen_random_uuid()::text::bytea), now() + $2::interval)
      returning id`;
    await q(email, [user, '-10 days']);
    kept.email_tokens = [(await q(email, [user, '1 day'])).rows[0]!.id];
    // Each with its global lookup row (migration 0047), which the purge takes with the invitation.
    const invitation = `with i as (insert into invitations (organization_id, id, email_normalized, role, token_hash,
        status, expires_at, accepted_at)
      values ($1, gen_random_uuid(), gen_random_uuid() || '@ret.test', 'member', sha256(gen_random_uuid()::text::bytea),
        $2, now() + $3::interval, $4) returning organization_id, id, token_hash)
      insert into invitation_lookup (token_hash, organization_id, invitation_id)
        select token_hash, organization_id, id from i returning invitation_id as id`;
    await q(invitation, [org, 'accepted', '-95 days', new Date(Date.now() - 100 * 86_400_000)]);
    await q(invitation, [org, 'pending', '-100 days', null]);
    kept.invitations = [
      (await q(invitation, [org, 'pending', '-10 days', null])).rows[0]!.id,
      (await q(invitation, [org, 'revoked', '2 days', null])).rows[0]!.id,
    ];
    await q(
      `insert into invitation_sends (organization_id, id, invitation_id, email_normalized, sent_at)
       values ($1, gen_random_uuid(), gen_random_uuid(), 'x@ret.test', now() - interval '100 days'),
              ($1, gen_random_uuid(), gen_random_uuid(), 'y@ret.test', now())`,
      [org],
    );
    await q(
      `insert into idempotency_keys (organization_id, scope, key, request_hash, response, created_at)
       values ($1, 's', 'old', 'h', '{}', now() - interval '10 days'), ($1, 's', 'new', 'h', '{}', now())`,
      [org],
    );
    // Export archives: one past its expiry (organization and account each), one not.
    for (const [id, expires] of [
      [uuidv7(), '-1 hour'],
      [uuidv7(), '1 hour'],
    ] as const) {
      await q(
        `insert into organization_exports (organization_id, id, requested_by, status, expires_at)
         values ($1, $2, $3, 'ready', now() + $4::interval)`,
        [org, id, user, expires],
      );
      await q(
        `insert into organization_export_chunks (organization_id, export_id, seq, data) values ($1, $2, 0, '\\x00')`,
        [org, id],
      );
      const account = uuidv7();
      await q(
        `insert into account_exports (id, user_id, status, expires_at) values ($1, $2, 'ready', now() + $3::interval)`,
        [account, user, expires],
      );
      await q(`insert into account_export_chunks (export_id, seq, data) values ($1, 0, '\\x00')`, [account]);
    }
    // Webhooks (30 days): deliveries that succeeded or went dead 40 days ago go with their attempts; a
    // pending one, a recent one, and the events they belong to stay. Dispatched events whose deliveries
    // are all gone (or had none) go; an undispatched old one stays.
    const [endpoint, other] = [uuidv7(), uuidv7()];
    await q(
      `insert into webhook_endpoints (organization_id, id, url, event_types, secret)
       values ($1, $2, 'https://hooks.ret.test/x', '{member.added}', 'sealed'),
              ($1, $3, 'https://hooks.ret.test/y', '{member.added}', 'sealed')`,
      [org, endpoint, other],
    );
    const event = async (dispatchedDaysAgo: number | null) => {
      const id = uuidv7();
      await q(
        `insert into webhook_events (organization_id, id, type, payload, occurred_at, dispatched_at)
         values ($1, $2, 'member.added', '{}', now() - interval '50 days',
                 now() - make_interval(days => $3::int))`,
        [org, id, dispatchedDaysAgo],
      );
      return id;
    };
    const delivery = async (eventId: string, status: string, updatedDaysAgo: number, to = endpoint) => {
      const id = uuidv7();
      await q(
        `insert into webhook_deliveries (organization_id, id, event_id, endpoint_id, status, attempts, updated_at)
         values ($1, $2, $3, $4, $5, 1, now() - make_interval(days => $6::int))`,
        [org, id, eventId, to, status, updatedDaysAgo],
      );
      await q(
        `insert into webhook_delivery_attempts (organization_id, id, delivery_id, attempt, trigger, started_at,
           duration_ms, response_status)
         values ($1, gen_random_uuid(), $2, 1, 'automatic', now() - make_interval(days => $3::int), 5, 500)`,
        [org, id, updatedDaysAgo],
      );
      return id;
    };
    const delivered = await event(45);
    await delivery(delivered, 'succeeded', 40);
    await delivery(delivered, 'dead', 35, other);
    const stillPending = await event(45);
    const recent = await event(5);
    kept.webhook_deliveries = [
      await delivery(stillPending, 'pending', 40),
      await delivery(recent, 'succeeded', 5),
    ];
    await event(40); // no matching endpoint: no delivery
    kept.webhook_events = [stillPending, recent, await event(null), await event(5)];
  });
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('deletes what is past its period, keeps the rest, and audits the counts in the platform chain', async () => {
    const counts = await run();
    expect(counts).toEqual({
      sessions: 2501,
      refresh_tokens: 1,
      email_tokens: 1,
      invitations: 3, // two invitations and one send
      idempotency_keys: 1,
      exports: 2,
      webhook_deliveries: 2,
      webhook_outbox: 2,
    });
    const ids = async (table: string) =>
      (await admin.query<{ id: string }>(`select id from ${table} order by id`)).rows.map((r) => r.id).sort();
    expect(await ids('sessions')).toEqual([...kept.sessions!].sort());
    expect(await ids('refresh_tokens')).toEqual(kept.refresh_tokens);
    expect(await ids('email_tokens')).toEqual(kept.email_tokens);
    expect(await ids('invitations')).toEqual([...kept.invitations!].sort());
    const lookups = await admin.query<{ id: string }>('select invitation_id as id from invitation_lookup');
    expect(lookups.rows.map((r) => r.id).sort()).toEqual([...kept.invitations!].sort());
    expect((await admin.query('select 1 from invitation_sends')).rowCount).toBe(1);
    expect((await admin.query(`select key from idempotency_keys`)).rows).toEqual([{ key: 'new' }]);
    expect((await admin.query(`select status from organization_exports order by expires_at`)).rows).toEqual([
      { status: 'expired' },
      { status: 'ready' },
    ]);
    expect((await admin.query('select 1 from organization_export_chunks')).rowCount).toBe(1);
    expect((await admin.query('select 1 from account_export_chunks')).rowCount).toBe(1);
    expect(await ids('webhook_deliveries')).toEqual([...kept.webhook_deliveries!].sort());
    expect((await admin.query('select 1 from webhook_delivery_attempts')).rowCount).toBe(2);
    expect(await ids('webhook_events')).toEqual([...kept.webhook_events!].sort());

    const events = await admin.query<{
      actor_type: string;
      actor_id: string;
      action: string;
      metadata: unknown;
    }>(`select actor_type, actor_id, action, metadata from platform_audit_events order by seq`);
    expect(events.rows).toHaveLength(1);
    expect(events.rows[0]).toMatchObject({
      actor_type: 'system',
      actor_id: 'retention',
      action: 'retention.purged',
    });
    expect(events.rows[0]!.metadata).toEqual({
      purged: [
        { kind: 'sessions', deleted: 2501, keep_days: 30 },
        { kind: 'refresh_tokens', deleted: 1, keep_days: 30 },
        { kind: 'email_tokens', deleted: 1, keep_days: 7 },
        { kind: 'invitations', deleted: 3, keep_days: 90 },
        { kind: 'idempotency_keys', deleted: 1, keep_days: 7 },
        { kind: 'exports', deleted: 2, keep_days: 0 },
        { kind: 'webhook_deliveries', deleted: 2, keep_days: 30 },
        { kind: 'webhook_outbox', deleted: 2, keep_days: 30 },
      ],
    });
  });

  it('a second run deletes nothing more, and is audited too', async () => {
    const counts = await run();
    expect(Object.values(counts)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const events = await admin.query<{ seq: string; metadata: { purged: { deleted: number }[] } }>(
      `select seq, metadata from platform_audit_events order by seq`,
    );
    expect(events.rows).toHaveLength(2);
    expect(events.rows[1]!.metadata.purged.every((p) => p.deleted === 0)).toBe(true);
    expect((await admin.query('select 1 from sessions')).rowCount).toBe(2);
  });
});
