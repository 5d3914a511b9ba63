import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgBouncer, type PgBouncer } from '../../../test/support/pgbouncer.js';
import { createTestOrg, testDb } from '../../../test/support/tenancy.js';
import { insertProject } from '../../modules/projects/projects.repository.js';
import { setStatementCache, statementCacheEnabled } from './pipelined-query.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import { uncheckedTest } from './explicit-filters.js';

/**
 * The tenancy core through a PgBouncer 1.18 in TRANSACTION pooling mode with DB_STATEMENT_CACHE=off: two
 * server connections shared by many clients, so consecutive transactions of one client land on either,
 * and each server connection serves every tenant in turn. Nothing of one scope may reach another: not
 * the tenant setting, not a prepared statement, not an open transaction.
 */
const POOL_SIZE = 2;
const ORGS = 6;
const PROJECTS_PER_ORG = 3;

interface WireCounts {
  syncs: number;
  simpleQueries: number;
}

describe('through PgBouncer in transaction mode, DB_STATEMENT_CACHE=off', () => {
  let bouncer: PgBouncer;
  let tenancy: Tenancy;
  let runtimeUrl: string;
  const counts: WireCounts = { syncs: 0, simpleQueries: 0 };
  const orgs: string[] = [];
  const cacheWas = statementCacheEnabled();

  beforeAll(async () => {
    const db = testDb();
    // In front of the suite's PostgreSQL itself (the superuser URL is always direct, even in a run whose
    // runtime URL already goes through a bouncer).
    bouncer = await startPgBouncer({ superuserUrl: db.superuserUrl, poolSize: POOL_SIZE });
    runtimeUrl = bouncer.via(db.url);
    setStatementCache(false);
    // More clients than server connections: they must share them.
    tenancy = createTenancy({ url: runtimeUrl, poolSize: 8 });
    tenancy.control.pool.on('connect', (client) => {
      const wire = (client as unknown as { connection: { sync(): void; query(text: string): void } })
        .connection;
      const sync = wire.sync.bind(wire);
      const query = wire.query.bind(wire);
      wire.sync = () => {
        counts.syncs += 1;
        sync();
      };
      wire.query = (text) => {
        counts.simpleQueries += 1;
        query(text);
      };
    });
    for (let i = 0; i < ORGS; i++) {
      const org = await createTestOrg(tenancy, 'pgb');
      orgs.push(org);
      await tenancy.withTenant(org, async (t) => {
        for (let p = 0; p < PROJECTS_PER_ORG; p++) {
          await insertProject(t, {
            organization_id: org,
            id: randomUUID(),
            name: `p${p}`,
            description: null,
          });
        }
      });
    }
  });

  afterAll(async () => {
    await tenancy?.close();
    setStatementCache(cacheWas);
    await bouncer?.stop();
  });

  /** Two bare clients of the runtime role, each inside a transaction at once: with two server connections
   *  in the pool, between them they look at BOTH of them. */
  async function inspectServerConnections() {
    const clients = [new pg.Client(runtimeUrl), new pg.Client(runtimeUrl)];
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const seen = [];
      for (const c of clients) {
        await c.query('begin');
        const { rows } = await c.query<{
          pid: number;
          tenant: string | null;
          prepared: number;
          xact: string;
        }>(
          `select pg_backend_pid() as pid, current_setting('app.tenant_id', true) as tenant,
                  (select count(*)::int from pg_prepared_statements) as prepared,
                  current_setting('transaction_read_only') as xact`,
        );
        seen.push(rows[0]!);
      }
      await Promise.all(clients.map((c) => c.query('commit')));
      return seen;
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  }

  function expectClean(seen: Awaited<ReturnType<typeof inspectServerConnections>>) {
    expect(new Set(seen.map((s) => s.pid)).size).toBe(POOL_SIZE);
    for (const s of seen) {
      // '' once a transaction-local setting ended on that session, NULL on a session that never had one.
      expect(s.tenant ?? '').toBe('');
      expect(s.prepared).toBe(0);
      expect(s.xact).toBe('off');
    }
  }

  it('many concurrent scopes of different tenants over two server connections each see only their own rows', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const scopes = Array.from({ length: 60 }, (_, i) => {
      const org = orgs[i % ORGS]!;
      const mode = i % 3 === 0 ? ('write' as const) : ('read' as const);
      return tenancy.withTenant(
        org,
        async (t) => {
          const seen: { tenant: string; orgs: string[]; pid: number }[] = [];
          // Several statements per scope: a read scope's each run in its own transaction (possibly on
          // another server connection), a write scope's in one.
          for (let q = 0; q < 3; q++) {
            const { rows } = await sql<{ tenant: string; orgs: string[]; pid: number }>`
              select current_setting('app.tenant_id') as tenant, pg_backend_pid() as pid,
                     coalesce(array_agg(organization_id::text), '{}') as orgs from projects`.execute(t);
            seen.push(rows[0]!);
          }
          return { org, seen };
        },
        { mode },
      );
    });
    const results = await Promise.all(scopes);
    const pids = new Set<number>();
    for (const { org, seen } of results) {
      for (const s of seen) {
        expect(s.tenant).toBe(org);
        // RLS alone (no filter in the query): the tenant's own rows, all of them, nothing else.
        expect(s.orgs).toEqual(Array.from({ length: PROJECTS_PER_ORG }, () => org));
        pids.add(s.pid);
      }
    }
    expect(pids.size).toBeLessThanOrEqual(POOL_SIZE);
    expectClean(await inspectServerConnections());
  });

  it('a scope failing midway leaves no tenant, transaction or row behind', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const org = orgs[0]!;
    const name = `doomed-${randomUUID()}`;
    // A write scope: one insert done, then a statement fails.
    await expect(
      tenancy.withTenant(org, async (t) => {
        await insertProject(t, { organization_id: org, id: randomUUID(), name, description: null });
        await sql`select 1 / 0`.execute(t);
      }),
    ).rejects.toThrow(/division by zero/);
    // A write scope whose callback throws after its first statement.
    await expect(
      tenancy.withTenant(org, async (t) => {
        await insertProject(t, { organization_id: org, id: randomUUID(), name, description: null });
        throw new Error('callback failed');
      }),
    ).rejects.toThrow(/callback failed/);
    // A read scope whose query fails (its own implicit transaction).
    await expect(
      tenancy.withTenant(org, (t) => sql`select 1 / 0`.execute(t), { mode: 'read' }),
    ).rejects.toThrow(/division by zero/);
    expectClean(await inspectServerConnections());
    const left = await tenancy.withTenant(
      org,
      (t) =>
        t
          .selectFrom('projects')
          .select('id')
          .where('organization_id', '=', org)
          .where('name', '=', name)
          .execute(),
      { mode: 'read' },
    );
    expect(left).toEqual([]);
  });

  it('one round trip per tenant read: one Sync each, no simple-protocol query', async () => {
    const org = orgs[1]!;
    // The placement is cached by the scopes above: only the reads themselves go to the database.
    await tenancy.withTenant(org, (t) => sql`select 1`.execute(t), { mode: 'read' });
    const before = { ...counts };
    const reads = 5;
    await tenancy.withTenant(
      org,
      async (t) => {
        for (let i = 0; i < reads; i++) {
          await t.selectFrom('projects').select('id').where('organization_id', '=', org).execute();
        }
      },
      { mode: 'read' },
    );
    expect(counts.syncs - before.syncs).toBe(reads);
    expect(counts.simpleQueries - before.simpleQueries).toBe(0);
  });

  it('the Citus setter through the bouncer (Citus behind PgBouncer): no statement named, tenants apart, failed reads ended', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const citus = createTenancy({ url: runtimeUrl, poolSize: 4, setter: 'citus' });
    const named: string[] = [];
    citus.control.pool.on('connect', (client) => {
      const wire = (
        client as unknown as {
          connection: { parse(m: { name?: string }): void; bind(m: { statement?: string }): void };
        }
      ).connection;
      const parse = wire.parse.bind(wire);
      const bind = wire.bind.bind(wire);
      wire.parse = (m) => {
        if (m.name) named.push(`parse ${m.name}`);
        parse(m);
      };
      wire.bind = (m) => {
        if (m.statement) named.push(`bind ${m.statement}`);
        bind(m);
      };
    });
    try {
      const scopes = Array.from({ length: 24 }, (_, i) => {
        const org = orgs[i % ORGS]!;
        const mode = i % 3 === 0 ? ('write' as const) : ('read' as const);
        return citus.withTenant(
          org,
          async (t) => {
            const seen: { tenant: string; orgs: string[] }[] = [];
            for (let q = 0; q < 2; q++) {
              // A failed read (its own BEGIN READ ONLY … COMMIT pipeline) before each good one.
              if (mode === 'read') await sql`select 1 / 0`.execute(t).catch(() => undefined);
              const { rows } = await sql<{ tenant: string; orgs: string[] }>`
                select current_setting('app.tenant_id') as tenant,
                       coalesce(array_agg(organization_id::text), '{}') as orgs from projects`.execute(t);
              seen.push(rows[0]!);
            }
            return { org, seen };
          },
          { mode },
        );
      });
      for (const { org, seen } of await Promise.all(scopes)) {
        for (const s of seen) {
          expect(s.tenant).toBe(org);
          expect(s.orgs).toEqual(Array.from({ length: PROJECTS_PER_ORG }, () => org));
        }
      }
      // Reads failing together: the scope ends only once both have, each transaction ended.
      await expect(
        citus.withTenant(
          orgs[0]!,
          (t) => Promise.all([sql`select 1 / 0`.execute(t), sql`select 2 / 0`.execute(t)]),
          {
            mode: 'read',
          },
        ),
      ).rejects.toThrow(/division by zero/);
      expect(named).toEqual([]);
      expectClean(await inspectServerConnections());
    } finally {
      await citus.close();
    }
  });

  it('with the statement cache ON, tenant reads fail through the bouncer (why the setting exists)', async () => {
    // One server connection. Without the reset, two application pools (two instances) share it: the
    // second prepares the prelude under the name the first already prepared there ("already exists").
    // With DISCARD ALL after every transaction (the recommended configuration), a statement prepared in
    // one transaction is gone in the next: the second read binds a statement that no longer exists.
    const db = testDb();
    const org = orgs[2]!;
    const read = (x: Tenancy) => x.withTenant(org, (t) => sql`select 1 as one`.execute(t), { mode: 'read' });
    const failures = async (resetAfterTransaction: boolean) => {
      const one = await startPgBouncer({ superuserUrl: db.superuserUrl, poolSize: 1, resetAfterTransaction });
      const a = createTenancy({ url: one.via(db.url), poolSize: 1 });
      const b = createTenancy({ url: one.via(db.url), poolSize: 1 });
      setStatementCache(true);
      try {
        const codes: unknown[] = [];
        for (const x of [a, a, b]) {
          await read(x).then(
            () => codes.push('ok'),
            (err: { code?: unknown }) => codes.push(err.code),
          );
        }
        return codes;
      } finally {
        setStatementCache(false);
        await a.close();
        await b.close();
        await one.stop();
      }
    };
    // a: placement lookup + read (the prelude prepared, then bound), a again, b: its lookup parses the prelude.
    expect(await failures(false)).toEqual(['ok', 'ok', '42P05']); // prepared statement already exists
    expect(await failures(true)).toContain('26000'); // prepared statement does not exist
  });

  it('session state a statement leaves on a server connection reaches the next client unless the bouncer discards it', async () => {
    // The application destroys its connection after a scope that ran such a statement (with-tenant.ts),
    // but behind transaction pooling that closes only its connection to the bouncer: the server
    // connection, with the session-level setting on it, serves the next client. Hence DISCARD ALL after
    // every transaction (server_reset_query_always), the support's default (session-state.test.ts runs
    // through it in the PgBouncer run).
    const db = testDb();
    const leakedTo = async (resetAfterTransaction: boolean) => {
      const one = await startPgBouncer({ superuserUrl: db.superuserUrl, poolSize: 1, resetAfterTransaction });
      const t = createTenancy({ url: one.via(db.url), poolSize: 1 });
      const next = new pg.Client(one.via(db.url));
      try {
        const org = orgs[3]!;
        await t.withTenant(org, (x) => sql`set app.tenant_id = ${sql.lit(org)}`.execute(x));
        await next.connect();
        const { rows } = await next.query<{ t: string | null }>('select app_current_tenant()::text as t');
        return rows[0]!.t;
      } finally {
        await next.end();
        await t.close();
        await one.stop();
      }
    };
    expect(await leakedTo(false)).toBe(orgs[3]);
    expect(await leakedTo(true)).toBeNull();
  });
});
