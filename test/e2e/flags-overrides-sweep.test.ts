import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';

/**
 * The flag overrides sweep (migration 0073) on a tenant database: what it must never delete. An override
 * of a current flag written while the sweep deletes its key's leftover, and a row written before 0073 (no
 * flag id) of a key that has a flag, whatever its timestamp says (it is that flag's override).
 */
describe('flag overrides sweep: live overrides of a current flag', () => {
  let eu: ProvisionedDatabase;
  let admin: pg.Client;
  const org = randomUUID();

  beforeAll(async () => {
    eu = await provisionDatabase(testDb().superuserUrl, 'sr_flags_sweep', { tenantDatabase: true });
    admin = await connect(eu.adminUrl);
    await admin.query(`insert into organizations (id, slug, name) values ($1, $2, 'Sweep')`, [
      org,
      `sweep-${org.slice(0, 8)}`,
    ]);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    if (eu) await dropProvisioned(eu);
  });

  const sweep = (client: pg.Client, flags: unknown[]) =>
    client.query<{ n: number }>(
      `select worker_api.app_flag_overrides_sweep($1::jsonb, now() - interval '1 hour', 100) as n`,
      [JSON.stringify(flags)],
    );
  const stored = async (key: string) =>
    (
      await admin.query<{ flag_id: string | null }>(
        'select flag_id from feature_flag_overrides where organization_id = $1 and flag_key = $2',
        [org, key],
      )
    ).rows;

  it('an override of the current flag set while the sweep deletes the old row of its key is kept', async () => {
    const key = `sweep-race-${randomUUID().slice(0, 8)}`;
    const [oldFlag, newFlag] = [randomUUID(), randomUUID()];
    // The first flag's override, left behind when that flag was deleted two days ago.
    await admin.query(
      `insert into feature_flag_overrides (organization_id, flag_key, flag_id, value, updated_at)
       values ($1, $2, $3, 'true', now() - interval '2 days')`,
      [org, key, oldFlag],
    );
    const flags = [{ key, id: newFlag }];
    // The organization sets an override of the new flag (the repository's upsert), not yet committed...
    const writer = await connect(eu.adminUrl);
    const sweeper = await connect(eu.workerUrl);
    try {
      await writer.query('begin');
      await writer.query(
        `insert into feature_flag_overrides (organization_id, flag_key, flag_id, value) values ($1, $2, $3, 'false')
         on conflict (organization_id, flag_key) do update set flag_id = excluded.flag_id, value = excluded.value,
           updated_at = now()`,
        [org, key, newFlag],
      );
      // ...while the sweep picks the old row and waits for its lock.
      const swept = sweep(sweeper, flags);
      for (let i = 0; i < 100; i++) {
        const w = await admin.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        if (w.rows[0]!.n > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await writer.query('commit');
      await swept;
    } finally {
      await writer.end();
      await sweeper.end();
    }
    // The new flag's override, written just now, must still be there.
    expect(await stored(key)).toEqual([{ flag_id: newFlag }]);
  });

  it('an override written before 0073 of the current flag, on a server whose clock is a second behind, is kept and becomes that flag’s', async () => {
    const key = `sweep-skew-${randomUUID().slice(0, 8)}`;
    const flag = randomUUID();
    const created = new Date(Date.now() - 86_400_000);
    // Set right after the flag's creation by the control server's clock, stamped by the tenant server's,
    // which is a second behind: the same flag's override, its only one.
    await admin.query(
      `insert into feature_flag_overrides (organization_id, flag_key, value, updated_at)
       values ($1, $2, 'true', $3::timestamptz - interval '1 second')`,
      [org, key, created.toISOString()],
    );
    const sweeper = await connect(eu.workerUrl);
    try {
      expect((await sweep(sweeper, [{ key, id: flag }])).rows).toEqual([{ n: 0 }]);
    } finally {
      await sweeper.end();
    }
    expect(await stored(key)).toEqual([{ flag_id: flag }]);
  });

  it('a row written before 0073 of a key that has no flag (deleted) goes, once older than the margin', async () => {
    const [gone, recent] = ['gone', 'recent'].map((k) => `sweep-${k}-${randomUUID().slice(0, 8)}`) as [
      string,
      string,
    ];
    await admin.query(
      `insert into feature_flag_overrides (organization_id, flag_key, value, updated_at)
       values ($1, $2, 'true', now() - interval '2 days'), ($1, $3, 'true', now())`,
      [org, gone, recent],
    );
    const sweeper = await connect(eu.workerUrl);
    try {
      expect((await sweep(sweeper, [])).rows[0]!.n).toBeGreaterThanOrEqual(1);
    } finally {
      await sweeper.end();
    }
    expect(await stored(gone)).toEqual([]);
    // Written within the margin: possibly of a flag created after the list was read.
    expect(await stored(recent)).toEqual([{ flag_id: null }]);
  });
});
