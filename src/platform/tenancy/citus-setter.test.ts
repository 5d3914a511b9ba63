import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { CompiledQuery, sql } from 'kysely';
import { randomBytes } from 'node:crypto';
import { uuidv7 } from '../ids.js';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { citusSchemaTenantSetter, citusTenantSetter, setLocalTenant } from './citus-setter.js';
import {
  inAbortedTransaction,
  isStalePlanError,
  pipelinedQuery,
  rollBackAborted,
  setStatementCache,
  statementCacheEnabled,
} from './pipelined-query.js';
import { TenantConnection } from './tenant-connection.js';
import type { TenantDb } from './tenant-database.js';
import { createPlacementRouter } from './placement.js';
import { chooseTenantSetter, CITUS_SETTERS, detectTenantSetter } from './tenant-setters.js';
import type { Tenancy } from './tenancy.js';
import { TenancyError } from './errors.js';
import { uncheckedTest } from './explicit-filters.js';

/** What a client writes to the server, message by message, and how many round trips (ReadyForQuery) it
 *  waited for: the wire as PostgreSQL (or Citus) sees it. */
interface Wire {
  readonly messages: string[];
  roundTrips: number;
  reset(): void;
}

function spyWire(client: pg.ClientBase): Wire {
  const conn = (client as unknown as { connection: Record<string, unknown> & { on: pg.Connection['on'] } })
    .connection;
  const wire: Wire = {
    messages: [],
    roundTrips: 0,
    reset() {
      this.messages.length = 0;
      this.roundTrips = 0;
    },
  };
  for (const kind of ['parse', 'bind', 'execute', 'sync', 'query', 'describe', 'close'] as const) {
    const original = (conn[kind] as (msg: unknown) => void).bind(conn);
    conn[kind] = (msg: unknown) => {
      const m = msg as { text?: string; name?: string; statement?: string } | string | undefined;
      const detail =
        typeof m === 'string'
          ? m
          : kind === 'parse'
            ? `${m?.name || '(unnamed)'}: ${m?.text}`
            : kind === 'bind'
              ? m?.statement || '(unnamed)'
              : '';
      wire.messages.push(detail ? `${kind} ${detail}` : kind);
      original(msg);
    };
  }
  conn.on('readyForQuery', () => {
    wire.roundTrips += 1;
  });
  return wire;
}

const ORG = '0190f5a4-3b2c-7d1e-8f00-0123456789ab';

describe('Citus tenant setter: statements', () => {
  it('sets the tenant with SET LOCAL, its own unnamed statement; reads open BEGIN READ ONLY and end with COMMIT', () => {
    expect(citusTenantSetter.prelude(ORG, 'write')).toEqual([
      { name: '', text: `set local app.tenant_id = '${ORG}'`, values: [] },
    ]);
    expect(citusTenantSetter.prelude(ORG, 'read').map((s) => [s.name, s.text])).toEqual([
      ['sr_begin_ro', 'begin read only'],
      ['', `set local app.tenant_id = '${ORG}'`],
    ]);
    expect(citusTenantSetter.readEpilogue?.map((s) => [s.name, s.text])).toEqual([['sr_commit', 'commit']]);
    const schema = `t_${ORG.replaceAll('-', '')}`;
    expect(
      citusSchemaTenantSetter(ORG, schema)
        .prelude(ORG, 'read')
        .map((s) => [s.name, s.text]),
    ).toEqual([
      ['sr_begin_ro', 'begin read only'],
      ['', `set local app.tenant_id = '${ORG}'`],
      ['', `set local search_path = "${schema}", public`],
    ]);
    expect(() => citusSchemaTenantSetter(ORG, 'public; drop table x')).toThrow(TenancyError);
  });

  const hostile = [
    "'; drop table projects; --",
    `${ORG}'; reset app.tenant_id; --`,
    ORG.toUpperCase(),
    ORG.replaceAll('-', ''),
    `{${ORG}}`,
    `${ORG}\n`,
    ` ${ORG}`,
    ORG.replace('a', '\u0430'), // Cyrillic a
    ORG.replace('0', '\uff10'), // fullwidth zero
    ORG.replace('-', '\u2010'), // a Unicode hyphen
    '',
  ];

  it('refuses anything but a canonical lowercase uuid before building any SQL text', () => {
    for (const bad of hostile) {
      expect(() => setLocalTenant(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_TENANT_ID' }),
      );
      for (const mode of ['read', 'write'] as const) {
        expect(() => citusTenantSetter.prelude(bad, mode)).toThrow(TenancyError);
      }
      expect(() => citusSchemaTenantSetter(bad, `t_${ORG.replaceAll('-', '')}`)).toThrow(TenancyError);
    }
  });

  it('the router refuses an organization in an online move: moves are not supported on Citus', () => {
    expect(() => CITUS_SETTERS.moving(ORG)).toThrow(/not supported with the Citus tenant setter/);
  });

  describe('on the wire (PostgreSQL)', () => {
    let client: pg.Client;
    let wire: Wire;
    // The stale-plan test needs named statements: the cache pinned on (its connection is direct, also in a
    // run through PgBouncer, where DB_STATEMENT_CACHE=off for everything else).
    const cacheWas = statementCacheEnabled();
    beforeAll(async () => {
      setStatementCache(true);
      client = await connect(testDb().url);
      wire = spyWire(client);
    });
    afterAll(async () => {
      setStatementCache(cacheWas);
      await client.end();
    });

    it('an invalid tenant id never reaches the connection: nothing is written', async () => {
      for (const bad of hostile) {
        for (const mode of ['read', 'write'] as const) {
          wire.reset();
          const conn = new TenantConnection(
            client as unknown as pg.PoolClient,
            bad,
            mode,
            citusTenantSetter,
            undefined as unknown as TenantDb,
          );
          await expect(
            Promise.resolve().then(() => conn.executeQuery(CompiledQuery.raw('select 1', []))),
          ).rejects.toMatchObject({ code: 'INVALID_TENANT_ID' });
          expect(wire.messages).toEqual([]);
        }
      }
      expect(client.getTransactionStatus()).toBe('I');
    });

    it('detects no citus extension on plain PostgreSQL (auto picks pooled)', async () => {
      expect(await detectTenantSetter(client)).toBe('pooled');
      expect(await chooseTenantSetter('auto', testDb().url)).toBe('pooled');
      expect(await chooseTenantSetter('citus', 'postgres://nobody@127.0.0.1:1/none')).toBe('citus');
    });

    it('a read that failed inside its own transaction is rolled back before the next one, which is then answered (stale plan: re-sent)', async () => {
      // Superuser (a table of its own, altered under the statement), watched on the wire like `client`.
      const admin = await connect(testDb().adminUrl);
      const adminWire = spyWire(admin);
      const table = `cs_${randomBytes(4).toString('hex')}`;
      try {
        await admin.query(`create table ${table} (a int)`);
        await admin.query(`insert into ${table} values (1)`);
        const text = `select * from ${table} where a = $1`;
        const read = () =>
          pipelinedQuery(admin, citusTenantSetter.prelude(ORG, 'read'), text, [1], {
            epilogue: citusTenantSetter.readEpilogue,
            retryStalePlan: true,
          });
        expect((await read()).rows).toEqual([{ a: 1 }]);
        await admin.query(`alter table ${table} add column b int default 2`);
        // The prepared statement went stale: the read failed inside BEGIN … and is sent again, after a
        // ROLLBACK in the same pipeline.
        adminWire.reset();
        expect((await read()).rows).toEqual([{ a: 1, b: 2 }]);
        expect(adminWire.messages.filter((m) => m === 'parse (unnamed): rollback')).toHaveLength(1);
        expect(admin.getTransactionStatus()).toBe('I');
        // Without the retry, the stale statement's error is the caller's, and the connection says so.
        await admin.query(`alter table ${table} add column c int default 3`);
        const failed = await pipelinedQuery(admin, citusTenantSetter.prelude(ORG, 'read'), text, [1], {
          epilogue: citusTenantSetter.readEpilogue,
        }).catch((e: unknown) => e);
        expect(isStalePlanError(failed)).toBe(true);
        // Known as soon as the error is (the server's ReadyForQuery, status E, may come a moment later).
        expect(inAbortedTransaction(admin)).toBe(true);
        expect((await read()).rows).toEqual([{ a: 1, b: 2, c: 3 }]);
        expect(inAbortedTransaction(admin)).toBe(false);
        expect(admin.getTransactionStatus()).toBe('I');
      } finally {
        await rollBackAborted(admin);
        await admin.query(`drop table if exists ${table}`);
        await admin.end();
      }
    });
  });
});

describe('Citus tenant setter through withTenant (PostgreSQL)', () => {
  let tenancy: Tenancy;
  let orgA: string;
  let orgB: string;
  let client: pg.PoolClient;
  let wire: Wire;
  const tenantOf = sql<{ t: string | null; ro: string }>`select current_setting('app.tenant_id', true) as t,
    current_setting('transaction_read_only') as ro`;

  beforeAll(async () => {
    // One connection: every scope runs on the connection the wire spy watches.
    tenancy = createTestTenancy(1, 'citus');
    orgA = await createTestOrg(tenancy, 'cs-a');
    orgB = await createTestOrg(tenancy, 'cs-b');
    for (const org of [orgA, orgB]) {
      await tenancy.withTenant(org, (db) =>
        db.insertInto('projects').values({ organization_id: org, id: uuidv7(), name: 'p' }).execute(),
      );
    }
    client = await tenancy.control.pool.connect();
    wire = spyWire(client);
    client.release();
  });
  afterAll(async () => {
    await tenancy.close();
  });

  /** The connection between scopes: idle (no transaction, failed or open), no tenant. */
  async function expectClean(): Promise<void> {
    const c = await tenancy.control.pool.connect();
    try {
      expect(c).toBe(client);
      expect(c.getTransactionStatus()).toBe('I');
      const r = await c.query<{ t: string | null; n: number }>(
        `select current_setting('app.tenant_id', true) as t, (select count(*)::int from projects) as n`,
      );
      expect(r.rows[0]!.t ?? '').toBe('');
      expect(r.rows[0]!.n).toBe(0);
    } finally {
      c.release();
    }
  }

  it('each read is one round trip: BEGIN READ ONLY, SET LOCAL, the query, COMMIT, one Sync', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const scope = () =>
      tenancy.withTenant(
        orgA,
        async (db) => {
          const rows = await db.selectFrom('projects').select('organization_id').execute();
          const setting = (await tenantOf.execute(db)).rows[0];
          return { rows, setting };
        },
        { mode: 'read' },
      );
    await scope(); // prepares the statements on the connection
    wire.reset();
    const seen = await scope();
    expect(seen.rows).toEqual([{ organization_id: orgA }]);
    expect(seen.setting).toEqual({ t: orgA, ro: 'on' });
    expect(wire.roundTrips).toBe(2);
    expect(wire.messages.filter((m) => m === 'sync')).toHaveLength(2);
    const first = wire.messages.slice(0, wire.messages.indexOf('sync') + 1);
    if (!statementCacheEnabled()) {
      // DB_STATEMENT_CACHE=off (a run through PgBouncer): the same statements, each parsed unnamed.
      expect(first.filter((m) => m.startsWith('parse'))).toEqual([
        'parse (unnamed): begin read only',
        `parse (unnamed): set local app.tenant_id = '${orgA}'`,
        expect.stringMatching(/^parse \(unnamed\): select/),
        'parse (unnamed): commit',
      ]);
      expect(first.filter((m) => m.startsWith('bind'))).toEqual(Array(4).fill('bind (unnamed)'));
      await expectClean();
      return;
    }
    // Statements prepared on the connection are only bound; the SET LOCAL (unnamed) is parsed each time.
    expect(first).toEqual([
      'bind sr_begin_ro',
      'execute',
      `parse (unnamed): set local app.tenant_id = '${orgA}'`,
      'bind (unnamed)',
      'execute',
      expect.stringMatching(/^bind sr_q\d+$/),
      'execute',
      'bind sr_commit',
      'execute',
      'sync',
    ]);
    await expectClean();
  });

  it('a write scope: BEGIN and SET LOCAL travel with the first query, COMMIT at the end', async () => {
    wire.reset();
    const name = `w-${uuidv7()}`;
    await tenancy.withTenant(orgA, async (db) => {
      await db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name }).execute();
      expect((await tenantOf.execute(db)).rows[0]).toEqual({ t: orgA, ro: 'off' });
    });
    expect(wire.messages.filter((m) => m.startsWith('parse') && m.includes('set local'))).toEqual([
      `parse (unnamed): set local app.tenant_id = '${orgA}'`,
    ]);
    expect(wire.messages[0]).toBe(statementCacheEnabled() ? 'bind sr_begin' : 'parse (unnamed): begin');
    expect(wire.roundTrips).toBe(3); // first query (with BEGIN, SET LOCAL), second query, COMMIT
    await expectClean();
  });

  it('a failed read leaves the connection idle, not in a failed transaction', async () => {
    await expect(
      tenancy.withTenant(orgA, (db) => sql`select 1/0`.execute(db), { mode: 'read' }),
    ).rejects.toThrow(/division by zero/);
    await expectClean();
  });

  it('a failed read swallowed by the scope: its next read starts clean, and the scope still ends idle', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const rows = await tenancy.withTenant(
      orgA,
      async (db) => {
        await sql`select 1/0`.execute(db).catch(() => undefined);
        return db.selectFrom('projects').select('organization_id').execute();
      },
      { mode: 'read' },
    );
    expect(new Set(rows.map((r) => r.organization_id))).toEqual(new Set([orgA]));
    await tenancy.withTenant(orgA, (db) => sql`select 1/0`.execute(db).catch(() => undefined), {
      mode: 'read',
    });
    await expectClean();
  });

  it('reads issued together, the first failing: the second is answered under its tenant', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const [first, second] = await tenancy.withTenant(
      orgB,
      (db) =>
        Promise.allSettled([
          sql`select 1/0`.execute(db),
          db.selectFrom('projects').select('organization_id').execute(),
        ]),
      { mode: 'read' },
    );
    expect(first.status).toBe('rejected');
    expect(second).toEqual({ status: 'fulfilled', value: [{ organization_id: orgB }] });
    await expectClean();
  });

  it('reads issued together with Promise.all, both failing: the scope waits for the second before it hands the connection back', async () => {
    // The scope rejects at the first failure while the second read is still queued on the connection;
    // had the connection gone back to the pool then, the second's failure would leave it in a failed
    // transaction block for its next user.
    await expect(
      tenancy.withTenant(
        orgA,
        (db) => Promise.all([sql`select 1/0`.execute(db), sql`select 2/0`.execute(db)]),
        {
          mode: 'read',
        },
      ),
    ).rejects.toThrow(/division by zero/);
    await expectClean();
  });

  it('a failed write scope rolls back and leaves the connection idle', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    const name = `rb-${uuidv7()}`;
    await expect(
      tenancy.withTenant(orgA, async (db) => {
        await db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name }).execute();
        await sql`select 1/0`.execute(db);
      }),
    ).rejects.toThrow(/division by zero/);
    await expectClean();
    const found = await tenancy.withTenant(
      orgA,
      (db) => db.selectFrom('projects').select('id').where('name', '=', name).execute(),
      { mode: 'read' },
    );
    expect(found).toEqual([]);
  });

  it('read scopes are read-only; another tenant sees none of A’s rows', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
    await expect(
      tenancy.withTenant(
        orgA,
        (db) =>
          db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name: 'ro' }).execute(),
        { mode: 'read' },
      ),
    ).rejects.toThrow(/read-only transaction/);
    const seenByB = await tenancy.withTenant(
      orgB,
      (db) =>
        db.selectFrom('projects').select('organization_id').where('organization_id', '=', orgA).execute(),
      { mode: 'read' },
    );
    expect(seenByB).toEqual([]);
    await expectClean();
  });

  it('an organization in an online move is refused with a clear error, not routed to set_config', async () => {
    const org = await createTestOrg(tenancy, 'cs-mv');
    const admin = await connect(testDb().adminUrl);
    try {
      await admin.query(`update tenant_placements set state = 'moving' where organization_id = $1`, [org]);
      const router = createPlacementRouter({ control: tenancy.control, setters: CITUS_SETTERS });
      const refused = await router.resolve(org).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'PLACEMENT_UNSUPPORTED' });
      expect((refused as Error).message).toMatch(/online placement moves are not supported/);
    } finally {
      await admin.query(`update tenant_placements set state = 'active' where organization_id = $1`, [org]);
      await admin.end();
    }
    await expectClean();
  });
});
