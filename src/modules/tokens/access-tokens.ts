import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { decodeProtectedHeader, errors, importJWK, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import type { Secrets } from '../../platform/secrets.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { tokenInvalid, TokensError } from './tokens.errors.js';
import type { MaybePromise } from '../../platform/cache/maybe-promise.js';

/** The only signature algorithm accepted (Ed25519). Anything else, `none` and HS* included, is refused. */
export const ACCESS_TOKEN_ALG = 'EdDSA';
/** JWT `typ` header of access tokens (RFC 9068), so no other JWT signed with these keys passes as one. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** Clock skew tolerated on `exp`/`iat`, in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 5;
/** How long a verified signature is remembered (never beyond the token's expiry). */
const VERIFIED_CACHE_TTL_MS = 60_000;
/** Longer strings are refused before any parsing. */
const MAX_TOKEN_LENGTH = 4096;

/** A public signing key as published at `/.well-known/jwks.json`. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** The claims an access token carries (beyond `iss`, `exp`, `jti`). */
export interface AccessClaims {
  userId: string;
  orgId: string;
  role: string;
  permissionsVersion: number;
  /** `sid`: the refresh-token family the token belongs to; revoking the family revokes the token. */
  familyId: string;
}

/** Verified claims, with `iat` (seconds since the epoch). */
export interface VerifiedClaims extends AccessClaims {
  issuedAt: number;
}

/** Signs and verifies access tokens with the configured Ed25519 keys. */
export interface AccessTokenCodec {
  /** Signs a token with the FIRST key (its `kid` in the header). */
  sign(claims: AccessClaims): Promise<string>;
  /**
   * Verifies signature (key chosen by `kid`, any configured key), `alg`, `typ`, `iss`, `exp` and claim
   * shapes. A token verified before answers synchronously (and may throw rather than reject).
   */
  verify(token: string): MaybePromise<VerifiedClaims>;
  /** The public half of every configured key. */
  publicJwks(): PublicJwk[];
}

type JwtKeys = Secrets['jwtKeys'];

function checkKeys(keys: JwtKeys): void {
  if (keys.length === 0) throw new Error('tokens: at least one JWT key is required');
  const kids = new Set<string>();
  for (const k of keys) {
    if (k.publicJwk.kty !== 'OKP' || k.publicJwk.crv !== 'Ed25519' || typeof k.publicJwk.x !== 'string') {
      throw new Error(`tokens: JWT key "${k.kid}" is not an Ed25519 key`);
    }
    if (kids.has(k.kid)) throw new Error(`tokens: duplicate JWT key id "${k.kid}"`);
    kids.add(k.kid);
  }
}

/**
 * Builds the access-token codec. `keys[0]` signs; every key verifies, so a token signed before a rotation
 * (the old key moved to the second entry) stays valid until it expires.
 */
export function createAccessTokenCodec(opts: {
  keys: JwtKeys;
  issuer: string;
  ttlSeconds: number;
  now: () => Date;
}): AccessTokenCodec {
  const { keys, issuer, ttlSeconds, now } = opts;
  checkKeys(keys);
  const signer = keys[0]!;
  let signingKey: Promise<CryptoKey> | undefined;
  const verifyKeys = new Map<string, Promise<CryptoKey>>();
  const verified = new LRUCache<string, { claims: VerifiedClaims; expMs: number }>({
    max: 50_000,
    ttlResolution: 0, // the clock read per check, no timer per millisecond (see single-flight.ts)
  });
  const verifyKey = (kid: string): Promise<CryptoKey> | undefined => {
    const entry = keys.find((k) => k.kid === kid);
    if (!entry) return undefined;
    let key = verifyKeys.get(kid);
    if (!key) {
      const { kty, crv, x } = entry.publicJwk;
      key = importJWK({ kty, crv, x }, ACCESS_TOKEN_ALG) as Promise<CryptoKey>;
      verifyKeys.set(kid, key);
    }
    return key;
  };

  /** A token not verified before: its header, then its Ed25519 signature and claims, then remembered. */
  const verifySignature = async (token: string): Promise<VerifiedClaims> => {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw tokenInvalid('access token');
    }
    // Checked here as well as by jose: the algorithm is never taken from the token.
    if (header.alg !== ACCESS_TOKEN_ALG || typeof header.kid !== 'string') throw tokenInvalid('access token');
    const key = verifyKey(header.kid);
    if (!key) throw tokenInvalid('access token');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await key, {
        algorithms: [ACCESS_TOKEN_ALG],
        typ: ACCESS_TOKEN_TYP,
        issuer,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now(),
        requiredClaims: ['sub', 'org', 'role', 'pv', 'sid', 'iat', 'exp', 'jti'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) {
        throw new TokensError('TOKEN_EXPIRED', 'access token expired; refresh it');
      }
      throw tokenInvalid('access token');
    }
    const { sub, org, role, pv, sid, iat, exp } = payload;
    if (
      !isTenantId(sub) ||
      !isTenantId(org) ||
      !isTenantId(sid) ||
      typeof role !== 'string' ||
      typeof pv !== 'number' ||
      !Number.isSafeInteger(pv) ||
      // jose checks `iat` is a number; a token "issued" in the future is not one of ours.
      typeof iat !== 'number' ||
      iat > now().getTime() / 1000 + CLOCK_TOLERANCE_SECONDS
    ) {
      throw tokenInvalid('access token');
    }
    // Frozen: every request of this token shares the object (and what is remembered about it).
    const claims: VerifiedClaims = Object.freeze({
      userId: sub,
      orgId: org,
      role,
      permissionsVersion: pv,
      familyId: sid,
      issuedAt: iat,
    });
    const expMs = typeof exp === 'number' ? exp * 1000 : 0;
    const ttl = Math.min(expMs - now().getTime(), VERIFIED_CACHE_TTL_MS);
    if (ttl > 0) verified.set(token, { claims, expMs }, { ttl });
    return claims;
  };

  return {
    async sign(claims) {
      signingKey ??= importJWK(signer.privateJwk, ACCESS_TOKEN_ALG) as Promise<CryptoKey>;
      const iat = Math.floor(now().getTime() / 1000);
      return new SignJWT({
        org: claims.orgId,
        role: claims.role,
        pv: claims.permissionsVersion,
        sid: claims.familyId,
      })
        .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: signer.kid, typ: ACCESS_TOKEN_TYP })
        .setIssuer(issuer)
        .setSubject(claims.userId)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .setJti(randomUUID())
        .sign(await signingKey);
    },

    verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw tokenInvalid('access token');
      }
      // A token whose signature was verified before is the same bytes: skip the Ed25519 check (about half
      // of a token request's CPU), but never the expiry. Keyed by the whole token, compared exactly: any
      // other string, a forged signature included, misses and is verified. (Hashing the token per request
      // to key it cost more than the lookup; the cache holds what requests carry, for at most a minute.)
      const hit = verified.get(token);
      if (hit) {
        if (hit.expMs + CLOCK_TOLERANCE_SECONDS * 1000 <= now().getTime()) {
          verified.delete(token);
          throw new TokensError('TOKEN_EXPIRED', 'access token expired; refresh it');
        }
        return hit.claims;
      }
      return verifySignature(token);
    },

    publicJwks() {
      return keys.map((k) => ({
        kty: 'OKP',
        crv: 'Ed25519',
        x: k.publicJwk.x!,
        kid: k.kid,
        alg: ACCESS_TOKEN_ALG,
        use: 'sig',
      }));
    },
  };
}
