import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../db/platform-db.js';
import { uuidv7 } from '../ids.js';
import type { Tenancy } from './tenancy.js';
import { withPlatformScope } from './platform-scope.js';
import { entryHash } from '../audit/chain.js';
import { storedEntry, type StoredAuditRow } from '../audit/stored.js';
import {
  auditChainsToCheckpoint,
  auditOrganizationsPending,
  billingOrganizations,
  stripeCustomerDeletionResult,
  stripeCustomerDeletionsDue,
  stripeOrganizations,
} from './privileged.js';
import { testPool } from '../../../test/support/pools.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest();

/**
 * Issue 8 item 3: each definer function's contract, enforced by the function itself. Every call is made
 * as the runtime role, from organization B's scope asking about organization A, and outside any scope
 * where the contract says so.
 */

/** Thrown to roll a scope back on purpose, carrying what the scope computed. */
class RolledBack extends Error {
  constructor(readonly value: unknown) {
    super('rolled back on purpose');
  }
}
/** The value a scope computed before it was rolled back with {@link RolledBack}. */
async function keptValue<T>(scope: Promise<unknown>): Promise<T> {
  try {
    await scope;
  } catch (err) {
    if (err instanceof RolledBack) return err.value as T;
    throw err;
  }
  throw new Error('the scope committed; it was meant to roll back');
}

describe('definer functions refuse outside their contract', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let platform: PlatformDb;
  let app: pg.Client;
  let owner: pg.Client; // the superuser: seeds and changes behind the runtime role's back
  let orgA: string;
  let orgB: string;
  let userA: string;
  let admin: string;
  const sessionToken = randomBytes(32).toString('base64url');
  const adminToken = randomBytes(32).toString('base64url');
  const inviteToken = randomBytes(32);
  const keyId = randomBytes(8).toString('hex');
  const keySecret = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    platform = createPlatformDb(tenancy.control.pool);
    orgA = await createTestOrg(tenancy, 'pv-a');
    orgB = await createTestOrg(tenancy, 'pv-b');
    app = await connect(db.url);
    owner = await connect(db.adminUrl);
    userA = uuidv7();
    admin = uuidv7();
    await owner.query(
      `insert into users (id, email, email_normalized, is_platform_admin) values
         ($1, $3, $3, false), ($2, $4, $4, true)`,
      [userA, admin, `pv-${userA}@example.test`, `pv-${admin}@example.test`],
    );
    await owner.query(
      `insert into sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at)
       values ($1, $2, $3, now() + interval '1 hour', now() + interval '1 hour')`,
      [uuidv7(), userA, sha(sessionToken)],
    );
    await owner.query(
      `insert into sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at)
       values ($1, $2, $3, now() + interval '1 hour', now() + interval '1 hour')`,
      [uuidv7(), admin, sha(adminToken)],
    );
    await owner.query(
      `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'owner', 'active')`,
      [orgA, userA],
    );
    // Each with its global lookup row (migration 0047), as the repositories write them.
    await owner.query(
      `with i as (insert into invitations (organization_id, id, email_normalized, role, token_hash, status,
           expires_at)
         values ($1, $2, 'x@example.test', 'member', $3, 'pending', now() + interval '1 day'))
       insert into invitation_lookup (token_hash, organization_id, invitation_id) values ($3, $1, $2)`,
      [orgA, uuidv7(), sha(inviteToken)],
    );
    await owner.query(
      `with k as (insert into api_keys (organization_id, id, key_id, name, scopes, secret_hash)
         values ($1, $2, $3, 'k', '{projects:read}', $4))
       insert into api_key_lookup (key_id, organization_id, api_key_id) values ($3, $1, $2)`,
      [orgA, uuidv7(), keyId, sha(keySecret)],
    );
  });
  afterAll(async () => {
    await app.end();
    await owner.end();
    await platform.destroy();
    await tenancy.close();
  });

  /** Runs `text` as the runtime role inside organization B's scope (rolled back). */
  async function inScopeOfB(text: string, values: unknown[]): Promise<unknown> {
    await app.query('begin');
    try {
      await app.query(`select set_config('app.tenant_id', $1, true)`, [orgB]);
      return (await app.query(text, values)).rows;
    } finally {
      await app.query('rollback');
    }
  }
  const refused = /refused|needs|must name|outside the tenant scope/;
  const appendSql = (actorId: string) =>
    `select seq from app_platform_audit_append('{}', '}', '${uuidv7()}', now(), 'user', '${actorId}',
       'flag.created', 'feature_flag', 'x', null, null, 'r', null, null)`;

  it('app_priv_organization_id_by_slug: answers outside a scope, refuses inside one', async () => {
    const slug = (await owner.query<{ slug: string }>('select slug from organizations where id = $1', [orgA]))
      .rows[0]!.slug;
    expect(await tenancy.privileged.organizationIdBySlug(slug)).toBe(orgA);
    await expect(inScopeOfB('select app_priv_organization_id_by_slug($1)', [slug])).rejects.toThrow(refused);
  });

  it('app_priv_placements_behind: a count outside a scope, refused inside one or without a migration name', async () => {
    const n = await app.query<{ n: number }>('select app_priv_placements_behind($1) as n', ['0042-x']);
    expect(n.rows[0]!.n).toBeGreaterThanOrEqual(0);
    await expect(inScopeOfB('select app_priv_placements_behind($1)', ['0042-x'])).rejects.toThrow(refused);
    await expect(app.query("select app_priv_placements_behind('x'' or true')")).rejects.toThrow(
      /must name a migration/,
    );
    // The owner role's listing and recording are not the runtime role's.
    await expect(app.query('select * from app_migrate_placements()')).rejects.toThrow(/permission denied/);
    await expect(
      app.query('select app_migrate_record_schema_version($1, $2)', [orgA, '0042-x']),
    ).rejects.toThrow(/permission denied/);
  });

  it('app_priv_invitation_by_token: only with the token, never inside a scope', async () => {
    expect(await tenancy.privileged.invitationByToken(sha(inviteToken))).toMatchObject({
      organizationId: orgA,
    });
    expect(await tenancy.privileged.invitationByToken(sha('another'))).toBeNull();
    await expect(
      inScopeOfB('select * from app_priv_invitation_by_token($1)', [sha(inviteToken)]),
    ).rejects.toThrow(refused);
  });

  it('app_priv_audit_chains_to_checkpoint: the worker role’s, not the runtime role’s; refused inside a scope', async () => {
    await expect(
      app.query('select * from worker_api.app_priv_audit_chains_to_checkpoint($1, null, 10)', ['k']),
    ).rejects.toThrow(/permission denied/);
    await expect(
      app.query('select * from public.app_priv_audit_chains_to_checkpoint($1, null, 10)', ['k']),
    ).rejects.toThrow(/does not exist/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      await expect(auditChainsToCheckpoint(workerPool, 'k', null, 10)).resolves.toBeInstanceOf(Array);
      await expectRefusedInTenantScope(
        workerPool,
        orgB,
        refused,
        'select * from worker_api.app_priv_audit_chains_to_checkpoint($1, null, 10)',
        ['k'],
      );
    } finally {
      await workerPool.end();
    }
  });

  it('app_priv_user_organizations: only for the user a live session proves, by its RAW token', async () => {
    const proof = { kind: 'session', token: sessionToken } as const;
    const mine = await tenancy.privileged.userOrganizations(userA, proof);
    expect(mine.map((o) => o.organizationId)).toEqual([orgA]);
    // The user comes from the session: no user id needed.
    const direct = await app.query(
      'select organization_id from app_priv_user_organizations($1, null, null)',
      [sessionToken],
    );
    expect(direct.rows.map((r: { organization_id: string }) => r.organization_id)).toEqual([orgA]);
    // Another user's id with A's session, a made-up token, no proof at all: refused.
    await expect(tenancy.privileged.userOrganizations(admin, proof)).rejects.toThrow(refused);
    await expect(
      tenancy.privileged.userOrganizations(userA, { kind: 'session', token: 'guess' }),
    ).rejects.toThrow(refused);
    await expect(
      tenancy.privileged.userOrganizations(userA, { kind: 'refresh_family', familyId: uuidv7() }),
    ).rejects.toThrow(refused);
    await expect(
      app.query('select * from app_priv_user_organizations(null, $1, null)', [userA]),
    ).rejects.toThrow(refused);
    // What the runtime role CAN read (the stored hash, in any spelling) proves nothing.
    const stored = await app.query<{ h: Buffer }>('select token_hash as h from sessions where user_id = $1', [
      userA,
    ]);
    for (const spelling of [
      stored.rows[0]!.h.toString('hex'),
      `\\x${stored.rows[0]!.h.toString('hex')}`,
      stored.rows[0]!.h.toString('base64url'),
    ]) {
      await expect(
        app.query('select * from app_priv_user_organizations($1, null, null)', [spelling]),
      ).rejects.toThrow(refused);
    }
    // Even with the proof, not from inside another tenant's scope.
    await expect(
      inScopeOfB('select * from app_priv_user_organizations($1, null, null)', [sessionToken]),
    ).rejects.toThrow(refused);
    // A revoked session proves nothing.
    await owner.query('update sessions set revoked_at = now() where token_hash = $1', [sha(sessionToken)]);
    await expect(tenancy.privileged.userOrganizations(userA, proof)).rejects.toThrow(refused);
    await owner.query('update sessions set revoked_at = null where token_hash = $1', [sha(sessionToken)]);
  });

  it('app_priv_user_organizations: a live refresh-token family of the user is a proof too', async () => {
    const family = uuidv7();
    await owner.query(
      `insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at)
       values ($1, $2, $3, $4, now() + interval '1 day')`,
      [uuidv7(), family, userA, sha(randomBytes(32))],
    );
    const proof = { kind: 'refresh_family', familyId: family } as const;
    expect((await tenancy.privileged.userOrganizations(userA, proof)).map((o) => o.organizationId)).toEqual([
      orgA,
    ]);
    await expect(tenancy.privileged.userOrganizations(admin, proof)).rejects.toThrow(refused);
    await owner.query('update refresh_tokens set revoked_at = now() where family_id = $1', [family]);
    await expect(tenancy.privileged.userOrganizations(userA, proof)).rejects.toThrow(refused);
  });

  it('app_priv_api_key_by_key_id: only for the key’s own secret, never its hash, never inside a scope', async () => {
    const row = await tenancy.privileged.apiKeyByKeyId(keyId, sha(keySecret));
    expect(row).toMatchObject({ organizationId: orgA });
    expect(row).not.toHaveProperty('secretHash');
    expect(await tenancy.privileged.apiKeyByKeyId(keyId, sha('wrong'))).toBeNull();
    const cols = await app.query(`select * from app_priv_api_key_by_key_id($1, $2)`, [keyId, sha(keySecret)]);
    expect(cols.fields.map((f) => f.name)).not.toContain('secret_hash');
    await expect(
      inScopeOfB('select * from app_priv_api_key_by_key_id($1, $2)', [keyId, sha(keySecret)]),
    ).rejects.toThrow(refused);
  });

  it('app_priv_platform_organizations: only with the raw token of a live platform administrator session', async () => {
    const rows = await withPlatformScope(platform, adminToken, (s) =>
      tenancy.privileged.platformOrganizations(s, null, 200),
    );
    expect(rows.map((r) => r.id)).toEqual(expect.arrayContaining([orgA, orgB]));
    // Not an administrator's session; a made-up token; the stored hash; no scope at all.
    for (const token of [sessionToken, 'guess', sha(adminToken).toString('hex')]) {
      await expect(
        withPlatformScope(platform, token, (s) => tenancy.privileged.platformOrganizations(s, null, 10)),
      ).rejects.toThrow(refused);
    }
    await expect(app.query('select * from app_priv_platform_organizations(null, 10, null)')).rejects.toThrow(
      refused,
    );
    // The administrator's session revoked, expired, or waiting for the second factor: refused.
    const list = () =>
      withPlatformScope(platform, adminToken, (s) => tenancy.privileged.platformOrganizations(s, null, 1));
    await owner.query('update sessions set revoked_at = now() where token_hash = $1', [sha(adminToken)]);
    await expect(list()).rejects.toThrow(refused);
    await owner.query(
      `update sessions set revoked_at = null, idle_expires_at = now() - interval '1 second'
        where token_hash = $1`,
      [sha(adminToken)],
    );
    await expect(list()).rejects.toThrow(refused);
    await owner.query(
      `update sessions set idle_expires_at = now() + interval '1 hour' where token_hash = $1`,
      [sha(adminToken)],
    );
    await owner.query(`update users set totp_enabled_at = now() where id = $1`, [admin]);
    await expect(list()).rejects.toThrow(refused);
    await owner.query(`update sessions set two_factor_verified = true where token_hash = $1`, [
      sha(adminToken),
    ]);
    await expect(list()).resolves.toHaveLength(1);
    await owner.query(`update users set totp_enabled_at = null where id = $1`, [admin]);
    await expect(
      tenancy.withTenant(orgB, () => withPlatformScope(platform, adminToken, () => Promise.resolve(1))),
    ).rejects.toMatchObject({ code: 'TENANT_SCOPE_CONFLICT' });
  });

  it('app_priv_platform_placements: each named organization’s recorded placement, only in the platform scope', async () => {
    const orgC = await createTestOrg(tenancy, 'pv-c');
    const orgD = await createTestOrg(tenancy, 'pv-d');
    const unrecorded = uuidv7();
    // Recorded behind the runtime role's back: a database placement and a schema placement (rows only).
    await owner.query(
      `update tenant_placements set kind = case when organization_id = $1 then 'database' else 'schema' end,
              database_key = case when organization_id = $1 then 'db-eu-1' end,
              state = case when organization_id = $1 then 'active' else 'moving' end
        where organization_id = any (array[$1, $2]::uuid[])`,
      [orgC, orgD],
    );
    const placements = (token: string) =>
      withPlatformScope(platform, token, (s) =>
        sql<{
          organization_id: string;
          kind: string;
          schema_name: string | null;
          database_key: string | null;
          state: string;
        }>`
          select * from app_priv_platform_placements(${[orgA, orgC, orgD, orgA, unrecorded]}::uuid[])`.execute(
          s,
        ),
      );
    const rows = (await placements(adminToken)).rows.sort((x, y) =>
      x.organization_id.localeCompare(y.organization_id),
    );
    const expected = [
      { organization_id: orgA, kind: 'pooled', schema_name: null, database_key: null, state: 'active' },
      // No row: pooled.
      { organization_id: unrecorded, kind: 'pooled', schema_name: null, database_key: null, state: 'active' },
      {
        organization_id: orgC,
        kind: 'database',
        schema_name: null,
        database_key: 'db-eu-1',
        state: 'active',
      },
      {
        organization_id: orgD,
        kind: 'schema',
        schema_name: `t_${orgD.replaceAll('-', '')}`,
        database_key: null,
        state: 'moving',
      },
    ].sort((x, y) => x.organization_id.localeCompare(y.organization_id));
    expect(rows).toEqual(expected);
    // Not an administrator's session; the stored hash; no scope at all; a tenant scope.
    for (const token of [sessionToken, sha(adminToken).toString('hex')]) {
      await expect(placements(token)).rejects.toThrow(refused);
    }
    await expect(
      app.query('select * from app_priv_platform_placements($1::uuid[])', [[orgA]]),
    ).rejects.toThrow(refused);
    await expect(
      inScopeOfB('select * from app_priv_platform_placements($1::uuid[])', [[orgA]]),
    ).rejects.toThrow(refused);
    // A page at most.
    const many = Array.from({ length: 201 }, () => uuidv7());
    await expect(
      withPlatformScope(platform, adminToken, (s) =>
        sql`select * from app_priv_platform_placements(${many}::uuid[])`.execute(s),
      ),
    ).rejects.toThrow(/at most 200/);
    await owner.query(
      `update tenant_placements set kind = 'pooled', database_key = null, state = 'active'
        where organization_id = any ($1)`,
      [[orgC, orgD]],
    );
  });

  it('the platform functions: from a withTenant scope with forged settings, refused without a real administrator session token, accepted with one', async () => {
    const forged = (extra: string) =>
      tenancy.withTenant(orgB, (d) =>
        sql
          .raw<{ n: number }>(
            `select count(*)::int as n from (
             select set_config('app.tenant_id', '', true), set_config('app.platform_actor', '${admin}', true)
             ${extra}) s, lateral app_priv_platform_organizations(null, 5, null)`,
          )
          .execute(d),
      );
    const forgedAppend = (extra: string) =>
      tenancy.withTenant(orgB, async (d) => {
        await sql
          .raw(
            `select set_config('app.tenant_id', '', true), set_config('app.platform_actor', '${admin}', true)
             ${extra}`,
          )
          .execute(d);
        // Accepted appends are rolled back: the platform chain is shared by the whole suite, and this
        // event's prefix and suffix are not its canonical JSON (it would read as tampering).
        throw new RolledBack(await sql.raw<{ seq: string }>(appendSql(admin)).execute(d));
      });
    await expect(forged('')).rejects.toThrow(refused);
    await expect(
      forged(`, set_config('app.platform_session', '${sha(adminToken).toString('hex')}', true)`),
    ).rejects.toThrow(refused);
    await expect(forged(`, set_config('app.platform_session', '${sessionToken}', true)`)).rejects.toThrow(
      refused,
    );
    await expect(forgedAppend('')).rejects.toThrow(refused);
    await expect(
      forgedAppend(`, set_config('app.platform_session', '${sessionToken}', true)`),
    ).rejects.toThrow(refused);
    // Only the raw token of a live administrator session opens it (which the runtime role cannot read).
    const ok = await forged(`, set_config('app.platform_session', '${adminToken}', true)`);
    expect(ok.rows[0]!.n).toBeGreaterThan(0);
    const appended = await keptValue<{ rows: { seq: string }[] }>(
      forgedAppend(`, set_config('app.platform_session', '${adminToken}', true)`),
    );
    expect(Number(appended.rows[0]!.seq)).toBeGreaterThan(0);
  });

  it('app_platform_audit_append: only in the platform scope, only for events of its administrator', async () => {
    await expect(app.query(appendSql(admin))).rejects.toThrow(refused);
    await expect(
      inScopeOfB(`select set_config('app.platform_session', $1, true), (${appendSql(admin)})`, [adminToken]),
    ).rejects.toThrow(refused);
    await expect(
      withPlatformScope(platform, adminToken, async (s) => {
        await sql.raw(appendSql(userA)).execute(s);
      }),
    ).rejects.toThrow(refused);
    await expect(
      withPlatformScope(platform, sessionToken, async (s) => {
        await sql.raw(appendSql(userA)).execute(s);
      }),
    ).rejects.toThrow(refused);
    const ok = await keptValue<{ seq: string } | undefined>(
      withPlatformScope(platform, adminToken, async (s) => {
        throw new RolledBack((await sql.raw<{ seq: string }>(appendSql(admin)).execute(s)).rows[0]);
      }),
    );
    expect(Number(ok?.seq)).toBeGreaterThan(0);
  });

  it('app_priv_platform_meter_create/update: only in the platform scope of a live administrator session', async () => {
    const key = `pv.meter.${randomBytes(4).toString('hex')}`;
    const create = (scope: Parameters<Parameters<typeof withPlatformScope>[2]>[0]) =>
      sql<{
        key: string;
      }>`select key from app_priv_platform_meter_create(${key}, 'sum', null, 'u', 'd')`.execute(scope);
    // Not an administrator's session, a made-up token, the stored hash: refused.
    for (const token of [sessionToken, 'guess', sha(adminToken).toString('hex')]) {
      await expect(withPlatformScope(platform, token, create)).rejects.toThrow(refused);
    }
    // No scope at all, and from a tenant scope.
    await expect(
      app.query(`select * from app_priv_platform_meter_create($1, 'sum', null, '', '')`, [key]),
    ).rejects.toThrow(refused);
    await expect(
      inScopeOfB(`select * from app_priv_platform_meter_update('api_requests', 'x', null, true)`, []),
    ).rejects.toThrow(refused);
    // The runtime role cannot write the catalog directly.
    await expect(
      app.query(`insert into meters (key, aggregation) values ($1, 'count')`, [key]),
    ).rejects.toThrow(/permission denied/);
    await expect(app.query(`update meters set unit = 'x' where key = 'api_requests'`)).rejects.toThrow(
      /permission denied/,
    );
    // Accepted in the administrator's scope (rolled back: the catalog is shared by the suite).
    const made = await keptValue<{ rows: { key: string }[] }>(
      withPlatformScope(platform, adminToken, async (scope) => {
        throw new RolledBack(await create(scope));
      }),
    );
    expect(made.rows).toEqual([{ key }]);
  });

  it('usage aggregation and key purge: the worker role’s, not the runtime role’s; refused inside a scope', async () => {
    for (const text of [
      'select * from worker_api.app_usage_aggregate_begin()',
      `select worker_api.app_usage_purge_keys(now() - interval '30 days', 10)`,
      'select * from worker_api.app_usage_partitions(8, 7, 400)',
      `select * from worker_api.app_usage_changed_organizations('1'::xid8, '2'::xid8, now())`,
      `select * from worker_api.app_usage_changed_any_plan('1'::xid8, '2'::xid8, now())`,
      `select * from worker_api.app_priv_quota_organizations(array[gen_random_uuid()])`,
      `select worker_api.app_usage_unique_purge(date '2000-01-01', 10)`,
    ]) {
      await expect(app.query(text)).rejects.toThrow(/permission denied/);
      const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
      try {
        await expectRefusedInTenantScope(workerPool, orgB, refused, text);
      } finally {
        await workerPool.end();
      }
    }
    // The runtime role cannot set an event's transaction id (the aggregator's watermark relies on it).
    await expect(
      inScopeOfB(
        `insert into usage_events (organization_id, id, meter, occurred_at, xid)
           values ($1, 'x', 'api_requests', now(), 1)`,
        [orgB],
      ),
    ).rejects.toThrow(/permission denied/);
  });

  it('app_platform_plan_save / app_platform_plan_archive: only in the platform scope of a live administrator session', async () => {
    const key = `pv-${randomBytes(4).toString('hex')}`;
    const spec = JSON.stringify({
      name: 'P',
      description: '',
      seatLimit: 2,
      quotas: [],
      entitlements: ['x.y'],
      price: { currency: 'USD', interval: 'month', components: [] },
      public: true,
    });
    const save = `select key from app_platform_plan_save('${key}', '${spec}'::jsonb, true)`;
    const archive = `select key from app_platform_plan_archive('free', true)`;
    for (const text of [save, archive]) {
      // No scope, a tenant scope with the administrator's token, a member's session: refused.
      await expect(app.query(text)).rejects.toThrow(refused);
      await expect(
        inScopeOfB(`select set_config('app.platform_session', $1, true), (${text})`, [adminToken]),
      ).rejects.toThrow(refused);
      await expect(
        withPlatformScope(platform, sessionToken, async (s) => {
          await sql.raw(text).execute(s);
        }),
      ).rejects.toThrow(refused);
    }
    // The runtime role cannot write the catalog itself.
    await expect(app.query(`update plans set seat_limit = 1 where key = 'free'`)).rejects.toThrow(
      /permission denied/,
    );
    const ok = await keptValue<{ key: string } | undefined>(
      withPlatformScope(platform, adminToken, async (s) => {
        throw new RolledBack((await sql.raw<{ key: string }>(save).execute(s)).rows[0]);
      }),
    );
    expect(ok?.key).toBe(key);
  });

  it('app_platform_user_memberships: only in the platform scope of a live administrator session', async () => {
    const text = `select organization_id from app_platform_user_memberships('${userA}')`;
    await expect(app.query(text)).rejects.toThrow(refused);
    await expect(
      inScopeOfB(`select set_config('app.platform_session', $1, true), (${text})`, [adminToken]),
    ).rejects.toThrow(refused);
    await expect(
      withPlatformScope(platform, sessionToken, async (s) => {
        await sql.raw(text).execute(s);
      }),
    ).rejects.toThrow(refused);
    const rows = await withPlatformScope(
      platform,
      adminToken,
      async (s) => (await sql.raw<{ organization_id: string }>(text).execute(s)).rows,
    );
    expect(rows).toEqual([{ organization_id: orgA }]);
  });

  it('app_audit_seal: refused outside the scope of its own organization', async () => {
    await expect(inScopeOfB(`select app_audit_seal($1, 10, true)`, [orgA])).rejects.toThrow(refused);
    await expect(inScopeOfB(`select app_audit_seal($1, 10, false)`, [orgA])).rejects.toThrow(refused);
  });

  it('app_audit_seal_many: refused inside a tenant scope (its own organization’s too), counts only; its helper is nobody’s', async () => {
    await expect(
      inScopeOfB(`select * from app_audit_seal_many($1::uuid[], 10, 100)`, [[orgA]]),
    ).rejects.toThrow(refused);
    await expect(
      inScopeOfB(`select * from app_audit_seal_many($1::uuid[], 10, 100)`, [[orgB]]),
    ).rejects.toThrow(refused);
    await expect(app.query(`select app_audit_seal_org($1, 10, false)`, [orgA])).rejects.toThrow(
      /permission denied/,
    );
    const res = await app.query<{ org: string; sealed: number }>(
      `select * from app_audit_seal_many($1::uuid[], 10, 100)`,
      [[orgA, null, orgA]],
    );
    expect(res.fields.map((f) => f.name)).toEqual(['org', 'sealed']);
    expect(res.rows).toHaveLength(1);
    expect(res.rows[0]).toMatchObject({ org: orgA });
    expect(res.rows[0]!.sealed).toBeGreaterThanOrEqual(0);
  });

  it('app_invoice_finalize: refused outside the scope of its own organization, and for no draft of it', async () => {
    const draft = uuidv7();
    await owner.query(
      `insert into invoices (organization_id, id, currency, period_start, period_end, subtotal, total, lines)
       values ($1, $2, 'EUR', '2001-03-01', '2001-04-01', 5, 5, '[{"amount": 5}]')`,
      [orgA, draft],
    );
    // No number taken: the counter row is held here while the refused calls run, so a call that reached it
    // would wait, and fail on the function's own lock timeout (5 s, "invoice numbering busy") instead of
    // the refusal. (Its value proves nothing: the suite's other files take numbers from it meanwhile.)
    await owner.query('begin');
    try {
      await owner.query('select last_value from invoice_number_counter for update');
      // From B's scope, from no scope: refused.
      await expect(inScopeOfB('select app_invoice_finalize($1, $2)', [orgA, draft])).rejects.toThrow(refused);
      await expect(app.query('select app_invoice_finalize($1, $2)', [orgA, draft])).rejects.toThrow(refused);
      // B's scope naming B: A's draft is not B's.
      await expect(inScopeOfB('select app_invoice_finalize($1, $2)', [orgB, draft])).rejects.toThrow(
        /no draft invoice/,
      );
    } finally {
      await owner.query('rollback');
    }
    const state = await owner.query('select status, number from invoices where id = $1', [draft]);
    expect(state.rows[0]).toEqual({ status: 'draft', number: null });
    // The runtime role can neither read nor move the counter itself.
    await expect(app.query('select * from invoice_number_counter')).rejects.toThrow(/permission denied/);
  });

  it('app_priv_stripe_organization_by_customer: answers outside a scope, refuses inside one', async () => {
    const customer = `cus_pv${randomBytes(6).toString('hex')}`;
    await owner.query(
      `with c as (insert into stripe_customers (organization_id, customer_id) values ($1, $2))
       insert into stripe_customer_lookup (customer_id, organization_id) values ($2, $1)`,
      [orgA, customer],
    );
    const lookup = 'select app_priv_stripe_organization_by_customer($1) as id';
    expect((await app.query(lookup, [customer])).rows).toEqual([{ id: orgA }]);
    expect((await app.query(lookup, ['cus_nobody'])).rows).toEqual([{ id: null }]);
    await expect(inScopeOfB(lookup, [customer])).rejects.toThrow(refused);
    // The runtime role reads the mapping only in the customer's own scope (RLS), never B's view of A's.
    expect(await inScopeOfB('select * from stripe_customers where customer_id = $1', [customer])).toEqual([]);
  });

  it('app_priv_stripe_organizations (the Stripe jobs): the worker role’s, not the runtime role’s; refused inside a scope', async () => {
    const call = `select * from worker_api.app_priv_stripe_organizations('grace_expired', now(), null, 10)`;
    await expect(app.query(call)).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      await expect(
        stripeOrganizations(workerPool, 'subscribed', new Date(), null, 10),
      ).resolves.toBeInstanceOf(Array);
      await expect(
        workerPool.query(`select * from worker_api.app_priv_stripe_organizations('x', now(), null, 1)`),
      ).rejects.toThrow(/unknown kind/);
      await expectRefusedInTenantScope(workerPool, orgB, refused, call);
    } finally {
      await workerPool.end();
    }
  });

  it('app_priv_stripe_customer_deletion* (deleted organizations’ customers): the worker role’s, not the runtime role’s; refused inside a scope', async () => {
    const due = 'select * from worker_api.app_priv_stripe_customer_deletions_due(now(), 10)';
    const result = `select worker_api.app_priv_stripe_customer_deletion_result('cus_none', null, null)`;
    await expect(app.query(due)).rejects.toThrow(/permission denied/);
    await expect(app.query(result)).rejects.toThrow(/permission denied/);
    // The record itself is out of the runtime role's reach.
    await expect(app.query('select * from stripe_customer_deletions')).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      await expect(stripeCustomerDeletionsDue(workerPool, new Date(), 10)).resolves.toBeInstanceOf(Array);
      await expect(stripeCustomerDeletionResult(workerPool, 'cus_none', null, null)).resolves.toBeNull();
      await expectRefusedInTenantScope(workerPool, orgB, refused, due);
      await expectRefusedInTenantScope(workerPool, orgB, refused, result);
    } finally {
      await workerPool.end();
    }
  });

  it('app_priv_billing_organizations (the period close): the worker role’s, not the runtime role’s; refused inside a scope', async () => {
    const text = "select * from worker_api.app_priv_billing_organizations('2100-02-01', null, 10)";
    await expect(app.query(text)).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      // Ids of organizations created before the cutoff's month, by id, with the billing start (the day
      // the migration ran: today in tests); nothing at all while no month ends between it and the cutoff.
      const all: string[] = [];
      const starts = new Set<string>();
      let after: string | null = null;
      for (;;) {
        const page = await billingOrganizations(workerPool, '2100-02-14', after, 1000);
        all.push(...page.map((o) => o.id));
        for (const o of page) starts.add(o.startsOn);
        if (page.length < 1000) break;
        after = page[page.length - 1]!.id;
      }
      expect(all).toEqual(expect.arrayContaining([orgA, orgB]));
      expect([...all].sort()).toEqual(all);
      expect([...starts]).toEqual([new Date().toISOString().slice(0, 10)]);
      expect(await billingOrganizations(workerPool, '2000-01-01', null, 10)).toEqual([]);
      await expectRefusedInTenantScope(workerPool, orgB, refused, text);
    } finally {
      await workerPool.end();
    }
  });

  it('app_priv_audit_orgs_pending (the seal sweep): the worker role’s, not the runtime role’s; refused inside a scope', async () => {
    await expect(app.query('select * from worker_api.app_priv_audit_orgs_pending(null, 10)')).rejects.toThrow(
      /permission denied/,
    );
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      await expect(auditOrganizationsPending(workerPool, null, 10)).resolves.toBeInstanceOf(Array);
      await expectRefusedInTenantScope(
        workerPool,
        orgB,
        refused,
        'select * from worker_api.app_priv_audit_orgs_pending(null, 10)',
      );
    } finally {
      await workerPool.end();
    }
  });

  // Issue 12 (migration 0027): the account export's cross-organization read, the retention purge and the
  // two platform-chain appends.
  const appendArgs = (
    actorType: string,
    actorId: string,
    action: string,
    targetType: string,
    target: string,
  ) =>
    `'{}', '}', '${uuidv7()}', now(), '${actorType}', '${actorId}', '${action}', '${targetType}', '${target}',
     null, null, 'r', null, null`;

  it('app_priv_account_export_rows: the worker role’s; only for a running account export, only its user’s rows', async () => {
    const running = uuidv7();
    const ready = uuidv7();
    await owner.query(
      `insert into account_exports (id, user_id, status, expires_at) values ($1, $3, 'running', null),
         ($2, $3, 'ready', now() + interval '1 hour')`,
      [running, ready, userA],
    );
    const text = (id: string, kind = 'memberships') =>
      `select * from worker_api.app_priv_account_export_rows('${id}', '${kind}', null, null, 10)`;
    await expect(app.query(text(running))).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      const rows = await workerPool.query<{ organization_id: string; data: { user_id: string } }>(
        text(running),
      );
      expect(rows.rows.map((r) => [r.organization_id, r.data.user_id])).toEqual([[orgA, userA]]);
      await expect(workerPool.query(text(ready))).rejects.toThrow(refused);
      await expect(workerPool.query(text(uuidv7()))).rejects.toThrow(refused);
      await expect(workerPool.query(text(running, 'sessions'))).rejects.toThrow(/unknown kind/);
      await expectRefusedInTenantScope(workerPool, orgB, refused, text(running));
    } finally {
      await workerPool.end();
    }
  });

  it('app_retention_purge / app_retention_audit: the worker role’s; refused inside a scope; retention.purged only', async () => {
    const purge = `select worker_api.app_retention_purge('sessions', now() - interval '3650 days', 10)`;
    const audit = (action: string, actorId = 'retention') =>
      `select seq from worker_api.app_retention_audit(${appendArgs('system', actorId, action, 'retention_run', 'x')})`;
    await expect(app.query(purge)).rejects.toThrow(/permission denied/);
    await expect(app.query(audit('retention.purged'))).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      await expectRefusedInTenantScope(workerPool, orgB, refused, purge);
      await expectRefusedInTenantScope(workerPool, orgB, refused, audit('retention.purged'));
      await expect(
        workerPool.query(`select worker_api.app_retention_purge('sessions', now() + interval '1 day', 10)`),
      ).rejects.toThrow(/future/);
      await expect(
        workerPool.query(`select worker_api.app_retention_purge('users', now(), 10)`),
      ).rejects.toThrow(/unknown kind/);
      await expect(workerPool.query(audit('flag.created'))).rejects.toThrow(refused);
      await expect(workerPool.query(audit('retention.purged', 'someone'))).rejects.toThrow(refused);
      // Appending for real: src/modules/retention/retention.test.ts (on a database of its own).
    } finally {
      await workerPool.end();
    }
  });

  it('app_retention_purge_audit / app_retention_purge_webhooks: the worker role’s; refused inside a scope; no instant in the future', async () => {
    const audit = (now: string) =>
      `select * from worker_api.app_retention_purge_audit(${now}, null, false, 10)`;
    const webhooks = (kind: string, cutoff: string) =>
      `select worker_api.app_retention_purge_webhooks('${kind}', ${cutoff}, 10)`;
    const past = `now() - interval '36500 days'`;
    await expect(app.query(audit('now()'))).rejects.toThrow(/permission denied/);
    await expect(app.query(webhooks('deliveries', past))).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    try {
      await expectRefusedInTenantScope(workerPool, orgB, refused, audit('now()'));
      await expectRefusedInTenantScope(workerPool, orgB, refused, webhooks('outbox', past));
      await expect(workerPool.query(audit(`now() + interval '1 day'`))).rejects.toThrow(/future/);
      await expect(workerPool.query(webhooks('deliveries', `now() + interval '1 day'`))).rejects.toThrow(
        /future/,
      );
      await expect(workerPool.query(webhooks('sessions', past))).rejects.toThrow(/unknown kind/);
      // Their tenant database forms (0077): the same contract.
      const org = `'${orgB}'::uuid`;
      for (const text of [
        `select * from worker_api.app_retention_audit_placed('eu-1', now(), null, false, 10)`,
        `select * from worker_api.app_retention_purge_audit_given(now(), null, false, 10, array[${org}], array[1])`,
        `select * from worker_api.app_priv_audit_chains_to_checkpoint_given('k', null, null, 10, array[${org}], array[1])`,
      ]) {
        await expect(app.query(text)).rejects.toThrow(/permission denied/);
        await expectRefusedInTenantScope(workerPool, orgB, refused, text);
      }
      await expect(
        workerPool.query(
          `select * from worker_api.app_retention_purge_audit_given(now() + interval '1 day', null, false, 10, '{}', '{}')`,
        ),
      ).rejects.toThrow(/future/);
      await expect(
        workerPool.query(
          `select * from worker_api.app_retention_purge_audit_given(now(), null, false, 10, array[${org}], array[0])`,
        ),
      ).rejects.toThrow(/1 to 36500/);
      await expect(
        workerPool.query(
          `select * from worker_api.app_retention_purge_audit_given(now(), null, false, 10, array[${org}], '{}')`,
        ),
      ).rejects.toThrow(/one retention per organization/);
      // Purging for real: src/modules/retention/audit-retention.test.ts and retention.test.ts (databases of
      // their own). Here a cutoff 100 years back finds nothing of the shared database's.
      await expect(workerPool.query(webhooks('deliveries', past))).resolves.toMatchObject({
        rows: [{ app_retention_purge_webhooks: 0 }],
      });
    } finally {
      await workerPool.end();
    }
  });

  it('app_account_export_audit: the runtime role, outside a scope, names only an export; the entry is the function’s own', async () => {
    const queued = uuidv7();
    const ready = uuidv7();
    const digest = 'ab'.repeat(32);
    const user = uuidv7(); // a user of their own: an earlier test leaves userA an export running
    await owner.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
      user,
      `pv-${user}@example.test`,
    ]);
    await owner.query(
      `insert into account_exports (id, user_id, status, size_bytes, archive_sha256, expires_at) values
         ($1, $3, 'queued', null, null, null), ($2, $3, 'ready', 1234, $4, now() + interval '1 day')`,
      [queued, ready, user, digest],
    );
    const call = (target: string, action: string, requestId = 'req-0000-test') =>
      app.query<{ seq: string; id: string }>(`select seq, id from app_account_export_audit($1, $2, $3)`, [
        target,
        action,
        requestId,
      ]);
    // The 0027 form, whose caller wrote the entry's text, fields and so its hash, is gone.
    await expect(
      app.query(
        `select seq from app_account_export_audit(${appendArgs('user', user, 'account.export_requested', 'account_export', queued)})`,
      ),
    ).rejects.toThrow(/does not exist/);
    await expect(call(queued, 'flag.created')).rejects.toThrow(refused);
    await expect(call(uuidv7(), 'account.export_requested')).rejects.toThrow(refused);
    await expect(call(queued, 'account.export_downloaded')).rejects.toThrow(refused); // not ready
    await expect(call(ready, 'account.export_requested')).rejects.toThrow(refused); // not queued
    await expect(call(ready, 'account.export_downloaded', 'bad id"},"x":1')).rejects.toThrow(refused);
    await expect(call(ready, 'account.export_downloaded', null as unknown as string)).rejects.toThrow(
      refused,
    );
    await expect(
      inScopeOfB(
        `select seq from app_account_export_audit($1, 'account.export_requested', 'req-0000-test')`,
        [queued],
      ),
    ).rejects.toThrow(refused);
    await app.query('begin');
    try {
      const ok = (await call(ready, 'account.export_downloaded', 'req-dl-0001')).rows[0]!;
      await call(queued, 'account.export_requested', 'req-rq-0001');
      const rows = await app.query<StoredAuditRow>(
        `select seq, id, occurred_at, actor_type, actor_id, action, target_type, target_id, ip, user_agent,
           request_id, changes, metadata, prev_hash, hash from platform_audit_events where seq >= $1 order by seq`,
        [ok.seq],
      );
      expect(rows.rows).toHaveLength(2);
      const [downloaded, requested] = rows.rows;
      expect(downloaded).toMatchObject({
        id: ok.id,
        actor_type: 'user',
        actor_id: user,
        action: 'account.export_downloaded',
        target_type: 'account_export',
        target_id: ready,
        ip: null,
        user_agent: null,
        request_id: 'req-dl-0001',
        metadata: { size_bytes: 1234, sha256: digest },
      });
      // Each entry hashes as the application's verifier recomputes it, and links to the one before.
      for (const r of rows.rows) {
        const s = storedEntry({ ...r, organization_id: null });
        expect(entryHash(s.prevHash, s.entry).equals(s.hash)).toBe(true);
      }
      expect(requested!.prev_hash.equals(downloaded!.hash)).toBe(true);
    } finally {
      await app.query('rollback');
    }
  });
});

describe('app_priv_webhook_stuck_deliveries (the stuck webhook delivery sweep)', () => {
  const db = testDb();
  it('the worker role’s, not the runtime role’s; refused inside a scope and for attempts due less than a minute ago', async () => {
    const app = await connect(db.url);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    const scan = `select * from worker_api.app_priv_webhook_stuck_deliveries(now() - interval '15 minutes', 10)`;
    try {
      await expect(app.query(scan)).rejects.toThrow(/permission denied/);
      await expect(workerPool.query(scan)).resolves.toBeDefined();
      await expectRefusedInTenantScope(workerPool, uuidv7(), /outside the tenant scope|refused/, scan);
      await expect(
        workerPool.query(`select * from worker_api.app_priv_webhook_stuck_deliveries(now(), 10)`),
      ).rejects.toThrow(/a minute ago or earlier/);
      // Finding and re-queueing for real: test/e2e/webhooks.test.ts.
    } finally {
      await app.end();
      await workerPool.end();
    }
  });
});

describe('privileged placement moves (migration 0040)', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let app: pg.Client;
  let owner: pg.Client; // the superuser
  const refused = /refused/;
  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    app = await connect(db.url);
    owner = await connect(db.adminUrl);
  });
  afterAll(async () => {
    await app.end();
    await owner.end();
    await tenancy.close();
  });

  it('app_priv_placement_move_*: the owner role’s only; refused inside a scope; sides from the record; never the placement’s own rows', async () => {
    const org = await createTestOrg(tenancy, 'mv');
    const begin = `select public.app_priv_placement_move_begin('${org}', 'schema', 't') as id`;
    await expect(app.query(begin)).rejects.toThrow(/permission denied/);
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    const ownerPool = testPool({ connectionString: db.migrationUrl, max: 1 });
    try {
      await expect(workerPool.query(begin)).rejects.toThrow(/permission denied/);
      await expectRefusedInTenantScope(ownerPool, org, refused, begin);
      await expect(
        ownerPool.query(`select app_priv_placement_move_begin($1, 'database', 't')`, [org]),
      ).rejects.toThrow(/goes to pooled or schema/);
      const id = (await ownerPool.query<{ id: string }>(begin)).rows[0]!.id;
      await ownerPool.query(`select app_priv_placement_move_advance($1, 'copying', null)`, [id]);
      // Only a placed table of the organization's schema (it does not exist yet: nothing is).
      await expect(
        ownerPool.query(`select * from app_priv_placement_move_copy($1, 'memberships', '{user_id}', 10)`, [
          id,
        ]),
      ).rejects.toThrow(/not a placed table/);
      await expect(
        ownerPool.query(
          `select * from app_priv_placement_move_copy($1, 'audit_pending', '{pending_id}', 10)`,
          [id],
        ),
      ).rejects.toThrow(/at the switch/);
      // Not switching: no catch-up, no switch; not cleaning or aborting: nothing to discard.
      await expect(
        ownerPool.query(`select app_priv_placement_move_catch_up($1, '[]', true, false)`, [id]),
      ).rejects.toThrow(/not switching/);
      await expect(
        ownerPool.query(`select app_priv_placement_move_switch($1, 'v', '{}')`, [id]),
      ).rejects.toThrow(/not switching/);
      await expect(
        ownerPool.query(`select app_priv_placement_move_discard($1, 'projects', 10)`, [id]),
      ).rejects.toThrow(/nothing to discard/);
      // Aborting discards the TARGET (the schema), never public, which holds the organization's placement.
      await ownerPool.query(`select app_priv_placement_move_advance($1, 'aborting', null)`, [id]);
      await owner.query(`update placement_moves set from_kind = 'schema', to_kind = 'pooled' where id = $1`, [
        id,
      ]);
      await expect(
        ownerPool.query(`select app_priv_placement_move_discard($1, 'projects', 10)`, [id]),
      ).rejects.toThrow(/holds the placement/);
      await expect(
        ownerPool.query(`select app_priv_placement_move_advance($1, 'done', null)`, [id]),
      ).rejects.toThrow(/not a step before/);
      await ownerPool.query(`select app_priv_placement_move_advance($1, 'aborted', null)`, [id]);
      const rec = await owner.query('select state from tenant_placements where organization_id = $1', [org]);
      expect(rec.rows[0]).toEqual({ state: 'active' });
    } finally {
      await workerPool.end();
      await ownerPool.end();
    }
  });
});

/** A worker-role function called inside a tenant scope (`tenant` set transaction-locally) is refused. */
async function expectRefusedInTenantScope(
  pool: pg.Pool,
  tenant: string,
  refused: RegExp,
  text: string,
  values: unknown[] = [],
): Promise<void> {
  const worker = await pool.connect();
  try {
    await worker.query('begin');
    await worker.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
    await expect(worker.query(text, values)).rejects.toThrow(refused);
  } finally {
    await worker.query('rollback');
    worker.release();
  }
}
