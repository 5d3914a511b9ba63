import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kysely, Migrator, PostgresDialect, type Migration } from 'kysely';
import pg from 'pg';
import { bootstrapDatabase, dropDatabase, withDatabase, type RoleNames } from '../platform/db/bootstrap.js';
import { testDb } from '../../test/support/tenancy.js';
import { migrations } from './index.js';

/**
 * Migration 0026 moves the rows that exist when it runs into the lifecycle model (it runs as the owner,
 * whom the forced RLS of organizations would otherwise show no row at all): a suspension keeps its reason
 * and wins over a deletion mark; a deletion mark alone becomes pending deletion, due in 30 days.
 */
describe('migration 0026 on existing organizations', () => {
  const stem = `sr_m26_${randomBytes(4).toString('hex')}`;
  const roles: RoleNames = {
    owner: `${stem}_owner`,
    runtime: `${stem}_app`,
    definer: `${stem}_definer`,
    worker: `${stem}_worker`,
  };
  let db: Kysely<unknown>;
  let admin: pg.Client;
  const migrateTo = async (name: string) => {
    const all: Record<string, Migration> = {};
    for (const [n, mod] of migrations) all[n] = { up: (k) => mod.up(k as Kysely<unknown>, { roles }) };
    const { error } = await new Migrator({
      db,
      provider: { getMigrations: () => Promise.resolve(all) },
    }).migrateTo(name);
    if (error) throw error as Error;
  };

  beforeAll(async () => {
    const urls = await bootstrapDatabase({
      superuserUrl: testDb().superuserUrl,
      database: stem,
      roles,
      passwords: {
        owner: randomBytes(16).toString('hex'),
        runtime: randomBytes(16).toString('hex'),
        worker: randomBytes(16).toString('hex'),
      },
    });
    db = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: urls.migrationUrl, max: 1 }) }),
    });
    admin = new pg.Client({ connectionString: withDatabase(testDb().superuserUrl, stem) });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await db?.destroy();
    await dropDatabase(testDb().superuserUrl, stem, roles);
  });

  it('keeps every suspension with its reason and makes a deletion mark a pending deletion', async () => {
    const before = migrations.findIndex(([n]) => n === '0026-organization-lifecycle') - 1;
    await migrateTo(migrations[before]![0]);
    const ids = {
      active: randomUUID(),
      admin: randomUUID(),
      billing: randomUUID(),
      both: randomUUID(),
      marked: randomUUID(),
    };
    const marked = new Date(Date.now() - 40 * 86_400_000);
    for (const [k, id] of Object.entries(ids)) {
      await admin.query(`insert into organizations (id, slug, name) values ($1, $2, $2)`, [
        id,
        `m26-${k}-${stem.slice(-8)}`,
      ]);
    }
    await admin.query(
      `update organizations set suspended_at = now(), suspended_by = 'administrator' where id = any($1)`,
      [[ids.admin, ids.both]],
    );
    await admin.query(
      `update organizations set suspended_at = now(), suspended_by = 'billing' where id = $1`,
      [ids.billing],
    );
    await admin.query(`update organizations set deletion_requested_at = $2 where id = any($1)`, [
      [ids.both, ids.marked],
      marked,
    ]);

    await migrateTo('0026-organization-lifecycle');
    const rows = await admin.query<{
      id: string;
      lifecycle_state: string;
      suspension_reason: string | null;
      deletion_requested_at: Date | null;
      deletion_due_at: Date | null;
    }>(
      'select id, lifecycle_state, suspension_reason, deletion_requested_at, deletion_due_at from organizations',
    );
    const of = (id: string) => rows.rows.find((r) => r.id === id)!;
    expect(of(ids.active)).toMatchObject({
      lifecycle_state: 'active',
      suspension_reason: null,
      deletion_due_at: null,
    });
    expect(of(ids.admin)).toMatchObject({ lifecycle_state: 'suspended', suspension_reason: 'admin' });
    expect(of(ids.billing)).toMatchObject({ lifecycle_state: 'suspended', suspension_reason: 'billing' });
    expect(of(ids.both)).toMatchObject({
      lifecycle_state: 'suspended',
      suspension_reason: 'admin',
      deletion_requested_at: null,
      deletion_due_at: null,
    });
    const m = of(ids.marked);
    expect(m.lifecycle_state).toBe('pending_deletion');
    // Due 30 days after the later of the mark and the migration: a mark older than that is not due at once.
    expect(m.deletion_due_at!.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    // And the table is forced again.
    const forced = await admin.query(
      `select relforcerowsecurity from pg_class where relname = 'organizations'`,
    );
    expect(forced.rows[0]).toEqual({ relforcerowsecurity: true });
  });
});
