import type { FastifyRequest } from 'fastify';
import { isPending, andThen, type MaybePromise } from '../../platform/cache/maybe-promise.js';
import type { Permission } from '../../platform/authz/permissions.js';
import type { Authenticated, Authenticator, ResolvedTenant } from '../../platform/http/auth.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { orgSlugFromPath } from './org-path.js';
import { TenantResolutionError } from './tenant-resolution.errors.js';
import { admitByLifecycle, type LifecycleRequest, type OrganizationPolicy } from './organization-policy.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers users of an organization billing suspended for non-payment (the routes that
     *  let an owner pay: billing provider info, portal link). Nothing else may set it. */
    allowWhenBillingSuspended?: boolean;
    /** The route is a write an organization pending deletion still takes (cancelling the deletion,
     *  exporting its data); its permission is still checked. Nothing else may set it. */
    allowWhenPendingDeletion?: boolean;
  }
}

/** What the lifecycle rules read of the request's route (see `admitByLifecycle`). */
type RouteFlags = Pick<LifecycleRequest, 'method' | 'allowWhenBillingSuspended' | 'allowWhenPendingDeletion'>;

function routeFlags(request: FastifyRequest): RouteFlags {
  const config = request.routeOptions.config;
  return {
    method: request.method,
    allowWhenBillingSuspended: config?.allowWhenBillingSuspended === true,
    allowWhenPendingDeletion: config?.allowWhenPendingDeletion === true,
  };
}

/** A resolved browser session (see the auth module). */
export interface SessionView {
  readonly sessionId: string;
  readonly userId: string;
  readonly currentOrganizationId: string | null;
  readonly twoFactorVerified: boolean;
  readonly userTwoFactorEnabled: boolean;
  readonly isPlatformAdmin: boolean;
  readonly emailVerified: boolean;
  /** The presented (raw) session token: the proof of the user for privileged lookups and what opens a
   *  platform administrator's platform scope (the database hashes it and checks the session is live). */
  readonly sessionToken?: string;
}

/** A verified access token (see the tokens module). */
export interface AccessView {
  readonly userId: string;
  readonly orgId: string;
  readonly role: string;
  readonly permissions: ReadonlySet<Permission>;
  /** The refresh-token family the token was minted from (its proof of the user), when the token names it. */
  readonly refreshFamilyId?: string;
  /** Whether the user's email address is verified (the tokens module's cached user state). */
  readonly emailVerified: boolean;
}

/** A verified organization API key (see the api-keys module). */
export interface ApiKeyView {
  /** `api_keys.id`. */
  readonly id: string;
  readonly organizationId: string;
  /** The key's scopes. */
  readonly permissions: ReadonlySet<Permission>;
}

export interface Membership {
  readonly role: string;
  readonly permissions: ReadonlySet<Permission>;
}

/*
 * Every lookup below answers synchronously on a cache hit (a value, not a promise): the hot path of an
 * authenticated request then runs without a promise, a microtask or an async-context hook per step.
 */
export interface AuthenticatorDeps {
  /** Session from the `sr_session` cookie (CSRF-checked for unsafe methods), or null. */
  readonly session: (request: FastifyRequest) => MaybePromise<SessionView | null>;
  /**
   * Bearer JWT → verified claims (throws or rejects with the tokens module's 401s); null when there is no
   * bearer, at once (most requests carry a cookie instead).
   */
  readonly bearer: (request: FastifyRequest) => MaybePromise<AccessView | null> | null;
  /**
   * `Bearer srk_…` → the verified API key (rejects with the api-keys module's 401s and 429); null, at
   * once and without a promise, when the request carries no API key.
   */
  readonly apiKey?: (request: FastifyRequest) => MaybePromise<ApiKeyView> | null;
  readonly isPlatformAdmin: (userId: string) => MaybePromise<boolean>;
  /**
   * Whether the user has confirmed two-factor authentication. Asked only for a bearer token entering an
   * organization that requires it (a session carries the answer already).
   */
  readonly twoFactorEnabled: (userId: string) => MaybePromise<boolean>;
  readonly activeMembership: (orgId: string, userId: string) => MaybePromise<Membership | null>;
  readonly organizationIdBySlug: (slug: string) => MaybePromise<string | null>;
  /** The organization's policy (two-factor required, suspended, marked for deletion). */
  readonly organizationPolicy: (orgId: string) => MaybePromise<OrganizationPolicy | null>;
  /** `acme.<baseDomain>` selects the organization with slug `acme`. */
  readonly baseDomain?: string;
  /**
   * Hosts serving the application itself (the public URL's, e.g. `app.<baseDomain>`): never a tenant
   * subdomain, so a session on them acts in its current organization.
   */
  readonly appHosts?: readonly string[];
}

const SLUG = /^[a-z0-9-]{1,63}$/;

/** A well-formed id no organization has (uuidv7 ids never are all zero). */
const NO_ORGANIZATION = '00000000-0000-7000-8000-000000000000';

/** Routes a session with a pending second factor may still use. */
const TWO_FACTOR_PENDING_ALLOWED = new Set([
  '/v1/auth/two-factor/verify',
  '/v1/auth/logout',
  '/v1/auth/me',
  // The second factor by passkey (src/modules/passkeys): its options and its verification.
  '/v1/auth/passkeys/second-factor/options',
  '/v1/auth/passkeys/second-factor/verify',
]);

interface RequestAuth {
  session?: SessionView;
  access?: AccessView;
  apiKey?: ApiKeyView;
}

/** Where a request keeps what authentication established for tenant resolution: a property under a
 *  module-private symbol (nothing else can read or set it), not a WeakMap, whose entry per request costs
 *  the garbage collector more than the rest of the bookkeeping. */
const AUTH = Symbol('tenant-resolution.auth');
type AuthSlot = { [AUTH]?: RequestAuth };
const setAuth = (request: FastifyRequest, auth: RequestAuth) => {
  (request as unknown as AuthSlot)[AUTH] = auth;
};
const authOf = (request: FastifyRequest) => (request as unknown as AuthSlot)[AUTH];

/**
 * The one authenticator: a session cookie or a bearer access token establishes the principal; the
 * tenant comes from, in order, the path (`/v1/orgs/:slug/...`), the `X-Organization` header (slug or id),
 * the subdomain, then the token's `org` claim or the session's current organization. Whatever the source,
 * the principal must hold an ACTIVE membership, else the answer is the 404 of a missing organization.
 */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  // What a session establishes is read-only and the same for every request a cached session view serves.
  const sessionPrincipals = new WeakMap<SessionView, Authenticated>();
  const tokenPrincipals = new WeakMap<AccessView, Authenticated>();
  const appHosts = new Set((deps.appHosts ?? []).map((h) => h.toLowerCase()));

  /** The tenant subdomain of the request's host (`acme` of `acme.<baseDomain>`), if it names one. */
  function tenantSubdomain(request: FastifyRequest): string | undefined {
    if (!deps.baseDomain) return undefined;
    const host = (request.hostname || '').toLowerCase().split(':')[0] ?? '';
    const suffix = `.${deps.baseDomain}`;
    if (!host.endsWith(suffix) || appHosts.has(host)) return undefined;
    return host.slice(0, -suffix.length);
  }

  /**
   * The organization the request names explicitly (path, `X-Organization` header, tenant subdomain):
   * undefined when it names none (most requests), null when the name matches no organization. An id in
   * the header needs no lookup, so it is answered without a promise; so is a slug the cache knows.
   */
  function requestedOrganization(request: FastifyRequest): MaybePromise<string | null | undefined> {
    const slug = orgSlugFromPath(request.raw);
    if (slug !== undefined) return deps.organizationIdBySlug(slug);
    const header = request.headers['x-organization'];
    if (typeof header === 'string' && header.length > 0) {
      const v = header.trim().toLowerCase();
      if (isTenantId(v)) return v;
      return SLUG.test(v) ? deps.organizationIdBySlug(v) : null;
    }
    const sub = tenantSubdomain(request);
    if (sub === undefined) return undefined;
    return SLUG.test(sub) && sub !== 'www' && sub !== 'api' ? deps.organizationIdBySlug(sub) : undefined;
  }

  /** What the organization's policy lets through: null (404), a throw, or the resolved tenant. */
  function admit(
    policy: OrganizationPolicy | null,
    resolved: ResolvedTenant,
    who: Authenticated,
    twoFactorEnabled: () => MaybePromise<boolean>,
    request: FastifyRequest,
  ): MaybePromise<ResolvedTenant | null> {
    if (!policy) return null;
    // The lifecycle rules, in one place (organization-policy.ts): the one exemption of a suspension is
    // billing's, for the routes flagged `allowWhenBillingSuspended` (signed-in users only). An active
    // organization admits everything, so only another state reads the route's flags.
    if (
      policy.state !== 'active' &&
      !admitByLifecycle(policy, {
        ...routeFlags(request),
        apiKey: false,
        isPlatformAdmin: who.isPlatformAdmin,
      })
    )
      return null;
    if (!policy.requireTwoFactor) return resolved;
    return andThen(twoFactorEnabled(), (enabled) => {
      if (!enabled) {
        throw new TenantResolutionError(
          'TWO_FACTOR_ENROLLMENT_REQUIRED',
          'this organization requires two-factor authentication: enrol before entering it',
        );
      }
      return resolved;
    });
  }

  /**
   * An API key determines its organization: naming another one (path, header, subdomain) finds nothing.
   * Organization policy applies (suspended, marked for deletion); two-factor requirements do not (a key
   * is not a person signing in).
   */
  function resolveApiKeyTenant(
    requested: string | null | undefined,
    key: ApiKeyView,
    request: FastifyRequest,
  ): MaybePromise<ResolvedTenant | null> {
    if (requested !== undefined && requested !== key.organizationId) return null;
    return andThen(deps.organizationPolicy(key.organizationId), (policy) => {
      if (!policy) return null;
      if (
        policy.state !== 'active' &&
        !admitByLifecycle(policy, { ...routeFlags(request), apiKey: true, isPlatformAdmin: false })
      )
        return null;
      return { tenantId: key.organizationId, role: 'api_key', permissions: key.permissions };
    });
  }

  function resolveUserTenant(
    auth: RequestAuth,
    who: Authenticated & { userId: string },
    requested: string | null | undefined,
    request: FastifyRequest,
  ): MaybePromise<ResolvedTenant | null> {
    if (requested === null) {
      // Named an organization that does not exist. Spend the same lookup a non-member of an existing one
      // costs, so timing does not tell which slugs exist.
      return Promise.resolve()
        .then(() => deps.activeMembership(NO_ORGANIZATION, who.userId))
        .then(
          () => null,
          () => null,
        );
    }
    if (auth.access) {
      const access = auth.access;
      // A token is bound to its organization: naming another one finds nothing.
      if (requested !== undefined && requested !== access.orgId) return null;
      const resolved = { tenantId: access.orgId, role: access.role, permissions: access.permissions };
      // A token was minted by a session that passed its second factor if the user had one, but the
      // user may have had none: an organization requiring it asks the user's current state.
      return andThen(deps.organizationPolicy(access.orgId), (policy) =>
        admit(policy, resolved, who, () => deps.twoFactorEnabled(access.userId), request),
      );
    }
    const session = auth.session!;
    const orgId = requested ?? session.currentOrganizationId;
    if (!orgId) return null;
    const membership = deps.activeMembership(orgId, session.userId);
    const policy = deps.organizationPolicy(orgId);
    const decide = (m: Membership | null, p: OrganizationPolicy | null) =>
      m
        ? admit(
            p,
            { tenantId: orgId, role: m.role, permissions: m.permissions },
            who,
            () => session.userTwoFactorEnabled,
            request,
          )
        : null;
    // Both are in-process cache hits on the hot path: only a miss waits (for both together).
    if (isPending(policy)) return Promise.all([membership, policy]).then(([m, p]) => decide(m, p));
    // Only what is pending is waited for (one promise, not a Promise.all of two).
    if (isPending(membership)) return membership.then((m) => decide(m, policy));
    return decide(membership, policy);
  }

  function userAuthenticated(access: AccessView, isPlatformAdmin: boolean): Authenticated {
    return {
      principal: { kind: 'user', userId: access.userId },
      userId: access.userId,
      sessionId: null,
      isPlatformAdmin,
      emailVerified: access.emailVerified,
      ...(access.refreshFamilyId ? { refreshFamilyId: access.refreshFamilyId } : {}),
      ...(access.refreshFamilyId
        ? { credential: { kind: 'refresh_family', familyId: access.refreshFamilyId } }
        : {}),
    } satisfies Authenticated;
  }

  function fromAccess(request: FastifyRequest, access: AccessView): MaybePromise<Authenticated> {
    setAuth(request, { access });
    return andThen(deps.isPlatformAdmin(access.userId), (admin) => {
      const known = tokenPrincipals.get(access);
      if (known?.isPlatformAdmin === admin) return known;
      const who = userAuthenticated(access, admin);
      tokenPrincipals.set(access, who);
      return who;
    });
  }

  function fromSession(request: FastifyRequest, session: SessionView | null): Authenticated | null {
    if (!session) return null;
    if (session.userTwoFactorEnabled && !session.twoFactorVerified) {
      const url = request.routeOptions.url ?? '';
      if (!TWO_FACTOR_PENDING_ALLOWED.has(url)) {
        throw new TenantResolutionError('TWO_FACTOR_REQUIRED', 'verify your second factor first');
      }
    }
    setAuth(request, { session });
    let who = sessionPrincipals.get(session);
    if (!who) {
      who = {
        principal: { kind: 'user', userId: session.userId, sessionId: session.sessionId },
        userId: session.userId,
        sessionId: session.sessionId,
        isPlatformAdmin: session.isPlatformAdmin,
        emailVerified: session.emailVerified,
        ...(session.sessionToken ? { credential: { kind: 'session', token: session.sessionToken } } : {}),
      } satisfies Authenticated;
      sessionPrincipals.set(session, who);
    }
    return who;
  }

  return {
    authenticate(request) {
      const verifying = deps.apiKey?.(request);
      if (verifying) {
        return andThen(verifying, (apiKey) => {
          setAuth(request, { apiKey });
          return {
            principal: { kind: 'api_key', keyId: apiKey.id, organizationId: apiKey.organizationId },
            userId: null,
            sessionId: null,
            isPlatformAdmin: false,
          } satisfies Authenticated;
        });
      }
      const verifyingBearer = deps.bearer(request);
      if (verifyingBearer) {
        return andThen(verifyingBearer, (access) =>
          access
            ? fromAccess(request, access)
            : andThen(deps.session(request), (s) => fromSession(request, s)),
        );
      }
      return andThen(deps.session(request), (session) => fromSession(request, session));
    },

    resolveTenant(request, who) {
      const auth = authOf(request);
      if (!auth || (!auth.apiKey && !who.userId)) return null;
      // Most requests name no organization: no lookup then.
      const requested = requestedOrganization(request);
      if (auth.apiKey) {
        const key = auth.apiKey;
        return andThen(requested, (r) => resolveApiKeyTenant(r, key, request));
      }
      const user = who as Authenticated & { userId: string };
      return andThen(requested, (r) => resolveUserTenant(auth, user, r, request));
    },
  };
}
