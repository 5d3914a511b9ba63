import type { Permission } from '../../platform/authz/permissions.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Secrets } from '../../platform/secrets.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { isPending, andThen, type MaybePromise } from '../../platform/cache/maybe-promise.js';
import { createAccessTokenCodec, type PublicJwk, type VerifiedClaims } from './access-tokens.js';
import { hashOpaqueToken, newOpaqueToken } from './opaque-token.js';
import * as repo from './tokens.repository.js';
import { createTokenRevocation, type TokenRevocation, type UserTokenState } from './token-revocation.js';
import { tokenInvalid, tokenOrganizationNotFound, TokensError } from './tokens.errors.js';

/** An ACTIVE membership as the memberships module reports it (null when there is none). */
export interface ActiveMembership {
  role: string;
  permissions: ReadonlySet<Permission>;
  permissionsVersion: number;
}

/** The one question this module asks about memberships. */
export interface MembershipLookup {
  activeMembership(orgId: string, userId: string): MaybePromise<ActiveMembership | null>;
}

export interface TokenServiceDeps {
  db: PlatformDb;
  /** `keys[0]` signs new access tokens; every key verifies (see README, key rotation). */
  keys: Secrets['jwtKeys'];
  /** The `iss` claim written and required. */
  issuer: string;
  /** Access token lifetime; default 600 s. */
  accessTtlSeconds?: number;
  /** Refresh token lifetime, renewed on each rotation; default 30 days. */
  refreshTtlSeconds?: number;
  membership: MembershipLookup;
  /** The clock (tests move it); default the system clock. */
  now?: () => Date;
  /** The revocation state access tokens are checked against; default one over `db`. */
  revocation?: TokenRevocation;
  /**
   * Called after refresh families were revoked, so every instance drops what it cached about them (the
   * composition root broadcasts it on the invalidation bus, whose handler calls `forgetRevoked`).
   * Default: forget here only.
   */
  onRevoked?: (what: { userId: string; familyId?: string }) => void;
}

/** What a client receives: an access JWT and the opaque refresh token that renews it. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  tokenType: 'Bearer';
}

/** A verified access token: who, in which organization, with which permissions right now. */
export interface VerifiedAccess {
  userId: string;
  orgId: string;
  role: string;
  permissions: ReadonlySet<Permission>;
  /** The token's `sid`: its refresh-token family (live, or the token would have been refused). */
  refreshFamilyId: string;
  /** Whether the user's email address is verified (from the same cached user state). */
  emailVerified: boolean;
}

export interface TokenService {
  /**
   * Issues an access/refresh pair for `userId` in `orgId`, starting a new refresh family (minted by
   * `opts.sessionId`: signing that session out ends the family).
   * @throws TOKEN_ORGANIZATION_NOT_FOUND (404) when the user has no ACTIVE membership there (or no such org)
   */
  issue(userId: string, orgId: string, opts?: { sessionId?: string }): Promise<TokenPair>;
  /**
   * Verifies an access token, that its refresh family (`sid`) is not revoked and the user's credentials
   * did not change since it was issued, and that the membership it was minted for is unchanged.
   * @throws TOKEN_INVALID (bad signature, unknown kid, alg other than EdDSA, wrong iss/typ, malformed),
   *   TOKEN_EXPIRED, TOKEN_STALE (role/permissions changed since: refresh), TOKEN_REVOKED (family
   *   revoked, credentials changed, or membership gone)
   */
  verifyAccess(token: string): Promise<VerifiedAccess>;
  /**
   * `verifyAccess` for the request path: the answer itself when the signature, the revocation state and
   * the membership are all cached (no promise), else a promise; it may throw rather than reject.
   */
  checkAccess(token: string): MaybePromise<VerifiedAccess>;
  /**
   * Exchanges a refresh token for a new pair in the same family (the presented token becomes used).
   * @throws TOKEN_REUSED (an already used token: the whole family is revoked), TOKEN_INVALID (unknown,
   *   expired, revoked), TOKEN_REVOKED (membership no longer active: the family is revoked)
   */
  refresh(refreshToken: string): Promise<TokenPair>;
  /** Revokes the family of a refresh token. Silent when there is no such token (the caller answers alike). */
  revoke(refreshToken: string): Promise<void>;
  /**
   * Revokes one refresh family of `userId` (an access token's `sid`: its holder signs out), and the access
   * tokens minted in it from their next request on, on every instance. Silent when there is none.
   */
  revokeFamily(userId: string, familyId: string): Promise<void>;
  /**
   * Revokes every refresh token of a user (password reset, account compromise); returns how many.
   * Pass `opts.db` (a transaction) to make it part of the caller's change, e.g. the new password's; then
   * call `forgetRevoked({ userId })` (or broadcast it) once it committed. The access tokens of those
   * families are refused from their next request on.
   */
  revokeAllForUser(userId: string, opts?: { db?: repo.IdentityDb }): Promise<number>;
  /** Drops this process's cached state of a revoked family, or of all of a user's (the bus handler). */
  forgetRevoked(what: { userId: string; familyId?: string }): void;
  /** The public keys that verify access tokens, as a JWK Set. */
  jwks(): { keys: PublicJwk[] };
}

const DEFAULT_ACCESS_TTL = 600;
const DEFAULT_REFRESH_TTL = 30 * 24 * 3600;

type Rotation = { kind: 'rotated'; refreshToken: string } | { kind: 'invalid' | 'reused' | 'revoked' };

/** What a verified token grants, once its membership is known to be unchanged since it was minted. */
function accessOf(claims: VerifiedClaims, user: UserTokenState, m: ActiveMembership | null): VerifiedAccess {
  if (!m) throw new TokensError('TOKEN_REVOKED', 'access token revoked: membership is no longer active');
  if (m.permissionsVersion !== claims.permissionsVersion || m.role !== claims.role) {
    throw new TokensError(
      'TOKEN_STALE',
      'access token is stale: your role or permissions changed; refresh it to continue',
    );
  }
  return {
    userId: claims.userId,
    orgId: claims.orgId,
    role: m.role,
    permissions: m.permissions,
    refreshFamilyId: claims.familyId,
    emailVerified: user.emailVerified,
  };
}

/** API client tokens: Ed25519 access JWTs and rotating, reuse-detecting refresh tokens. */
export function createTokenService(deps: TokenServiceDeps): TokenService {
  const { db, membership } = deps;
  const now = deps.now ?? (() => new Date());
  const accessTtl = deps.accessTtlSeconds ?? DEFAULT_ACCESS_TTL;
  const refreshTtl = deps.refreshTtlSeconds ?? DEFAULT_REFRESH_TTL;
  if (!Number.isInteger(accessTtl) || accessTtl <= 0) throw new Error('tokens: accessTtlSeconds must be > 0');
  if (!Number.isInteger(refreshTtl) || refreshTtl <= 0) {
    throw new Error('tokens: refreshTtlSeconds must be > 0');
  }
  const codec = createAccessTokenCodec({ keys: deps.keys, issuer: deps.issuer, ttlSeconds: accessTtl, now });
  const revocation = deps.revocation ?? createTokenRevocation({ db });
  const forgetRevoked = (what: { userId: string; familyId?: string }) => {
    if (what.familyId) revocation.forgetFamily(what.userId, what.familyId);
    else revocation.forgetUser(what.userId);
  };
  const revoked = deps.onRevoked ?? forgetRevoked;

  const granted = new WeakMap<
    VerifiedClaims,
    { user: UserTokenState; membership: ActiveMembership; access: VerifiedAccess }
  >();
  /** What a token's claims grant with this user state and membership: every request of a cached token
   *  meets the same cached claims, user state and membership objects, so it is built once, not per request. */
  const grant = (claims: VerifiedClaims, u: UserTokenState, am: ActiveMembership | null): VerifiedAccess => {
    const known = granted.get(claims);
    if (known && known.user === u && known.membership === am) return known.access;
    const access = accessOf(claims, u, am);
    granted.set(claims, { user: u, membership: am!, access });
    return access;
  };
  /** The token's state now: revocation and membership are cache hits on the hot path, checked together. */
  const checkClaims = (claims: VerifiedClaims): MaybePromise<VerifiedAccess> => {
    const user = revocation.check(claims);
    const m = membership.activeMembership(claims.orgId, claims.userId);
    if (isPending(user)) return Promise.all([user, m]).then(([u, am]) => grant(claims, u, am));
    // Only what is pending is waited for (one promise, not a Promise.all of two).
    if (isPending(m)) return m.then((am) => grant(claims, user, am));
    return grant(claims, user, m);
  };
  const checkAccess = (token: string): MaybePromise<VerifiedAccess> =>
    andThen(codec.verify(token), checkClaims);

  const pair = async (
    userId: string,
    orgId: string,
    familyId: string,
    m: ActiveMembership,
    refreshToken: string,
  ): Promise<TokenPair> => ({
    accessToken: await codec.sign({
      userId,
      orgId,
      familyId,
      role: m.role,
      permissionsVersion: m.permissionsVersion,
    }),
    refreshToken,
    expiresIn: accessTtl,
    tokenType: 'Bearer',
  });
  const refreshExpiry = (from: Date) => new Date(from.getTime() + refreshTtl * 1000);

  /** Locks the presented token's row and decides; family revocations are committed with the decision. */
  const rotate = (hash: Buffer, m: ActiveMembership | null): Promise<Rotation> =>
    db.transaction().execute(async (trx): Promise<Rotation> => {
      const at = now();
      const row = await repo.findRefreshTokenByHash(trx, hash, { forUpdate: true });
      if (!row || row.revoked_at || row.current_organization_id === null) return { kind: 'invalid' };
      if (row.used_at) {
        await repo.revokeRefreshFamily(trx, row.family_id, at);
        return { kind: 'reused' };
      }
      if (row.expires_at.getTime() <= at.getTime()) return { kind: 'invalid' };
      if (!m) {
        await repo.revokeRefreshFamily(trx, row.family_id, at);
        return { kind: 'revoked' };
      }
      await repo.markRefreshTokenUsed(trx, row.id, at);
      const next = newOpaqueToken();
      await repo.insertRefreshToken(trx, {
        id: uuidv7(),
        family_id: row.family_id,
        user_id: row.user_id,
        current_organization_id: row.current_organization_id,
        token_hash: next.hash,
        expires_at: refreshExpiry(at),
        session_id: row.session_id,
      });
      return { kind: 'rotated', refreshToken: next.token };
    });

  return {
    async issue(userId, orgId, opts) {
      if (!isTenantId(userId) || !isTenantId(orgId)) throw tokenOrganizationNotFound();
      const m = await membership.activeMembership(orgId, userId);
      if (!m) throw tokenOrganizationNotFound();
      const refresh = newOpaqueToken();
      const familyId = uuidv7();
      await repo.insertRefreshToken(db, {
        id: uuidv7(),
        family_id: familyId,
        user_id: userId,
        current_organization_id: orgId,
        token_hash: refresh.hash,
        expires_at: refreshExpiry(now()),
        session_id: opts?.sessionId ?? null,
      });
      return pair(userId, orgId, familyId, m, refresh.token);
    },

    verifyAccess: async (token) => checkAccess(token),
    checkAccess,

    async refresh(refreshToken) {
      const hash = hashOpaqueToken(refreshToken);
      if (!hash) throw tokenInvalid('refresh token');
      // Read once without a lock to learn whose token it is, then ask about the membership BEFORE the
      // locking transaction: no connection is held (and no row locked) while another is checked out.
      const seen = await repo.findRefreshTokenByHash(db, hash);
      if (!seen || seen.revoked_at || seen.current_organization_id === null)
        throw tokenInvalid('refresh token');
      const usable = !seen.used_at && seen.expires_at.getTime() > now().getTime();
      const m = usable ? await membership.activeMembership(seen.current_organization_id, seen.user_id) : null;
      // The decision is made again under the row lock: of two concurrent refreshes, the second sees
      // the token used and is treated as reuse.
      const outcome = await rotate(hash, m);
      if (outcome.kind === 'reused' || outcome.kind === 'revoked') {
        revoked({ userId: seen.user_id, familyId: seen.family_id });
      }
      switch (outcome.kind) {
        case 'rotated':
          return pair(seen.user_id, seen.current_organization_id, seen.family_id, m!, outcome.refreshToken);
        case 'reused':
          throw new TokensError(
            'TOKEN_REUSED',
            'refresh token was already used; its refresh token family and the access tokens minted from it have been revoked, sign in again',
          );
        case 'revoked':
          throw new TokensError('TOKEN_REVOKED', 'membership is no longer active; sign in again');
        case 'invalid':
          throw tokenInvalid('refresh token');
      }
    },

    async revoke(refreshToken) {
      const hash = hashOpaqueToken(refreshToken);
      if (!hash) return;
      const row = await repo.findRefreshTokenByHash(db, hash);
      if (!row) return;
      await repo.revokeRefreshFamily(db, row.family_id, now());
      revoked({ userId: row.user_id, familyId: row.family_id });
    },

    async revokeFamily(userId, familyId) {
      if (!isTenantId(userId) || !isTenantId(familyId)) return;
      await repo.revokeRefreshFamily(db, familyId, now(), userId);
      revoked({ userId, familyId });
    },

    async revokeAllForUser(userId, opts) {
      if (!isTenantId(userId)) return 0;
      const n = await repo.revokeUserRefreshTokens(opts?.db ?? db, userId, now());
      // Inside the caller's transaction the caller forgets once it committed.
      if (!opts?.db) revoked({ userId });
      return n;
    },

    forgetRevoked,

    jwks() {
      return { keys: codec.publicJwks() };
    },
  };
}
