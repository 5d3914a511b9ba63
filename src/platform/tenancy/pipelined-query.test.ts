import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { testDb } from '../../../test/support/tenancy.js';
import { randomBytes } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { TenantConnection } from './tenant-connection.js';
import type { TenantDb } from './tenant-database.js';
import {
  isStalePlanError,
  pipelinedQuery,
  setStatementCache,
  statementCacheEnabled,
  type PreludeStatement,
} from './pipelined-query.js';

describe('pipelined query: prepared statements stay consistent through failures', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDb().url });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });
  const prelude = (name: string, divisor: string): PreludeStatement[] => [
    { name, text: 'select 10 / $1::int', values: [divisor] },
  ];

  it('a prelude prepared earlier that fails at execute time stays usable', async () => {
    await pipelinedQuery(client, prelude('pq_a', '1'), 'select 1 as one', []);
    await expect(pipelinedQuery(client, prelude('pq_a', '0'), 'select 1 as one', [])).rejects.toThrow(
      /division by zero/,
    );
    const ok = await pipelinedQuery(client, prelude('pq_a', '2'), 'select 1 as one', []);
    expect(ok.rows).toEqual([{ one: 1 }]);
  });

  it('a prelude parsed in a pipeline that then fails is closed and parsed again next time', async () => {
    await expect(pipelinedQuery(client, prelude('pq_b', '0'), 'select 1 as one', [])).rejects.toThrow(
      /division by zero/,
    );
    const ok = await pipelinedQuery(client, prelude('pq_b', '5'), 'select 2 as two', []);
    expect(ok.rows).toEqual([{ two: 2 }]);
    const again = await pipelinedQuery(client, prelude('pq_b', '5'), 'select 2 as two', []);
    expect(again.rows).toEqual([{ two: 2 }]);
  });

  it('a failing main statement leaves the connection in sync for the next query', async () => {
    await expect(
      pipelinedQuery(client, prelude('pq_c', '1'), 'select 1 / $1::int as x', ['0']),
    ).rejects.toThrow(/division by zero/);
    const ok = await pipelinedQuery(client, prelude('pq_c', '1'), 'select 1 / $1::int as x', ['1']);
    expect(ok.rows).toEqual([{ x: 1 }]);
  });
});

describe('pipelined query: row descriptions are reused per prepared statement', () => {
  let client: pg.Client;
  let describes = 0;
  const table = `pq_shape_${randomBytes(4).toString('hex')}`;
  // The statement cache itself, on a direct connection: on even in a run whose runtime URL goes through a
  // PgBouncer (DB_STATEMENT_CACHE=off there).
  const cacheWas = statementCacheEnabled();
  beforeAll(async () => {
    setStatementCache(true);
    // Superuser: these tests create and alter a table of their own, a temporary one (this connection's
    // only: the catalog tests of public's tables, running beside it on the same database, never see it).
    client = new pg.Client({ connectionString: testDb().adminUrl });
    await client.connect();
    const wire = (client as unknown as { connection: { describe: (msg: unknown) => void } }).connection;
    const describe = wire.describe.bind(wire);
    wire.describe = (msg) => {
      describes += 1;
      describe(msg);
    };
    await client.query(`create temp table ${table} (a int, at timestamptz)`);
    await client.query(`insert into ${table} values (1, '2026-01-02T03:04:05Z')`);
  });
  afterAll(async () => {
    setStatementCache(cacheWas);
    await client.query(`drop table if exists ${table}`);
    await client.end();
  });

  it('describes a statement once, then reads rows with the remembered description and parsers', async () => {
    const text = `select a, at from ${table} where a = $1`;
    const before = describes;
    const first = await pipelinedQuery(client, [], text, [1]);
    const second = await pipelinedQuery(client, [], text, [1]);
    expect(describes - before).toBe(1);
    expect(second.rows).toEqual(first.rows);
    expect(second.rows[0]).toEqual({ a: 1, at: new Date('2026-01-02T03:04:05Z') });
    expect(second.fields.map((f) => f.name)).toEqual(['a', 'at']);
  });

  it('remembers statements without rows too (an INSERT answers Describe with no fields)', async () => {
    const text = `insert into ${table} (a) values ($1)`;
    const before = describes;
    await pipelinedQuery(client, [], text, [2]);
    const again = await pipelinedQuery(client, [], text, [3]);
    expect(describes - before).toBe(1);
    expect(again.rowCount).toBe(1);
    expect(again.rows).toEqual([]);
  });

  it('after the table changes shape, the stale statement fails once and is then prepared again', async () => {
    const text = `select * from ${table} where a = $1`;
    await pipelinedQuery(client, [], text, [1]);
    await pipelinedQuery(client, [], text, [1]);
    await client.query(`alter table ${table} add column b int default 7`);
    const stale = await pipelinedQuery(client, [], text, [1]).catch((e: unknown) => e);
    expect(isStalePlanError(stale)).toBe(true);
    const before = describes;
    const fresh = await pipelinedQuery(client, [], text, [1]);
    expect(describes - before).toBe(1);
    expect(fresh.rows[0]).toMatchObject({ a: 1, b: 7 });
  });

  it('with retryStalePlan, a read whose statement went stale is answered by the re-prepared one', async () => {
    const text = `select * from ${table} where a = $1 and $2::int = 0`;
    await pipelinedQuery(client, [], text, [1, 0]);
    await client.query(`alter table ${table} add column c text default 'new'`);
    const res = await pipelinedQuery(client, [], text, [1, 0], { retryStalePlan: true });
    expect(res.rows[0]).toMatchObject({ a: 1, c: 'new' });
  });

  it('a read scope retries its query when the statement went stale; a write scope reports it', async () => {
    const text = `select * from ${table} where a = $1 and $2::int = 1`;
    const connection = (mode: 'read' | 'write') =>
      new TenantConnection(
        client as unknown as pg.PoolClient,
        '00000000-0000-4000-8000-000000000000',
        mode,
        { prelude: () => [] },
        undefined as unknown as TenantDb,
      );
    const run = (conn: TenantConnection) =>
      conn.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, [1, 1]));
    await run(connection('read'));
    await client.query(`alter table ${table} add column d int default 4`);
    expect((await run(connection('read'))).rows[0]).toMatchObject({ a: 1, d: 4 });
    await client.query(`alter table ${table} add column e int default 5`);
    const write = connection('write');
    expect(isStalePlanError(await run(write).catch((e: unknown) => e))).toBe(true);
    await write.finish(false);
    expect((await run(connection('read'))).rows[0]).toMatchObject({ a: 1, e: 5 });
  });

  it('a value pg cannot convert fails that query alone, before anything is sent', async () => {
    await expect(pipelinedQuery(client, [], 'select $1::jsonb as j', [{ big: 1n }])).rejects.toThrow(
      /BigInt/,
    );
    const ok = await pipelinedQuery(client, [], 'select $1::jsonb as j', [{ n: 1 }]);
    expect(ok.rows).toEqual([{ j: { n: 1 } }]);
  });
});

describe('pipelined query: without the statement cache (DB_STATEMENT_CACHE=off)', () => {
  let client: pg.Client;
  let describes = 0;
  let syncs = 0;
  const table = `pq_unnamed_${randomBytes(4).toString('hex')}`;
  const cacheWas = statementCacheEnabled();
  beforeAll(async () => {
    client = new pg.Client({ connectionString: testDb().adminUrl });
    await client.connect();
    const wire = (client as unknown as { connection: { describe: (m: unknown) => void; sync: () => void } })
      .connection;
    const describe = wire.describe.bind(wire);
    const sync = wire.sync.bind(wire);
    wire.describe = (msg) => {
      describes += 1;
      describe(msg);
    };
    wire.sync = () => {
      syncs += 1;
      sync();
    };
    await client.query(`create table ${table} (a int)`);
    await client.query(`insert into ${table} values (1)`);
    setStatementCache(false);
  });
  afterAll(async () => {
    setStatementCache(cacheWas);
    await client.query(`drop table if exists ${table}`);
    await client.end();
  });

  it('prepares nothing by name, describes every execution, and keeps one Sync per pipeline', async () => {
    const prelude: PreludeStatement[] = [
      { name: 'pq_named_prelude', text: "select set_config('app.tenant_id', $1, true)", values: ['x'] },
    ];
    const text = `select a, current_setting('app.tenant_id', true) as t from ${table} where a = $1`;
    const [d0, s0] = [describes, syncs];
    for (let i = 0; i < 3; i++) {
      const res = await pipelinedQuery(client, prelude, text, [1]);
      expect(res.rows).toEqual([{ a: 1, t: 'x' }]);
    }
    expect(describes - d0).toBe(3);
    expect(syncs - s0).toBe(3);
    // A shape change cannot make an unnamed statement stale: the next read simply has the new column.
    await client.query(`alter table ${table} add column b int default 2`);
    const after = await pipelinedQuery(client, prelude, `select * from ${table} where a = $1`, [1]);
    expect(after.rows).toEqual([{ a: 1, b: 2 }]);
    const prepared = await client.query('select name from pg_prepared_statements');
    expect(prepared.rows).toEqual([]);
  });
});
