import { createHmac, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader, importJWK, SignJWT, type CryptoKey } from 'jose';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import type { Secrets } from '../../platform/secrets.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createTokenService, type TokenService } from './tokens.service.js';
import { identityFixtures, testJwtKey, testMembershipLookup } from './tokens.test-support.js';

type Key = Secrets['jwtKeys'][number];
const ISSUER = 'https://saasready.test';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (jwt: string) => {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  return {
    h,
    p,
    s,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
  };
};

describe('access tokens (Ed25519 JWTs)', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let fx: ReturnType<typeof identityFixtures>;
  let k1: Key;
  let k2: Key;
  let clock: Date;
  let tokens: TokenService;
  let orgA: string;
  let orgB: string;
  let user: string;
  const service = (keys: Key[]) =>
    createTokenService({
      db,
      keys,
      issuer: ISSUER,
      membership: testMembershipLookup(tenancy),
      now: () => clock,
    });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: 'resolved', status: 0 }),
      (e: { code: string; status: number }) => ({ code: e.code, status: e.status }),
    );

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    db = createPlatformDb(tenancy.control.pool);
    fx = identityFixtures(tenancy);
    [k1, k2] = await Promise.all([testJwtKey(), testJwtKey()]);
    clock = new Date();
    tokens = service([k1]);
    orgA = await fx.org('ta');
    orgB = await fx.org('tb');
    user = await fx.member(orgA, { role: 'admin' });
    await fx.member(orgB, { role: 'viewer', userId: user });
  });
  afterAll(async () => {
    await db.destroy();
    await tenancy.close();
  });

  it('issue → verify round trip, with the documented header and claims', async () => {
    const pair = await tokens.issue(user, orgA);
    expect(pair).toMatchObject({ expiresIn: 600, tokenType: 'Bearer' });
    expect(pair.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decodeProtectedHeader(pair.accessToken)).toEqual({ alg: 'EdDSA', kid: k1.kid, typ: 'at+jwt' });
    const { payload } = parts(pair.accessToken);
    expect(payload).toMatchObject({ iss: ISSUER, sub: user, org: orgA, role: 'admin', pv: 1 });
    expect(payload.exp).toBe((payload.iat as number) + 600);
    expect(typeof payload.jti).toBe('string');
    const v = await tokens.verifyAccess(pair.accessToken);
    expect(v).toMatchObject({ userId: user, orgId: orgA, role: 'admin' });
    expect(v.permissions.has('members:invite')).toBe(true);
    expect(v.permissions.has('billing:manage')).toBe(false);
  });

  it('issue refuses an organization without an ACTIVE membership, like one that does not exist', async () => {
    const orgC = await fx.org('tc');
    const pending = await fx.member(orgC, { status: 'pending' });
    const results = await Promise.all([
      failure(tokens.issue(user, orgC)),
      failure(tokens.issue(pending, orgC)),
      failure(tokens.issue(user, '0190f000-0000-7000-8000-000000000000')),
      failure(tokens.issue(user, 'not-a-uuid')),
    ]);
    for (const r of results) expect(r).toEqual({ code: 'TOKEN_ORGANIZATION_NOT_FOUND', status: 404 });
  });

  it('a verified token is remembered, but never past its expiry', async () => {
    const start = clock;
    try {
      const { accessToken } = await tokens.issue(user, orgA);
      await expect(tokens.verifyAccess(accessToken)).resolves.toMatchObject({ userId: user }); // cached now
      await expect(tokens.verifyAccess(accessToken)).resolves.toMatchObject({ userId: user }); // from the cache
      clock = new Date(start.getTime() + 607_000);
      expect(await failure(tokens.verifyAccess(accessToken))).toEqual({ code: 'TOKEN_EXPIRED', status: 401 });
    } finally {
      clock = start;
    }
  });

  it('expiry: valid up to 5 s of skew past exp, refused after', async () => {
    const start = clock;
    try {
      const { accessToken } = await tokens.issue(user, orgA);
      clock = new Date(start.getTime() + 604_000);
      await expect(tokens.verifyAccess(accessToken)).resolves.toMatchObject({ userId: user });
      clock = new Date(start.getTime() + 607_000);
      expect(await failure(tokens.verifyAccess(accessToken))).toEqual({ code: 'TOKEN_EXPIRED', status: 401 });
    } finally {
      clock = start;
    }
  });

  it('a token whose kid is not configured is refused, even with a valid signature', async () => {
    const stranger = await testJwtKey();
    const forged = await service([stranger]).issue(user, orgA);
    expect(await failure(tokens.verifyAccess(forged.accessToken))).toEqual({
      code: 'TOKEN_INVALID',
      status: 401,
    });
    // The stranger's signature under a configured kid fails the signature check.
    const key = (await importJWK(stranger.privateJwk, 'EdDSA')) as CryptoKey;
    const { payload } = parts(forged.accessToken);
    const relabelled = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: k1.kid, typ: 'at+jwt' })
      .sign(key);
    expect((await failure(tokens.verifyAccess(relabelled))).code).toBe('TOKEN_INVALID');
  });

  it('alg "none" is refused (with or without a kid)', async () => {
    const { p } = parts((await tokens.issue(user, orgA)).accessToken);
    for (const header of [{ alg: 'none' }, { alg: 'none', kid: k1.kid, typ: 'at+jwt' }]) {
      const unsigned = `${b64(header)}.${p}.`;
      expect(await failure(tokens.verifyAccess(unsigned))).toEqual({ code: 'TOKEN_INVALID', status: 401 });
    }
  });

  it('HS256 signed with the public key as the secret is refused', async () => {
    const { p } = parts((await tokens.issue(user, orgA)).accessToken);
    const pem = createPublicKey({ key: { ...k1.publicJwk }, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const secrets = [
      Buffer.from(k1.publicJwk.x!, 'base64url'),
      Buffer.from(pem),
      Buffer.from(k1.publicJwk.x!),
    ];
    for (const secret of secrets) {
      const h = b64({ alg: 'HS256', kid: k1.kid, typ: 'at+jwt' });
      const sig = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
      expect(await failure(tokens.verifyAccess(`${h}.${p}.${sig}`))).toEqual({
        code: 'TOKEN_INVALID',
        status: 401,
      });
    }
  });

  it('a tampered org claim fails the signature, even towards an org the user belongs to', async () => {
    const { h, s, payload } = parts((await tokens.issue(user, orgA)).accessToken);
    const tampered = `${h}.${b64({ ...payload, org: orgB })}.${s}`;
    expect(await failure(tokens.verifyAccess(tampered))).toEqual({ code: 'TOKEN_INVALID', status: 401 });
    const promoted = `${h}.${b64({ ...payload, role: 'owner' })}.${s}`;
    expect((await failure(tokens.verifyAccess(promoted))).code).toBe('TOKEN_INVALID');
  });

  it('wrong issuer and garbage are refused', async () => {
    const other = createTokenService({
      db,
      keys: [k1],
      issuer: 'https://elsewhere.test',
      membership: testMembershipLookup(tenancy),
      now: () => clock,
    });
    const { accessToken } = await other.issue(user, orgA);
    expect((await failure(tokens.verifyAccess(accessToken))).code).toBe('TOKEN_INVALID');
    for (const junk of ['', 'a.b.c', 'x'.repeat(5000), '...', 'eyJhbGciOiJFZERTQSJ9..']) {
      expect((await failure(tokens.verifyAccess(junk))).code).toBe('TOKEN_INVALID');
    }
  });

  it('a permissions_version bump makes the token stale at once; removal revokes it', async () => {
    clock = new Date();
    const orgS = await fx.org('ts');
    const u = await fx.member(orgS);
    const { accessToken, refreshToken } = await tokens.issue(u, orgS);
    await tokens.verifyAccess(accessToken);
    await fx.bumpPermissionsVersion(orgS, u);
    await expect(tokens.verifyAccess(accessToken)).rejects.toMatchObject({
      code: 'TOKEN_STALE',
      status: 401,
      message: expect.stringMatching(/refresh/) as unknown,
    });
    const renewed = await tokens.refresh(refreshToken);
    expect(parts(renewed.accessToken).payload.pv).toBe(2);
    await expect(tokens.verifyAccess(renewed.accessToken)).resolves.toMatchObject({ userId: u });
    await fx.removeMembership(orgS, u);
    expect(await failure(tokens.verifyAccess(renewed.accessToken))).toEqual({
      code: 'TOKEN_REVOKED',
      status: 401,
    });
  });

  it('carries the refresh family as `sid`; revoking the family refuses its access tokens at once', async () => {
    clock = new Date();
    const orgR = await fx.org('tr');
    const u = await fx.member(orgR);
    const first = await tokens.issue(u, orgR);
    const other = await tokens.issue(u, orgR);
    const sid = parts(first.accessToken).payload.sid as string;
    expect(sid).not.toBe(parts(other.accessToken).payload.sid);
    await expect(tokens.verifyAccess(first.accessToken)).resolves.toMatchObject({ refreshFamilyId: sid });
    // A second instance (its own cache) that has the family cached too.
    const elsewhere = service([k1]);
    await elsewhere.verifyAccess(first.accessToken);
    await tokens.revoke(first.refreshToken);
    expect(await failure(tokens.verifyAccess(first.accessToken))).toEqual({
      code: 'TOKEN_REVOKED',
      status: 401,
    });
    // The other instance hears of it through the bus (here: the handler the bus calls).
    elsewhere.forgetRevoked({ userId: u, familyId: sid });
    expect(await failure(elsewhere.verifyAccess(first.accessToken))).toEqual({
      code: 'TOKEN_REVOKED',
      status: 401,
    });
    // Another family of the user is untouched.
    await expect(tokens.verifyAccess(other.accessToken)).resolves.toMatchObject({ userId: u });
  });

  it('refuses a token issued before the user’s credentials changed, and every family revoked with them', async () => {
    clock = new Date();
    const orgC = await fx.org('tc');
    const u = await fx.member(orgC);
    const pair = await tokens.issue(u, orgC);
    await tokens.verifyAccess(pair.accessToken); // cached
    await db
      .updateTable('users')
      .set({ credentials_changed_at: new Date(clock.getTime() + 10_000) })
      .where('id', '=', u)
      .execute();
    tokens.forgetRevoked({ userId: u });
    expect(await failure(tokens.verifyAccess(pair.accessToken))).toEqual({
      code: 'TOKEN_REVOKED',
      status: 401,
    });
    clock = new Date(clock.getTime() + 11_000);
    const fresh = await tokens.issue(u, orgC);
    await expect(tokens.verifyAccess(fresh.accessToken)).resolves.toMatchObject({ userId: u });
    expect(await tokens.revokeAllForUser(u)).toBeGreaterThan(0);
    expect(await failure(tokens.verifyAccess(fresh.accessToken))).toEqual({
      code: 'TOKEN_REVOKED',
      status: 401,
    });
  });

  it('refuses a token without `sid` (minted before families were named), even correctly signed', async () => {
    clock = new Date();
    const key = (await importJWK(k1.privateJwk, 'EdDSA')) as CryptoKey;
    const iat = Math.floor(clock.getTime() / 1000);
    const legacy = await new SignJWT({ org: orgA, role: 'member', pv: 1 })
      .setProtectedHeader({ alg: 'EdDSA', kid: k1.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setSubject(user)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600)
      .setJti('legacy')
      .sign(key);
    expect((await failure(tokens.verifyAccess(legacy))).code).toBe('TOKEN_INVALID');
  });

  it('key rotation: new tokens carry the first key’s kid; tokens of the older key still verify', async () => {
    const before = await tokens.issue(user, orgA); // signed with k1
    const rotated = service([k2, k1]);
    const after = await rotated.issue(user, orgA);
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(k2.kid);
    await expect(rotated.verifyAccess(before.accessToken)).resolves.toMatchObject({ userId: user });
    await expect(rotated.verifyAccess(after.accessToken)).resolves.toMatchObject({ userId: user });
    // Once the old key is dropped, its tokens stop verifying.
    expect((await failure(service([k2]).verifyAccess(before.accessToken))).code).toBe('TOKEN_INVALID');
  });

  it('JWKS lists the public half of every configured key, never the private part', () => {
    const { keys } = service([k2, k1]).jwks();
    expect(keys).toEqual(
      [k2, k1].map((k) => ({
        kty: 'OKP',
        crv: 'Ed25519',
        x: k.publicJwk.x,
        kid: k.kid,
        alg: 'EdDSA',
        use: 'sig',
      })),
    );
    expect(JSON.stringify(keys)).not.toContain(k1.privateJwk.d!);
  });

  it('refuses a misconfigured key set', () => {
    expect(() => service([])).toThrow(/at least one/);
    expect(() => service([k1, k1])).toThrow(/duplicate/);
  });
});
