import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createMeterCatalog } from './meter-catalog.js';
import { allMeters, toDef } from './meters.repository.js';
import { canonicalJson } from '../../platform/audit/canonical-json.js';
import { jsonTextArrayLiteral, plainArrayLiteral, textArrayLiteral } from './usage-events.repository.js';
import { createUsageEventsService } from './usage-events.service.js';

/**
 * What the cheaper batch statement (migration 0022, hand-built array literals) must keep: every id and
 * property text stored exactly as sent, nothing stored for an organization that does not exist (the
 * per-statement check that replaced the per-row foreign key), and the meter format rule of the table.
 */
describe('usage ingestion storage', () => {
  const db = testDb();
  const meter = `t.store.${randomBytes(4).toString('hex')}`;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let service: ReturnType<typeof createUsageEventsService>;

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    admin = await connect(db.adminUrl);
    await admin.query(`insert into meters (key, aggregation) values ($1, 'sum')`, [meter]);
    service = createUsageEventsService({
      withTenant: tenancy.withTenant,
      meters: createMeterCatalog({
        load: async () => (await allMeters(createPlatformDb(tenancy.control.pool))).map(toDef),
      }),
      settings: { latenessMs: 7 * 86_400_000, futureMs: 5 * 60_000 },
    });
  });
  afterAll(async () => {
    await admin.end();
    await tenancy.close();
  });

  it('builds the array literal PostgreSQL reads back element for element', async () => {
    const texts = [
      'plain',
      'a"quote',
      'back\\slash',
      'comma,brace{}',
      'NULL',
      ' spaced ',
      'é ✓ 𝄞',
      '',
      '\\"',
    ];
    expect(textArrayLiteral([])).toBe('{}');
    const res = await admin.query<{ a: (string | null)[] }>('select $1::text[] as a', [
      textArrayLiteral([...texts, null]),
    ]);
    expect(res.rows[0]!.a).toEqual([...texts, null]);
  });

  it('builds the JSON and plain array literals PostgreSQL reads back element for element', async () => {
    const objects = [
      { a: 'plain' },
      { q: 'a "quote" and \\ backslash', n: -1.5e-7, ok: true, none: null },
      { nl: 'line\nbreak\ttab', c: '\u0001', u: 'é ✓ 𝄞 \u2028' },
      { 'k"ey': '{,}', NULL: 'NULL' },
      {},
    ];
    const texts = [...objects.map((o) => canonicalJson(o)), null];
    const res = await admin.query<{ t: (string | null)[]; j: unknown[] }>(
      'select $1::text[] as t, $1::jsonb[] as j',
      [jsonTextArrayLiteral(texts)],
    );
    expect(res.rows[0]!.t).toEqual(texts);
    expect(res.rows[0]!.j).toEqual([...objects.map((o) => JSON.parse(canonicalJson(o)) as unknown), null]);
    // Without any other escape the literal is the JSON text itself; with one, the escaping path.
    expect(jsonTextArrayLiteral(['{"a":1}', null])).toBe('{"{\\"a\\":1}",null}');
    expect(jsonTextArrayLiteral([])).toBe('{}');
    const plain = ['2026-12-04T19:00:00.000Z', '-12.5', '0123456789abcdef', 'bench.bytes_x-1', null];
    const p = await admin.query<{ a: (string | null)[] }>('select $1::text[] as a', [
      plainArrayLiteral(plain),
    ]);
    expect(p.rows[0]!.a).toEqual(plain);
    expect(plainArrayLiteral([])).toBe('{}');
  });

  it('stores ids and properties with quotes, backslashes and separators exactly', async () => {
    const org = await createTestOrg(tenancy, 'usage-store');
    const ts = new Date(Date.now() - 1000).toISOString();
    const ids = ['q"1', 'b\\2', 'c,3', '{4}', 'NULL', ' 6 '];
    const events = ids.map((id, i) => ({
      id,
      meter,
      value: String(i + 1),
      timestamp: ts,
      properties: { note: `say "hi" \\ ${id}`, n: i, ok: true, none: null },
    }));
    const first = await service.ingest(systemCtx(org, 'usage.test'), events);
    expect(first.accepted).toBe(ids.length);
    const again = await service.ingest(systemCtx(org, 'usage.test'), events);
    expect(again.duplicates).toBe(ids.length);
    const stored = await admin.query<{ id: string; value: string; properties: unknown }>(
      'select id, value::text as value, properties from usage_events where organization_id = $1 order by value',
      [org],
    );
    expect(stored.rows.map((r) => r.id)).toEqual(ids);
    expect(stored.rows.map((r) => r.properties)).toEqual(events.map((e) => e.properties));
  });

  it('stores nothing for an organization that does not exist', async () => {
    const ghost = randomUUID();
    const ts = new Date().toISOString();
    await expect(
      service.ingest(systemCtx(ghost, 'usage.test'), [{ id: 'g1', meter, value: '1', timestamp: ts }]),
    ).rejects.toThrow();
    const n = await admin.query<{ k: number; e: number }>(
      `select (select count(*)::int from usage_event_keys where organization_id = $1) as k,
              (select count(*)::int from usage_events where organization_id = $1) as e`,
      [ghost],
    );
    expect(n.rows[0]).toEqual({ k: 0, e: 0 });
  });

  it('keeps the meter format rule of the table: a letter, then up to 63 of [a-z0-9_.-]', async () => {
    const org = await createTestOrg(tenancy, 'usage-fmt');
    const insert = (m: string, id: string) =>
      admin.query(
        `insert into usage_events (organization_id, id, meter, occurred_at) values ($1, $2, $3, now())`,
        [org, id, m],
      );
    await insert(`a${'b'.repeat(63)}`, 'ok64');
    await insert('a', 'ok1');
    for (const [i, bad] of [`a${'b'.repeat(64)}`, 'Upper', '1abc', 'a b', 'é', ''].entries()) {
      await expect(insert(bad, `bad${i}`)).rejects.toMatchObject({ code: '23514' });
    }
  });
});
