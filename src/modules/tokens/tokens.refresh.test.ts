import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { hashOpaqueToken } from './opaque-token.js';
import { createTokenService, type TokenService } from './tokens.service.js';
import { identityFixtures, testJwtKey, testMembershipLookup } from './tokens.test-support.js';

describe('refresh tokens (rotation, reuse detection)', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let fx: ReturnType<typeof identityFixtures>;
  let tokens: TokenService;
  let clock: Date;
  let org: string;

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: 'resolved', status: 0 }),
      (e: { code: string; status: number }) => ({ code: e.code, status: e.status }),
    );
  const rowOf = (token: string) =>
    db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', hashOpaqueToken(token)!)
      .executeTakeFirstOrThrow();
  const family = (familyId: string) =>
    db.selectFrom('refresh_tokens').selectAll().where('family_id', '=', familyId).execute();

  beforeAll(async () => {
    tenancy = createTestTenancy(10);
    db = createPlatformDb(tenancy.control.pool);
    fx = identityFixtures(tenancy);
    clock = new Date();
    tokens = createTokenService({
      db,
      keys: [await testJwtKey()],
      issuer: 'https://saasready.test',
      membership: testMembershipLookup(tenancy),
      now: () => clock,
    });
    org = await fx.org('rf');
  });
  afterAll(async () => {
    await db.destroy();
    await tenancy.close();
  });

  it('issue stores only the SHA-256 of the refresh token, with a new family and the organization', async () => {
    const user = await fx.member(org);
    const a = await tokens.issue(user, org);
    const b = await tokens.issue(user, org);
    const row = await rowOf(a.refreshToken);
    expect(row).toMatchObject({
      user_id: user,
      current_organization_id: org,
      used_at: null,
      revoked_at: null,
    });
    expect(row.token_hash.length).toBe(32);
    expect(row.token_hash.toString('base64url')).not.toBe(a.refreshToken);
    expect(row.expires_at.getTime()).toBe(clock.getTime() + 30 * 24 * 3600 * 1000);
    expect((await rowOf(b.refreshToken)).family_id).not.toBe(row.family_id);
  });

  it('rotates on every use: a new pair in the same family, the presented token marked used', async () => {
    const user = await fx.member(org);
    const first = await tokens.issue(user, org);
    const second = await tokens.refresh(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    await expect(tokens.verifyAccess(second.accessToken)).resolves.toMatchObject({
      userId: user,
      orgId: org,
    });
    const [r1, r2] = [await rowOf(first.refreshToken), await rowOf(second.refreshToken)];
    expect(r1.used_at).not.toBeNull();
    expect(r2).toMatchObject({ family_id: r1.family_id, used_at: null, revoked_at: null });
    const third = await tokens.refresh(second.refreshToken);
    expect((await rowOf(third.refreshToken)).family_id).toBe(r1.family_id);
  });

  it('reusing a used token revokes the whole family: the newest token stops working too', async () => {
    const user = await fx.member(org);
    const t0 = await tokens.issue(user, org);
    const other = await tokens.issue(user, org); // another family of the same user
    const t1 = await tokens.refresh(t0.refreshToken);
    const t2 = await tokens.refresh(t1.refreshToken);
    expect(await failure(tokens.refresh(t0.refreshToken))).toEqual({ code: 'TOKEN_REUSED', status: 401 });
    expect(await failure(tokens.refresh(t2.refreshToken))).toEqual({ code: 'TOKEN_INVALID', status: 401 });
    const rows = await family((await rowOf(t0.refreshToken)).family_id);
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r.revoked_at).not.toBeNull();
    // Presenting a used token again keeps failing; the other family is untouched.
    expect((await failure(tokens.refresh(t1.refreshToken))).code).toBe('TOKEN_INVALID');
    await expect(tokens.refresh(other.refreshToken)).resolves.toMatchObject({ tokenType: 'Bearer' });
  });

  it('concurrent refreshes of one token: exactly one succeeds', async () => {
    for (let round = 0; round < 5; round++) {
      const user = await fx.member(org);
      const { refreshToken } = await tokens.issue(user, org);
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => tokens.refresh(refreshToken)));
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(1);
      // The first loser to get the row lock sees a used token (reuse: the family is revoked); any later
      // one then finds it revoked.
      const codes = results.flatMap((r) =>
        r.status === 'rejected' ? [(r.reason as { code: string }).code] : [],
      );
      expect(codes).toContain('TOKEN_REUSED');
      for (const code of codes) expect(['TOKEN_REUSED', 'TOKEN_INVALID']).toContain(code);
      // Strict reuse detection: the race itself looks like a replay, so the family is revoked.
      const rows = await family((await rowOf(refreshToken)).family_id);
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r.revoked_at).not.toBeNull();
    }
  });

  it('expired, revoked, unknown or malformed tokens are TOKEN_INVALID', async () => {
    const user = await fx.member(org);
    const start = clock;
    const expiring = await tokens.issue(user, org);
    try {
      clock = new Date(start.getTime() + 30 * 24 * 3600 * 1000);
      expect(await failure(tokens.refresh(expiring.refreshToken))).toEqual({
        code: 'TOKEN_INVALID',
        status: 401,
      });
    } finally {
      clock = start;
    }
    const revoked = await tokens.issue(user, org);
    await tokens.revoke(revoked.refreshToken);
    expect((await failure(tokens.refresh(revoked.refreshToken))).code).toBe('TOKEN_INVALID');
    for (const junk of ['', 'nope', 'A'.repeat(43), 'A'.repeat(44), `${'A'.repeat(42)}=`]) {
      expect((await failure(tokens.refresh(junk))).code).toBe('TOKEN_INVALID');
    }
  });

  it('revoke ends the whole family and is silent for unknown tokens', async () => {
    const user = await fx.member(org);
    const t0 = await tokens.issue(user, org);
    const t1 = await tokens.refresh(t0.refreshToken);
    await tokens.revoke(t0.refreshToken); // an old, used member of the family
    expect((await failure(tokens.refresh(t1.refreshToken))).code).toBe('TOKEN_INVALID');
    await expect(tokens.revoke('B'.repeat(43))).resolves.toBeUndefined();
    await expect(tokens.revoke('garbage')).resolves.toBeUndefined();
  });

  it('a membership that is no longer active: TOKEN_REVOKED, and the family is revoked', async () => {
    const o = await fx.org('rm');
    const user = await fx.member(o);
    const t0 = await tokens.issue(user, o);
    await fx.removeMembership(o, user);
    expect(await failure(tokens.refresh(t0.refreshToken))).toEqual({ code: 'TOKEN_REVOKED', status: 401 });
    for (const r of await family((await rowOf(t0.refreshToken)).family_id))
      expect(r.revoked_at).not.toBeNull();
    // Even with the membership back, the revoked family stays revoked.
    await fx.member(o, { userId: user });
    expect((await failure(tokens.refresh(t0.refreshToken))).code).toBe('TOKEN_INVALID');
  });

  it('revokeAllForUser revokes every family of that user and no one else’s', async () => {
    const user = await fx.member(org);
    const bystander = await fx.member(org);
    const a = await tokens.issue(user, org);
    const b = await tokens.issue(user, org);
    await tokens.refresh(b.refreshToken);
    const c = await tokens.issue(bystander, org);
    expect(await tokens.revokeAllForUser(user)).toBe(3);
    expect((await failure(tokens.refresh(a.refreshToken))).code).toBe('TOKEN_INVALID');
    await expect(tokens.refresh(c.refreshToken)).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(await tokens.revokeAllForUser(user)).toBe(0);
    // Inside the caller's transaction: rolled back with it.
    const d = await tokens.issue(user, org);
    await expect(
      db.transaction().execute(async (trx) => {
        expect(await tokens.revokeAllForUser(user, { db: trx })).toBe(1);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    await expect(tokens.refresh(d.refreshToken)).resolves.toMatchObject({ tokenType: 'Bearer' });
  });

  it('revokeFamily ends one family of its user (refresh and access), and only that one', async () => {
    const user = await fx.member(org);
    const bystander = await fx.member(org);
    const a = await tokens.issue(user, org);
    const b = await tokens.issue(user, org);
    const c = await tokens.issue(bystander, org);
    const family = (await tokens.verifyAccess(a.accessToken)).refreshFamilyId;
    // Another user's id with this family changes nothing.
    await tokens.revokeFamily(bystander, family);
    const live = () =>
      db
        .selectFrom('refresh_tokens')
        .select('id')
        .where('family_id', '=', family)
        .where('revoked_at', 'is', null)
        .execute();
    expect(await live()).toHaveLength(1);
    await tokens.revokeFamily(user, family);
    expect((await failure(tokens.verifyAccess(a.accessToken))).code).toBe('TOKEN_REVOKED');
    expect((await failure(tokens.refresh(a.refreshToken))).code).toBe('TOKEN_INVALID');
    expect(await live()).toHaveLength(0);
    await expect(tokens.verifyAccess(b.accessToken)).resolves.toMatchObject({ userId: user });
    await expect(tokens.refresh(c.refreshToken)).resolves.toMatchObject({ tokenType: 'Bearer' });
    await tokens.revokeFamily(user, 'not-a-uuid'); // silent
  });
});
