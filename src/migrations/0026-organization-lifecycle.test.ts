import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { openMigrationDatabase, type MigrationDatabase } from '../../test/support/migration-database.js';
import { testDb } from '../../test/support/tenancy.js';

/**
 * Migration 0026 moves the rows that exist when it runs into the lifecycle model (it runs as the owner,
 * whom the forced RLS of organizations would otherwise show no row at all): a suspension keeps its reason
 * and wins over a deletion mark; a deletion mark alone becomes pending deletion, due in 30 days.
 */
describe('migration 0026 on existing organizations', () => {
  let mdb: MigrationDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    mdb = await openMigrationDatabase(testDb().superuserUrl, 'sr_m26');
    admin = mdb.admin;
  });
  afterAll(async () => {
    await mdb?.close();
  });

  it('keeps every suspension with its reason and makes a deletion mark a pending deletion', async () => {
    await mdb.migrateToBefore('0026-organization-lifecycle');
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
        `m26-${k}-${mdb.database.slice(-8)}`,
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

    await mdb.migrateTo('0026-organization-lifecycle');
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
