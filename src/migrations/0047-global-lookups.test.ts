import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openMigrationDatabase, type MigrationDatabase } from '../../test/support/migration-database.js';
import { testDb } from '../../test/support/tenancy.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest();

/**
 * Migration 0047 backfills the global lookups from the rows that exist when it runs (as the owner, whom
 * the forced RLS of these tables would otherwise show no row), and the lookups answer for them after it.
 */
describe('migration 0047 on existing keys, invitations and Stripe customers', () => {
  let m: MigrationDatabase;
  let admin: pg.Client; // the superuser
  let app: pg.Client; // the runtime role

  beforeAll(async () => {
    m = await openMigrationDatabase(testDb().superuserUrl, 'sr_m47');
    admin = m.admin;
    app = new pg.Client({ connectionString: m.url });
    await app.connect();
  });
  afterAll(async () => {
    await app?.end();
    await m?.close();
  });

  it('gives every existing key, invitation and customer its lookup row, and the lookups answer', async () => {
    await m.migrateToBefore('0047-global-lookups');
    const org = randomUUID();
    const keyId = randomBytes(8).toString('hex');
    const key = randomUUID();
    const secret = randomBytes(32);
    const invitation = randomUUID();
    const token = randomBytes(32);
    const customer = `cus_m47${randomBytes(4).toString('hex')}`;
    await admin.query(`insert into organizations (id, slug, name) values ($1, $2, $2)`, [
      org,
      `m47-${m.database.slice(-8)}`,
    ]);
    await admin.query(
      `insert into api_keys (organization_id, id, key_id, name, scopes, secret_hash)
       values ($1, $2, $3, 'k', '{projects:read}', $4)`,
      [org, key, keyId, sha(secret)],
    );
    await admin.query(
      `insert into invitations (organization_id, id, email_normalized, role, token_hash, status, expires_at)
       values ($1, $2, 'x@m47.test', 'member', $3, 'pending', now() + interval '1 day')`,
      [org, invitation, sha(token)],
    );
    await admin.query(`insert into stripe_customers (organization_id, customer_id) values ($1, $2)`, [
      org,
      customer,
    ]);

    await m.migrateTo('0047-global-lookups');
    const lookups = await admin.query(
      `select (select row(organization_id, api_key_id)::text from api_key_lookup where key_id = $1) as key,
              (select row(organization_id, invitation_id)::text from invitation_lookup where token_hash = $2) as inv,
              (select organization_id from stripe_customer_lookup where customer_id = $3) as customer`,
      [keyId, sha(token), customer],
    );
    expect(lookups.rows).toEqual([{ key: `(${org},${key})`, inv: `(${org},${invitation})`, customer: org }]);
    const key2 = await app.query('select organization_id, id from app_priv_api_key_by_key_id($1, $2)', [
      keyId,
      sha(secret),
    ]);
    expect(key2.rows).toEqual([{ organization_id: org, id: key }]);
    const inv2 = await app.query('select * from app_priv_invitation_by_token($1)', [sha(token)]);
    expect(inv2.rows).toEqual([{ organization_id: org, invitation_id: invitation }]);
    const cus2 = await app.query('select app_priv_stripe_organization_by_customer($1) as id', [customer]);
    expect(cus2.rows).toEqual([{ id: org }]);
    // FORCE is back on every table the backfill lifted it on.
    const forced = await admin.query<{ relname: string }>(
      `select relname from pg_class where relnamespace = 'public'::regnamespace and not relforcerowsecurity
         and relname in ('api_keys', 'invitations', 'stripe_customers', 'api_key_lookup', 'invitation_lookup',
                         'stripe_customer_lookup')`,
    );
    expect(forced.rows).toEqual([]);
  });
});
