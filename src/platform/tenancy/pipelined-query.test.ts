import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { testDb } from '../../../test/support/tenancy.js';
import { pipelinedQuery, type PreludeStatement } from './pipelined-query.js';

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
