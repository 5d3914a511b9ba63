import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { auditChainsToCheckpoint, auditOrganizationsPending } from '../tenancy/privileged.js';

/**
 * Migration 0066: `audit_pending`'s admission trigger without a SET clause (every name it uses qualified,
 * so the caller's search path changes nothing), and no foreign key to organizations (the purge deletes
 * pending rows itself; the seal sweep deletes those of an organization gone, and lists, like the checkpoint
 * scan, only organizations that exist).
 */
describe('audit_pending admission and its organization key (migration 0066, real PostgreSQL)', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let runtime: pg.Client;
  let admin: pg.Client;
  let worker: pg.Pool;

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    runtime = await connect(db.url);
    admin = await connect(db.adminUrl);
    worker = new pg.Pool({ connectionString: db.workerUrl, max: 1 });
  });
  afterAll(async () => {
    await runtime.end();
    await admin.end();
    await worker.end();
    await tenancy.close();
  });

  /** Inserts a pending row as the runtime role, with `search_path` set to `path` for the transaction. */
  const insert = async (org: string, path: string, columns: Record<string, unknown>) => {
    const row = {
      prefix: '{',
      suffix: '}',
      actor_type: 'system',
      action: 'test.seeded',
      target_type: 't',
      ...columns,
    };
    const names = Object.keys(row);
    await runtime.query('begin');
    try {
      await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await runtime.query(`select set_config('search_path', $1, true)`, [path]);
      await runtime.query(
        `insert into public.audit_pending (organization_id, id, occurred_at, ${names.join(', ')})
         values ($1, gen_random_uuid(), now(), ${names.map((_, i) => `$${i + 2}`).join(', ')})`,
        [org, ...Object.values(row)],
      );
      await runtime.query('commit');
    } catch (err) {
      await runtime.query('rollback');
      throw err;
    }
  };

  it('the trigger is SECURITY DEFINER with no SET clause, executable by nobody', async () => {
    const fn = await admin.query<{ secdef: boolean; config: string[] | null; acl: string | null }>(
      `select p.prosecdef as secdef, p.proconfig as config, array_to_string(p.proacl, ',') as acl
         from pg_proc p where p.oid = 'public.app_audit_pending_admit()'::regprocedure`,
    );
    expect(fn.rows[0]!.secdef).toBe(true);
    expect(fn.rows[0]!.config).toBeNull();
    expect(fn.rows[0]!.acl ?? '').not.toContain(`${db.roles.runtime}=`);
    expect(fn.rows[0]!.acl ?? '').not.toMatch(/(^|,)=X/);
  });

  it('refuses what the checks refuse and numbers rows from the sequence, whatever the search path', async () => {
    const org = await createTestOrg(tenancy, 'admit-path');
    for (const path of ['', 'pg_temp', 'public, pg_catalog', '"$user", public']) {
      for (const columns of [
        { actor_type: 'robot' },
        { action: 'Not An Action' },
        { action: 'testxseeded' },
        { action: `a.${'b'.repeat(300)}` },
        { target_id: 'x'.repeat(1025) },
        { prefix: 'x'.repeat(262_144) },
        { metadata: JSON.stringify({ big: 'x'.repeat(1_048_576) }) },
      ]) {
        const err = await insert(org, path, columns).then(
          () => undefined,
          (e: unknown) => e as { code?: string; message?: string },
        );
        expect(err?.code, `${path}: ${Object.keys(columns)[0]}`).toBe('23514');
        expect(err?.message).toMatch(/audit_pending row refused by the check of/);
      }
      await insert(org, path, { pending_id: '-1', target_id: 'y'.repeat(1024) });
    }
    const ids = await admin.query<{ pending_id: string }>(
      'select pending_id from audit_pending where organization_id = $1',
      [org],
    );
    expect(ids.rows).toHaveLength(4);
    for (const r of ids.rows) expect(BigInt(r.pending_id)).toBeGreaterThan(0n);
  });

  it('audit_pending has no foreign key; the chain keeps its own', async () => {
    const keys = await admin.query<{ table: string }>(
      `select conrelid::regclass::text as table from pg_constraint
        where contype = 'f' and confrelid = 'public.organizations'::regclass
          and conrelid in ('public.audit_pending'::regclass, 'public.audit_events'::regclass,
                           'public.audit_chain_heads'::regclass)
        order by 1`,
    );
    expect(keys.rows.map((r) => r.table)).toEqual(['audit_chain_heads', 'audit_events']);
  });

  it('the seal sweep deletes pending rows of an organization that is gone; it and the checkpoint scan list only live ones', async () => {
    const org = await createTestOrg(tenancy, 'admit-live');
    await insert(org, 'public', {});
    const gone = randomUUID();
    // What a transaction committing an event after its organization's purge would leave (superuser: RLS
    // and the guard do not stop it; nothing else could insert it).
    const orphan = async () => {
      await admin.query('begin');
      await admin.query(`set local session_replication_role = replica`);
      await admin.query(
        `insert into audit_pending (organization_id, pending_id, id, occurred_at, prefix, suffix, actor_type,
           action, target_type) values ($1, nextval('audit_pending_pending_id_seq'), gen_random_uuid(), now(),
           '{', '}', 'system', 'test.seeded', 't')`,
        [gone],
      );
      await admin.query('commit');
    };
    const left = async (o: string) =>
      Number(
        (
          await admin.query<{ n: string }>(
            'select count(*) as n from audit_pending where organization_id = $1',
            [o],
          )
        ).rows[0]!.n,
      );
    try {
      await orphan();
      const toCheckpoint = await auditChainsToCheckpoint(worker, 'k-0066', null, 1000);
      expect(toCheckpoint).toContain(org);
      expect(toCheckpoint).not.toContain(gone);
      expect(await left(gone)).toBe(1); // the checkpoint scan only reads
      // A later page (p_after set) lists without deleting; the first page deletes.
      expect(
        await auditOrganizationsPending(worker, '00000000-0000-0000-0000-000000000000', 1000),
      ).not.toContain(gone);
      expect(await left(gone)).toBe(1);
      const pending = await auditOrganizationsPending(worker, null, 1000);
      expect(pending).toContain(org);
      expect(pending).not.toContain(gone);
      expect(await left(gone)).toBe(0);
      expect(await left(org)).toBe(1);
    } finally {
      await admin.query('begin');
      await admin.query(`set local session_replication_role = replica`);
      await admin.query('delete from audit_pending where organization_id = $1', [gone]);
      await admin.query('commit');
    }
  });
});
