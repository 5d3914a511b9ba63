import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapThrowaway,
  dropThrowaway,
  type ThrowawayDatabase,
} from '../../../test/support/provision.js';
import { testDb } from '../../../test/support/tenancy.js';
import { migrateToLatest } from '../db/migrate.js';
import type { Database } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import { createKeyVault } from '../tenant-keys/key-vault.js';
import { type UserKeyStore } from '../user-keys/user-keys.js';
import { canonicalJson } from './canonical-json.js';
import { buildEntry, entryHash, GENESIS_HASH } from './chain.js';
import { openPersonalFields } from './personal-fields.js';
import { legacySealFixture } from './legacy-seal.test-support.js';
import { LEGACY_SEALED_ACTION, sealLegacyAll, sealLegacyChain, type LegacySealDeps } from './legacy-seal.js';
import { storedEntry, type StoredAuditRow } from './stored.js';
import { verifyChain } from './verify-chain.js';

describe('audit seal-legacy: the platform chain (a database of its own)', () => {
  let own: ThrowawayDatabase;
  let pool: pg.Pool;
  let db: Kysely<Database>;
  let vault: ReturnType<typeof createKeyVault>;
  let store: UserKeyStore;
  let deps: LegacySealDeps;
  const ip = `2001:db8:${randomBytes(2).toString('hex')}::1`;
  const ua = `platform-agent/${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    // Its own database: the platform chain of the shared one is every test file's.
    own = await bootstrapThrowaway(testDb().superuserUrl, 'sr_lgp');
    await migrateToLatest(own.migrationUrl, own.roles);
    pool = new pg.Pool({ connectionString: own.migrationUrl, max: 2 });
    // Dropping the database at the end terminates whatever connection is left.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    ({ vault, store, deps } = await legacySealFixture({ keyVaultUrl: testDb().keyVaultUrl, pool, db }));
  });
  afterAll(async () => {
    await db?.destroy();
    await vault?.close();
    if (own) await dropThrowaway(own);
  });

  const urlOf = (p: pg.Pool) => (p.options as { connectionString: string }).connectionString;

  const rows = async () =>
    (await pool.query<StoredAuditRow>('select * from platform_audit_events order by seq')).rows;

  it('seals a platform administrator’s clear fields, rehashes the chain and attests in it; a second run does nothing', async () => {
    const admin = uuidv7();
    await pool.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
      admin,
      `lgp-${admin}@example.test`,
    ]);
    // Three events as a pre-0028 deployment chained them: the administrator's address and agent in clear.
    let prev: Buffer = GENESIS_HASH;
    for (let seq = 1; seq <= 3; seq++) {
      const e = buildEntry({
        organizationId: null,
        seq,
        id: uuidv7(),
        occurredAt: new Date(),
        actor: { kind: 'user', userId: admin },
        requestId: `r${seq}`,
        ip,
        userAgent: ua,
        event: { action: 'flag.updated', target: { type: 'flag', id: `f${seq}` }, metadata: { n: seq } },
      });
      const hash = entryHash(prev, e);
      await pool.query(
        `insert into platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action, target_type,
           target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
         values ($1, $2, $3, 'user', $4, $5, 'flag', $6, $7, $8, $9, null, $10::jsonb, $11, $12)`,
        [
          seq,
          e.id,
          e.occurred_at,
          admin,
          e.action,
          e.target.id,
          ip,
          ua,
          e.request_id,
          canonicalJson(e.metadata),
          prev,
          hash,
        ],
      );
      prev = hash;
    }
    await pool.query(`insert into platform_audit_head (singleton, seq, hash) values (true, 3, $1)`, [prev]);
    const oldHead = prev.toString('hex');

    const results = await sealLegacyAll(deps);
    expect(results).toEqual([
      expect.objectContaining({ chain: 'platform', status: 'rewritten', entriesRewritten: 3, oldHead }),
    ]);
    const after = await rows();
    expect(after).toHaveLength(4);
    for (const r of after.slice(0, 3)) {
      expect(r.ip).toMatch(/^pd1\./);
      expect(r.user_agent).toMatch(/^pd1\./);
    }
    expect(JSON.stringify(after)).not.toContain(ua);
    const att = after[3]!;
    expect(att.action).toBe(LEGACY_SEALED_ACTION);
    expect(att.metadata).toMatchObject({
      chain: 'platform',
      old_head: oldHead,
      new_head: results[0]!.newHead,
    });
    const head = (
      await pool.query<{ seq: string; hash: Buffer }>('select seq, hash from platform_audit_head')
    ).rows[0]!;
    const v = await verifyChain({
      entries: after.map(storedEntry),
      head: { seq: Number(head.seq), hash: head.hash },
    });
    expect(v.valid).toBe(true);
    expect(v.lastSeq).toBe(4);

    expect(await sealLegacyAll(deps)).toEqual([expect.objectContaining({ status: 'nothing_to_do' })]);
    expect(await rows()).toHaveLength(4);

    // Readers open them; once the administrator is erased, their old address and agent open nowhere.
    expect((await openPersonalFields(store, db, after.slice(0, 3))).map((o) => o.ip)).toEqual([ip, ip, ip]);
    await store.destroy({ kind: 'user', userId: admin });
    const before = await openPersonalFields(store, db, after.slice(0, 3));
    expect(before.map((o) => o.erased)).toEqual(Array(3).fill(['ip', 'user_agent']));
    expect(JSON.stringify(await rows())).not.toContain(ip);
  });
  it('waits for an appender holding the platform head instead of deadlocking with it', async () => {
    const admin = uuidv7();
    await pool.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
      admin,
      `lgp-${admin}@example.test`,
    ]);
    // One more entry in clear, chained onto the current head.
    const head = (
      await pool.query<{ seq: string; hash: Buffer }>('select seq, hash from platform_audit_head')
    ).rows[0]!;
    const seq = Number(head.seq) + 1;
    const e = buildEntry({
      organizationId: null,
      seq,
      id: uuidv7(),
      occurredAt: new Date(),
      actor: { kind: 'user', userId: admin },
      requestId: 'r-lock',
      ip,
      userAgent: ua,
      event: { action: 'flag.updated', target: { type: 'flag', id: 'f-lock' }, metadata: null },
    });
    const hash = entryHash(head.hash, e);
    await pool.query(
      `insert into platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action, target_type,
         target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
       values ($1, $2, $3, 'user', $4, $5, 'flag', $6, $7, $8, $9, null, null, $10, $11)`,
      [seq, e.id, e.occurred_at, admin, e.action, e.target.id, ip, ua, e.request_id, head.hash, hash],
    );
    await pool.query('update platform_audit_head set seq = $1, hash = $2', [seq, hash]);

    // An appender (app_account_export_audit, the platform audit service) holds the head row, as its
    // first step, when the rewrite starts; then it writes.
    const appender = new pg.Client({ connectionString: urlOf(pool) });
    await appender.connect();
    try {
      await appender.query('begin');
      await appender.query('select seq from platform_audit_head where singleton for update');
      const run = sealLegacyChain(deps, null);
      run.catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      await appender.query('update platform_audit_head set updated_at = now() where singleton');
      await appender.query('commit');
      await expect(run).resolves.toMatchObject({ status: 'rewritten', entriesRewritten: 1 });
    } finally {
      await appender.end();
    }
  });
  it('gives up after its lock timeout when a long transaction holds the chain heads, instead of queueing every audit write behind it', async () => {
    const reader = new pg.Client({ connectionString: urlOf(pool) });
    await reader.connect();
    try {
      await reader.query('begin');
      await reader.query('select count(*) from audit_chain_heads');
      const started = Date.now();
      await expect(sealLegacyAll({ ...deps, lockTimeoutMs: 200 })).rejects.toMatchObject({ code: '55P03' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await reader.query('rollback').catch(() => {});
      await reader.end();
    }
  });
});
