import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  createOverridableFlag,
  inOrg,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  tenantDatabasesOption,
  uniqueSlug,
  type E2eApp,
  type User,
} from './helpers.js';
import { sweepFlagOverrides } from '../../src/modules/flags/overrides-sweep.js';

/**
 * A feature flag deleted and created again under the same key, seen by an organization placed in a
 * tenant database (a region) and by a pooled one. The control database cascades a flag's deletion to its
 * overrides; a tenant database has no foreign key to the control database's flags, so its override rows of
 * the first flag outlive it there. They record the flag they override (its id), so the second flag never
 * takes them for its own: the organization sees the new flag's default, lists no override of it, and may
 * set one again.
 */
describe('e2e: flag overrides of a database placement outlive no flag', () => {
  let c: E2eApp;
  let eu: ProvisionedDatabase;
  let euAdmin: pg.Client;
  let owner: User;
  let admin: User;
  let euOrg: string;
  let pooledOrg: string;

  beforeAll(async () => {
    eu = await provisionDatabase(testDb().superuserUrl, 'sr_flags_eu', { tenantDatabase: true });
    c = await startApp({
      tenantDatabases: tenantDatabasesOption(
        { 'eu-1': { url: eu.url, workerUrl: eu.workerUrl } },
        { regions: { eu: 'eu-1' }, maxConnections: 4, poolSize: 3 },
      ),
    });
    euAdmin = await connect(eu.adminUrl);
    [owner, admin] = await Promise.all([signUp(c, 'flags-db'), signUpPlatformAdmin(c, 'flags-db-admin')]);
    const create = async (region?: string) => {
      const res = await owner.browser.post('/v1/organizations', {
        slug: uniqueSlug('flags-db'),
        name: 'Flags',
        ...(region ? { region } : {}),
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>().id;
    };
    [euOrg, pooledOrg] = [await create('eu'), await create()];
  }, 120_000);
  afterAll(async () => {
    await euAdmin?.end();
    if (c) await stopApp(c);
    if (eu) await dropProvisioned(eu);
  });

  const flagOf = async (org: string, key: string) => {
    const res = await owner.browser.get('/v1/flags', inOrg(org));
    expect(res.statusCode, res.body).toBe(200);
    return res
      .json<{ details: { key: string; value: unknown; reason: string }[] }>()
      .details.find((d) => d.key === key);
  };
  const overrides = async (org: string) => {
    const res = await owner.browser.get('/v1/flags/overrides', inOrg(org));
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ data: { flagKey: string }[] }>().data.map((o) => o.flagKey);
  };
  const overridable = async (org: string, key: string) => {
    const res = await owner.browser.get('/v1/flags/overridable?limit=100', inOrg(org));
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ data: { key: string; override: unknown }[] }>().data.find((f) => f.key === key);
  };
  const setOverride = async (org: string, key: string) => {
    const res = await owner.browser.put(`/v1/flags/${key}/override`, { value: true }, inOrg(org));
    expect(res.statusCode, res.body).toBe(200);
  };
  const storedInEu = async (key: string) =>
    (
      await euAdmin.query<{ n: number }>(
        'select count(*)::int as n from feature_flag_overrides where organization_id = $1 and flag_key = $2',
        [euOrg, key],
      )
    ).rows[0]!.n;

  it('the re-created flag serves its default to both organizations, not the first flag’s override', async () => {
    const key = `dbflag-${randomUUID().slice(0, 8)}`;
    await createOverridableFlag(admin.browser, key);
    await setOverride(euOrg, key);
    await setOverride(pooledOrg, key);
    for (const org of [euOrg, pooledOrg]) {
      expect(await flagOf(org, key)).toMatchObject({ value: true, reason: 'override' });
    }
    expect(await storedInEu(key)).toBe(1);

    const deleted = await admin.browser.delete(`/v1/platform/flags/${key}`);
    expect(deleted.statusCode, deleted.body).toBe(204);
    await createOverridableFlag(admin.browser, key);
    // The tenant database still holds the first flag's override (no cascade reaches it)...
    expect(await storedInEu(key)).toBe(1);

    // ...which is not the second flag's.
    for (const org of [euOrg, pooledOrg]) {
      expect(await flagOf(org, key)).toMatchObject({ value: false, reason: 'default' });
      expect(await overrides(org)).not.toContain(key);
      expect(await overridable(org, key)).toMatchObject({ key, override: null });
      const removed = await owner.browser.delete(`/v1/flags/${key}/override`, inOrg(org));
      expect(removed.statusCode, removed.body).toBe(404);
    }

    // An override of the new flag is the new flag's own; its audit event has no "before".
    await setOverride(euOrg, key);
    expect(await flagOf(euOrg, key)).toMatchObject({ value: true, reason: 'override' });
    expect(await overrides(euOrg)).toContain(key);
    const audit = await euAdmin.query<{ changes: { before: unknown } }>(
      `select changes from (select id, changes from audit_pending where organization_id = $1 and action = 'flag_override.set'
                            union all select id, changes from audit_events where organization_id = $1 and action = 'flag_override.set') a
        order by id desc limit 1`,
      [euOrg],
    );
    expect(audit.rows[0]?.changes.before).toBeNull();
  });
  it('the sweep deletes a tenant database’s overrides of deleted flags, and gives rows written before 0073 their key’s flag', async () => {
    const sweep = () =>
      sweepFlagOverrides({
        control: c.tenancy.control.pool,
        databases: [{ key: 'eu-1', workerUrl: eu.workerUrl }],
        marginMs: 0,
      });
    const [gone, kept, legacyNew, legacyOld, legacyGone] = [
      'gone',
      'kept',
      'legacy-new',
      'legacy-old',
      'legacy-gone',
    ].map((k) => `sweep-${k}-${randomUUID().slice(0, 8)}`) as [string, string, string, string, string];
    for (const key of [gone, kept, legacyNew, legacyOld]) await createOverridableFlag(admin.browser, key);
    await setOverride(euOrg, gone);
    await setOverride(euOrg, kept);
    // Rows as a tenant database kept them before migration 0073: no flag id. Each is the override of its
    // key's current flag, whatever its timestamp says against the flag's creation (two servers' clocks):
    // one stamped after, one before; a third is of a key that has no flag (deleted).
    await euAdmin.query(
      `insert into feature_flag_overrides (organization_id, flag_key, value, updated_at)
       values ($1, $2, 'true', now() + interval '1 minute'), ($1, $3, 'true', now() - interval '1 day'),
              ($1, $4, 'true', now() - interval '1 day')`,
      [euOrg, legacyNew, legacyOld, legacyGone],
    );
    await owner.browser.delete(`/v1/flags/${kept}/override`, inOrg(euOrg)); // drops the cached context
    await setOverride(euOrg, kept);
    for (const key of [legacyNew, legacyOld]) {
      expect(await flagOf(euOrg, key)).toMatchObject({ value: true, reason: 'override' });
      expect(await overridable(euOrg, key)).toMatchObject({ key, override: { value: true } });
    }
    expect(await overrides(euOrg)).toEqual(expect.arrayContaining([kept, legacyNew, legacyOld]));
    expect(await overrides(euOrg)).not.toContain(legacyGone);

    expect((await admin.browser.delete(`/v1/platform/flags/${gone}`)).statusCode).toBe(204);
    await createOverridableFlag(admin.browser, gone);
    expect(await sweep()).toEqual([{ key: 'eu-1', deleted: 2 }]);
    const rows = await euAdmin.query<{ flag_key: string; flag_id: string | null }>(
      'select flag_key, flag_id from feature_flag_overrides where organization_id = $1 and flag_key = any($2)',
      [euOrg, [gone, kept, legacyNew, legacyOld, legacyGone]],
    );
    expect(rows.rows.map((r) => r.flag_key).sort()).toEqual([kept, legacyNew, legacyOld].sort());
    const ids = await c.tenancy.control.pool.query<{ flag_key: string; flag_id: string }>(
      'select key as flag_key, id as flag_id from feature_flags where key = any($1)',
      [[kept, legacyNew, legacyOld]],
    );
    expect(rows.rows.sort((a, b) => a.flag_key.localeCompare(b.flag_key))).toEqual(
      ids.rows.sort((a, b) => a.flag_key.localeCompare(b.flag_key)),
    );
    for (const key of [legacyNew, legacyOld, kept]) {
      expect(await flagOf(euOrg, key)).toMatchObject({ value: true, reason: 'override' });
    }
    expect(await flagOf(euOrg, gone)).toMatchObject({ value: false, reason: 'default' });
    // A second run finds nothing left.
    expect(await sweep()).toEqual([{ key: 'eu-1', deleted: 0 }]);
  });
  it('an override set while its flag is deleted and created again answers 404, and the new flag has none', async () => {
    const key = `dbflag-race-${randomUUID().slice(0, 8)}`;
    await createOverridableFlag(admin.browser, key);
    await setOverride(euOrg, key);
    const idOf = async () =>
      (
        await c.tenancy.control.pool.query<{ id: string }>('select id from feature_flags where key = $1', [
          key,
        ])
      ).rows[0]!.id;
    const first = await idOf();
    // The override's row is held, so the PUT reads the first flag and then waits at its write...
    const locker = await connect(eu.adminUrl);
    let put: Promise<{ statusCode: number; body: string }> | undefined;
    try {
      await locker.query('begin');
      await locker.query(
        'select 1 from feature_flag_overrides where organization_id = $1 and flag_key = $2 for update',
        [euOrg, key],
      );
      put = owner.browser.put(`/v1/flags/${key}/override`, { value: false }, inOrg(euOrg));
      let waiting = false;
      for (let i = 0; i < 200 && !waiting; i++) {
        const w = await euAdmin.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
        waiting = w.rows[0]!.n > 0;
        if (!waiting) await new Promise((r) => setTimeout(r, 25));
      }
      expect(waiting).toBe(true);
      // ...while the flag is deleted and created again.
      expect((await admin.browser.delete(`/v1/platform/flags/${key}`)).statusCode).toBe(204);
      await createOverridableFlag(admin.browser, key);
    } finally {
      await locker.query('rollback').catch(() => {});
      await locker.end();
    }
    const res = await put;
    expect(res.statusCode, res.body).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'FLAG_NOT_FOUND' } });
    // Nothing was written: the tenant database keeps the first flag's row, which the new flag does not take.
    const rows = await euAdmin.query<{ flag_id: string; value: unknown }>(
      'select flag_id, value from feature_flag_overrides where organization_id = $1 and flag_key = $2',
      [euOrg, key],
    );
    expect(rows.rows).toEqual([{ flag_id: first, value: true }]);
    expect(await idOf()).not.toBe(first);
    expect(await flagOf(euOrg, key)).toMatchObject({ value: false, reason: 'default' });
  });
  it('the sweep is refused inside a tenant scope and on the control database (whose keys cascade)', async () => {
    const call = async (url: string, tenant?: string) => {
      const client = await connect(url);
      try {
        await client.query('begin');
        if (tenant) await client.query("select set_config('app.tenant_id', $1, true)", [tenant]);
        await client.query("select worker_api.app_flag_overrides_sweep('[]'::jsonb, now(), 10)");
      } finally {
        await client.query('rollback').catch(() => {});
        await client.end();
      }
    };
    await expect(call(eu.workerUrl, euOrg)).rejects.toMatchObject({ code: '42501' });
    await expect(call(testDb().workerUrl)).rejects.toMatchObject({ code: '55000' });
    // The runtime role may not run it at all.
    await expect(call(eu.url)).rejects.toMatchObject({ code: '42501' });
  });
});
