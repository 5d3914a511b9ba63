import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindDatabase, type KindDatabase } from '../../../test/support/placement-kinds.js';
import { connect, createTestOrg } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../db/platform-db.js';
import { uuidv7 } from '../ids.js';
import { withPlatformScope } from './platform-scope.js';
import { erasureDirectoryOrganizations } from './privileged-gdpr.js';
import type { Tenancy } from './tenancy.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest();

/**
 * `app_priv_erasure_directory_organizations` (migration 0067): the organizations holding a SCIM record of
 * the user being erased, member or not, pooled or placed in their own schema; organization ids only; only
 * with a live credential of that user or in a platform administrator's platform scope, never inside a
 * tenant scope. On the shared `placements` database (test/support/placement-kinds.ts): a pooled and a
 * schema-placed organization side by side.
 */
describe('app_priv_erasure_directory_organizations', () => {
  let kd: KindDatabase;
  let tenancy: Tenancy;
  let platform: PlatformDb;
  let app: pg.Client; // the runtime role
  let su: pg.Client;
  let pooled: string;
  let placed: string;
  let memberOnly: string;
  let person: string;
  let someone: string;
  let admin: string;
  const token = randomBytes(32).toString('base64url');
  const someoneToken = randomBytes(32).toString('base64url');
  const adminToken = randomBytes(32).toString('base64url');
  const refused = /refused inside a tenant scope|needs a live credential of that user or the platform scope/;
  const call = 'select * from app_priv_erasure_directory_organizations($1, $2, $3)';

  beforeAll(async () => {
    kd = await kindDatabase('schema');
    tenancy = kd.tenancy(2);
    platform = createPlatformDb(tenancy.control.pool);
    app = await connect(kd.db.url);
    su = await connect(kd.db.adminUrl);
    [person, someone, admin] = [uuidv7(), uuidv7(), uuidv7()];
    for (const [id, isAdmin, t] of [
      [person, false, token],
      [someone, false, someoneToken],
      [admin, true, adminToken],
    ] as const) {
      const email = `ed-${randomBytes(5).toString('hex')}@example.test`;
      await su.query(
        'insert into users (id, email, email_normalized, is_platform_admin) values ($1, $2, $2, $3)',
        [id, email, isAdmin],
      );
      await su.query(
        `insert into sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at)
         values ($1, $2, $3, now() + interval '1 hour', now() + interval '1 hour')`,
        [uuidv7(), id, sha(t)],
      );
    }
    pooled = await createTestOrg(tenancy, 'ed-pooled');
    placed = await createTestOrg(tenancy, 'ed-placed');
    memberOnly = await createTestOrg(tenancy, 'ed-member');
    await kd.place(tenancy, placed);
    // Records without memberships: the person's in both; someone else's only in the pooled one. The
    // person's membership elsewhere, without a record, is not the function's business.
    for (const [org, users] of [
      [pooled, [person, someone]],
      [placed, [person]],
    ] as const) {
      await tenancy.withTenant(org, (db) =>
        db
          .insertInto('scim_users')
          .values(
            users.map((user_id) => ({
              organization_id: org,
              user_id,
              user_name: `${user_id}@x.test`,
              active: false,
              emails: '[]',
            })),
          )
          .execute(),
      );
    }
    await su.query(
      `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'member', 'active')`,
      [memberOnly, person],
    );
  });
  afterAll(async () => {
    await app?.end();
    await su?.end();
    await platform?.destroy();
    await tenancy?.close();
  });

  it("the self path: the person's live session finds both placements' records, ids only", async () => {
    const rows = await app.query(call, [token, person, null]);
    expect(rows.fields.map((f) => f.name)).toEqual(['organization_id']);
    expect(rows.rows.map((r: { organization_id: string }) => r.organization_id).sort()).toEqual(
      [pooled, placed].sort(),
    );
    expect(
      (await erasureDirectoryOrganizations(platform, person, { kind: 'session', token })).sort(),
    ).toEqual([pooled, placed].sort());
    expect(
      await erasureDirectoryOrganizations(platform, someone, { kind: 'session', token: someoneToken }),
    ).toEqual([pooled]);
  });

  it('the self path refuses without a live credential of that user', async () => {
    // Another user's session naming the person; a made-up token; the stored hash; no proof at all.
    await expect(app.query(call, [someoneToken, person, null])).rejects.toThrow(refused);
    await expect(app.query(call, ['guess', person, null])).rejects.toThrow(refused);
    await expect(app.query(call, [sha(token).toString('hex'), person, null])).rejects.toThrow(refused);
    await expect(app.query(call, [null, person, null])).rejects.toThrow(refused);
    await expect(app.query(call, [token, null, null])).rejects.toThrow(refused);
    // A refresh family: live and the person's, or nothing.
    const family = uuidv7();
    await su.query(
      `insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at)
       values ($1, $2, $3, $4, now() + interval '1 day')`,
      [uuidv7(), family, person, sha(randomBytes(32))],
    );
    const proof = { kind: 'refresh_family', familyId: family } as const;
    expect((await erasureDirectoryOrganizations(platform, person, proof)).sort()).toEqual(
      [pooled, placed].sort(),
    );
    await expect(erasureDirectoryOrganizations(platform, someone, proof)).rejects.toThrow(refused);
    await su.query('update refresh_tokens set revoked_at = now() where family_id = $1', [family]);
    await expect(erasureDirectoryOrganizations(platform, person, proof)).rejects.toThrow(refused);
    // A revoked session proves nothing.
    await su.query('update sessions set revoked_at = now() where token_hash = $1', [sha(token)]);
    await expect(app.query(call, [token, person, null])).rejects.toThrow(refused);
    await su.query('update sessions set revoked_at = null where token_hash = $1', [sha(token)]);
  });

  it("the platform path: only in a live administrator session's platform scope", async () => {
    const found = await withPlatformScope(platform, adminToken, (s) =>
      erasureDirectoryOrganizations(s, person, null),
    );
    expect(found.sort()).toEqual([pooled, placed].sort());
    // A member's session is no platform scope.
    await expect(
      withPlatformScope(platform, someoneToken, (s) => erasureDirectoryOrganizations(s, person, null)),
    ).rejects.toThrow(refused);
  });

  it('refused inside any tenant scope, whatever the proof', async () => {
    for (const [setting, args] of [
      [null, [token, person, null]],
      [adminToken, [null, person, null]],
    ] as const) {
      await app.query('begin');
      try {
        await app.query(`select set_config('app.tenant_id', $1, true)`, [pooled]);
        if (setting) await app.query(`select set_config('app.platform_session', $1, true)`, [setting]);
        await expect(app.query(call, [...args])).rejects.toThrow(refused);
      } finally {
        await app.query('rollback');
      }
    }
  });

  it('the definer owns it, volatile; only the runtime role runs it', async () => {
    const fn = await su.query<{ owner: string; volatile: string; secdef: boolean; acl: string }>(
      `select r.rolname as owner, p.provolatile as volatile, p.prosecdef as secdef,
              array_to_string(p.proacl, ',') as acl
         from pg_proc p join pg_roles r on r.oid = p.proowner
        where p.proname = 'app_priv_erasure_directory_organizations'`,
    );
    expect(fn.rows).toHaveLength(1);
    expect(fn.rows[0]).toMatchObject({ owner: kd.db.roles.definer, volatile: 'v', secdef: true });
    expect(fn.rows[0]!.acl).toContain(`${kd.db.roles.runtime}=X`);
    expect(fn.rows[0]!.acl).not.toContain(`${kd.db.roles.worker}=`);
    expect(fn.rows[0]!.acl).not.toMatch(/(^|,)=X/);
  });
});
