import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { insertApiKey } from '../../modules/api-keys/api-keys.repository.js';
import { insertCustomer } from '../../modules/billing/stripe.repository.js';
import { insertInvitation, renewToken } from '../../modules/invitations/invitations.repository.js';
import { uuidv7 } from '../ids.js';
import type { Tenancy } from './tenancy.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest();

/**
 * The global lookups of migration 0047 (api_key_lookup, invitation_lookup, stripe_customer_lookup): written
 * with their tenant row by the repositories, in its transaction; the runtime role cannot read another
 * organization's, nor point one elsewhere; a lookup row that does not match its tenant row resolves nothing.
 */
describe('global lookups', () => {
  let tenancy: Tenancy;
  let app: pg.Client; // the runtime role, for what a tenant scope could try by hand
  let admin: pg.Client; // the superuser: looks behind the runtime role's back
  let orgA: string;
  let orgB: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    orgA = await createTestOrg(tenancy, 'gl-a');
    orgB = await createTestOrg(tenancy, 'gl-b');
    app = await connect(testDb().url);
    admin = await connect(testDb().adminUrl);
  });
  afterAll(async () => {
    await app?.end();
    await admin?.end();
    await tenancy?.close();
  });

  /** Runs statements as the runtime role in organization B's scope, rolled back; returns each outcome. */
  async function inScopeOfB(...statements: [string, unknown[]][]): Promise<(pg.QueryResult | Error)[]> {
    const out: (pg.QueryResult | Error)[] = [];
    await app.query('begin');
    try {
      await app.query(`select set_config('app.tenant_id', $1, true)`, [orgB]);
      for (const [text, values] of statements) {
        await app.query('savepoint s');
        try {
          out.push(await app.query(text, values));
          await app.query('release savepoint s');
        } catch (err) {
          out.push(err as Error);
          await app.query('rollback to savepoint s');
        }
      }
    } finally {
      await app.query('rollback');
    }
    return out;
  }

  const newKey = (org: string, keyId: string, secret: Buffer) => ({
    organization_id: org,
    id: uuidv7(),
    key_id: keyId,
    name: 'k',
    scopes: ['projects:read'],
    secret_hash: sha(secret),
  });

  it('an API key id is claimed across organizations; B cannot read, repoint or remove A’s lookup row', async () => {
    const keyId = randomBytes(8).toString('hex');
    const secret = randomBytes(32);
    const created = await tenancy.withTenant(orgA, (db) => insertApiKey(db, newKey(orgA, keyId, secret)));
    expect(created?.organization_id).toBe(orgA);
    expect(await tenancy.privileged.apiKeyByKeyId(keyId, sha(secret))).toMatchObject({
      organizationId: orgA,
    });
    // The same key id in B: not inserted (the caller draws another), and B's scope wrote nothing.
    expect(
      await tenancy.withTenant(orgB, (db) => insertApiKey(db, newKey(orgB, keyId, secret))),
    ).toBeUndefined();
    const rows = await admin.query('select organization_id from api_keys where key_id = $1', [keyId]);
    expect(rows.rows).toEqual([{ organization_id: orgA }]);

    const [read, update, del, forge] = await inScopeOfB(
      ['select * from api_key_lookup where key_id = $1', [keyId]],
      ['update api_key_lookup set organization_id = $2 where key_id = $1', [keyId, orgB]],
      ['delete from api_key_lookup where key_id = $1', [keyId]],
      [
        'insert into api_key_lookup (key_id, organization_id, api_key_id) values ($1, $2, $3)',
        [randomBytes(8).toString('hex'), orgA, uuidv7()],
      ],
    );
    expect((read as pg.QueryResult).rows).toEqual([]);
    expect((update as Error).message).toMatch(/permission denied/);
    expect((del as Error).message).toMatch(/permission denied/); // no DELETE on api_key_lookup at all
    expect((forge as Error).message).toMatch(/row-level security/);
    expect(await tenancy.privileged.apiKeyByKeyId(keyId, sha(secret))).toMatchObject({
      organizationId: orgA,
    });

    // A lookup row naming the wrong organization (stale or tampered) resolves nothing.
    await admin.query('update api_key_lookup set organization_id = $2 where key_id = $1', [keyId, orgB]);
    expect(await tenancy.privileged.apiKeyByKeyId(keyId, sha(secret))).toBeNull();
  });

  it('an unknown key id does the same work as another organization’s key id with a wrong secret', async () => {
    // ISOLATION.md #6: the lookup must not answer faster for a key id that exists (on Citus the extra
    // read of api_keys is a round trip to a worker). Whether it read api_keys: the lock a read takes,
    // held until the caller's transaction ends.
    const keyId = randomBytes(8).toString('hex');
    await tenancy.withTenant(orgA, (db) => insertApiKey(db, newKey(orgA, keyId, randomBytes(32))));
    const readsApiKeys = async (id: string): Promise<boolean> => {
      await admin.query('begin');
      try {
        const found = await admin.query('select * from app_priv_api_key_by_key_id($1, $2)', [
          id,
          sha(randomBytes(32)),
        ]);
        expect(found.rows).toEqual([]);
        const r = await admin.query<{ locked: boolean }>(
          `select exists (select 1 from pg_locks where pid = pg_backend_pid()
              and relation = 'public.api_keys'::regclass) as locked`,
        );
        return r.rows[0]!.locked;
      } finally {
        await admin.query('rollback');
      }
    };
    expect(await readsApiKeys(keyId)).toBe(true);
    expect(await readsApiKeys(randomBytes(8).toString('hex'))).toBe(true);
  });

  it('an invitation’s lookup row follows its token: a resend replaces it, the old link finds nothing', async () => {
    const id = uuidv7();
    const first = randomBytes(32);
    const second = randomBytes(32);
    await tenancy.withTenant(orgA, (db) =>
      insertInvitation(db, {
        organization_id: orgA,
        id,
        email_normalized: `gl-${id}@example.test`,
        role: 'member',
        token_hash: sha(first),
        invited_by: null,
        expires_at: new Date(Date.now() + 86_400_000),
      }),
    );
    expect(await tenancy.privileged.invitationByToken(sha(first))).toEqual({
      organizationId: orgA,
      invitationId: id,
    });
    await tenancy.withTenant(orgA, (db) =>
      renewToken(db, orgA, id, sha(second), new Date(Date.now() + 86_400_000)),
    );
    expect(await tenancy.privileged.invitationByToken(sha(first))).toBeNull();
    expect(await tenancy.privileged.invitationByToken(sha(second))).toEqual({
      organizationId: orgA,
      invitationId: id,
    });
    const lookups = await admin.query('select token_hash from invitation_lookup where invitation_id = $1', [
      id,
    ]);
    expect(lookups.rows).toEqual([{ token_hash: sha(second) }]);
    // B's scope cannot remove it (RLS: no row of A is visible to delete).
    const [del] = await inScopeOfB(['delete from invitation_lookup where invitation_id = $1', [id]]);
    expect((del as pg.QueryResult).rowCount).toBe(0);

    // A lookup row of a token the invitation no longer has (one lookup row per invitation: so naming
    // another invitation id here) resolves nothing.
    await admin.query(
      'insert into invitation_lookup (token_hash, organization_id, invitation_id) values ($1, $2, $3)',
      [sha(first), orgA, uuidv7()],
    );
    expect(await tenancy.privileged.invitationByToken(sha(first))).toBeNull();
    expect(await tenancy.privileged.invitationByToken(sha(first))).toBeNull();
  });

  it('a Stripe customer id maps to one organization: another organization recording it fails whole', async () => {
    const customer = `cus_gl${randomBytes(6).toString('hex')}`;
    await tenancy.withTenant(orgA, (db) => insertCustomer(db, orgA, customer));
    await tenancy.withTenant(orgA, (db) =>
      insertCustomer(db, orgA, `cus_other${randomBytes(4).toString('hex')}`),
    );
    expect(await tenancy.privileged.stripeOrganizationByCustomer(customer)).toBe(orgA);
    await expect(tenancy.withTenant(orgB, (db) => insertCustomer(db, orgB, customer))).rejects.toThrow(
      /duplicate key/,
    );
    // Neither half of B's write stayed; A's second call changed nothing (it has its customer).
    const rows = await admin.query(
      `select (select count(*)::int from stripe_customers where organization_id = $2) as b,
              (select count(*)::int from stripe_customer_lookup where organization_id = $1) as a_lookups`,
      [orgA, orgB],
    );
    expect(rows.rows).toEqual([{ b: 0, a_lookups: 1 }]);
    // B's own customer cannot become A's: no UPDATE of the customer id (the tenant table's key is
    // (organization_id, customer_id), so nothing else would stop it).
    await tenancy.withTenant(orgB, (db) =>
      insertCustomer(db, orgB, `cus_b${randomBytes(6).toString('hex')}`),
    );
    const [repoint] = await inScopeOfB([
      'update stripe_customers set customer_id = $1 where organization_id = $2',
      [customer, orgB],
    ]);
    expect((repoint as Error).message).toMatch(/permission denied/);
  });
});
