import type { FastifyRequest } from 'fastify';
import type { Permission } from '../../platform/authz/permissions.js';
import type { Authenticated, Authenticator, ResolvedTenant } from '../../platform/http/auth.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { orgSlugFromPath } from './org-path.js';
import { TenantResolutionError } from './tenant-resolution.errors.js';
import type { OrganizationPolicy } from './organization-policy.js';

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

export interface AuthenticatorDeps {
  /** Session from the `sr_session` cookie (CSRF-checked for unsafe methods), or null. */
  readonly session: (request: FastifyRequest) => Promise<SessionView | null>;
  /**
   * Bearer JWT → verified claims (rejects with the tokens module's 401s); null when there is no bearer,
   * at once and without a promise (most requests carry a cookie instead).
   */
  readonly bearer: (request: FastifyRequest) => Promise<AccessView | null> | null;
  /**
   * `Bearer srk_…` → the verified API key (rejects with the api-keys module's 401s and 429); null, at
   * once and without a promise, when the request carries no API key.
   */
  readonly apiKey?: (request: FastifyRequest) => Promise<ApiKeyView> | null;
  readonly isPlatformAdmin: (userId: string) => Promise<boolean>;
  /**
   * Whether the user has confirmed two-factor authentication. Asked only for a bearer token entering an
   * organization that requires it (a session carries the answer already).
   */
  readonly twoFactorEnabled: (userId: string) => Promise<boolean>;
  readonly activeMembership: (orgId: string, userId: string) => Promise<Membership | null>;
  readonly organizationIdBySlug: (slug: string) => Promise<string | null>;
  /** The organization's policy (two-factor required, suspended, marked for deletion). */
  readonly organizationPolicy: (orgId: string) => Promise<OrganizationPolicy | null>;
  /** `acme.<baseDomain>` selects the organization with slug `acme`. */
  readonly baseDomain?: string;
  /**
   * Hosts serving the application itself (the public URL's, e.g. `app.<baseDomain>`): never a tenant
   * subdomain, so a session on them acts in its current organization.
   */
  readonly appHosts?: readonly string[];
}

/** A well-formed id no organization has (uuidv7 ids never are all zero). */
const NO_ORGANIZATION = '00000000-0000-7000-8000-000000000000';

/** Routes a session with a pending second factor may still use. */
const TWO_FACTOR_PENDING_ALLOWED = new Set(['/v1/auth/two-factor/verify', '/v1/auth/logout', '/v1/auth/me']);

interface RequestAuth {
  session?: SessionView;
  access?: AccessView;
  apiKey?: ApiKeyView;
}

/**
 * The one authenticator: a session cookie or a bearer access token establishes the principal; the
 * tenant comes from, in order, the path (`/v1/orgs/:slug/...`), the `X-Organization` header (slug or id),
 * the subdomain, then the token's `org` claim or the session's current organization. Whatever the source,
 * the principal must hold an ACTIVE membership, else the answer is the 404 of a missing organization.
 */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const state = new WeakMap<FastifyRequest, RequestAuth>();
  const appHosts = new Set((deps.appHosts ?? []).map((h) => h.toLowerCase()));

  /** True when the request names an organization explicitly (path, header or tenant subdomain). */
  function namesOrganization(request: FastifyRequest): boolean {
    if (orgSlugFromPath(request.raw) !== undefined) return true;
    if (request.headers['x-organization'] !== undefined) return true;
    if (!deps.baseDomain) return false;
    const host = (request.hostname || '').toLowerCase().split(':')[0] ?? '';
    return host.endsWith(`.${deps.baseDomain}`) && !appHosts.has(host);
  }

  async function requestedOrganization(request: FastifyRequest): Promise<string | null | undefined> {
    const slug = orgSlugFromPath(request.raw);
    if (slug) return deps.organizationIdBySlug(slug);
    const header = request.headers['x-organization'];
    if (typeof header === 'string' && header.length > 0) {
      const v = header.trim().toLowerCase();
      if (isTenantId(v)) return v;
      return /^[a-z0-9-]{1,63}$/.test(v) ? deps.organizationIdBySlug(v) : null;
    }
    if (deps.baseDomain) {
      const host = (request.hostname || '').toLowerCase().split(':')[0] ?? '';
      const suffix = `.${deps.baseDomain}`;
      if (host.endsWith(suffix) && !appHosts.has(host)) {
        const sub = host.slice(0, -suffix.length);
        if (/^[a-z0-9-]{1,63}$/.test(sub) && sub !== 'www' && sub !== 'api')
          return deps.organizationIdBySlug(sub);
      }
    }
    return undefined; // nothing requested explicitly
  }

  /**
   * An API key determines its organization: naming another one (path, header, subdomain) finds nothing.
   * Organization policy applies (suspended, marked for deletion); two-factor requirements do not (a key
   * is not a person signing in).
   */
  async function resolveApiKeyTenant(
    request: FastifyRequest,
    key: ApiKeyView,
  ): Promise<ResolvedTenant | null> {
    const requested = namesOrganization(request) ? await requestedOrganization(request) : undefined;
    if (requested !== undefined && requested !== key.organizationId) return null;
    const policy = await deps.organizationPolicy(key.organizationId);
    if (!policy || policy.deletionRequested) return null;
    if (policy.suspended) {
      throw new TenantResolutionError('ORGANIZATION_SUSPENDED', 'this organization is suspended');
    }
    return { tenantId: key.organizationId, role: 'api_key', permissions: key.permissions };
  }

  return {
    async authenticate(request) {
      const verifying = deps.apiKey?.(request);
      if (verifying) {
        const apiKey = await verifying;
        state.set(request, { apiKey });
        return {
          principal: { kind: 'api_key', keyId: apiKey.id },
          userId: null,
          sessionId: null,
          isPlatformAdmin: false,
        } satisfies Authenticated;
      }
      const verifyingBearer = deps.bearer(request);
      const access = verifyingBearer ? await verifyingBearer : null;
      if (access) {
        state.set(request, { access });
        return {
          principal: { kind: 'user', userId: access.userId },
          userId: access.userId,
          sessionId: null,
          isPlatformAdmin: await deps.isPlatformAdmin(access.userId),
          emailVerified: access.emailVerified,
          ...(access.refreshFamilyId ? { refreshFamilyId: access.refreshFamilyId } : {}),
          ...(access.refreshFamilyId
            ? { credential: { kind: 'refresh_family', familyId: access.refreshFamilyId } }
            : {}),
        } satisfies Authenticated;
      }
      const session = await deps.session(request);
      if (!session) return null;
      if (session.userTwoFactorEnabled && !session.twoFactorVerified) {
        const url = request.routeOptions.url ?? '';
        if (!TWO_FACTOR_PENDING_ALLOWED.has(url)) {
          throw new TenantResolutionError('TWO_FACTOR_REQUIRED', 'verify your second factor first');
        }
      }
      state.set(request, { session });
      return {
        principal: { kind: 'user', userId: session.userId, sessionId: session.sessionId },
        userId: session.userId,
        sessionId: session.sessionId,
        isPlatformAdmin: session.isPlatformAdmin,
        emailVerified: session.emailVerified,
        ...(session.sessionToken ? { credential: { kind: 'session', token: session.sessionToken } } : {}),
      } satisfies Authenticated;
    },

    async resolveTenant(request, who): Promise<ResolvedTenant | null> {
      const auth = state.get(request);
      if (auth?.apiKey) return resolveApiKeyTenant(request, auth.apiKey);
      if (!who.userId || !auth) return null;
      // Most requests name no organization: only then is the (async) lookup of a named one paid for.
      const requested = namesOrganization(request) ? await requestedOrganization(request) : undefined;
      if (requested === null) {
        // Named an organization that does not exist. Spend the same lookup a non-member of an existing one
        // costs, so timing does not tell which slugs exist.
        await deps.activeMembership(NO_ORGANIZATION, who.userId).catch(() => null);
        return null;
      }
      let resolved: ResolvedTenant;
      let policy: OrganizationPolicy | null;
      // A token was minted by a session that passed its second factor if the user had one, but the
      // user may have had none: an organization requiring it asks the user's current state.
      let twoFactorEnabled: () => Promise<boolean>;
      if (auth.access) {
        const userId = auth.access.userId;
        twoFactorEnabled = () => deps.twoFactorEnabled(userId);
        // A token is bound to its organization: naming another one finds nothing.
        if (requested !== undefined && requested !== auth.access.orgId) return null;
        resolved = {
          tenantId: auth.access.orgId,
          role: auth.access.role,
          permissions: auth.access.permissions,
        };
        policy = await deps.organizationPolicy(resolved.tenantId);
      } else {
        const session = auth.session!;
        const orgId = requested ?? session.currentOrganizationId;
        if (!orgId) return null;
        // Both are in-process cache hits on the hot path: await them together.
        const [membership, orgPolicy] = await Promise.all([
          deps.activeMembership(orgId, session.userId),
          deps.organizationPolicy(orgId),
        ]);
        if (!membership) return null;
        resolved = { tenantId: orgId, role: membership.role, permissions: membership.permissions };
        policy = orgPolicy;
        twoFactorEnabled = () => Promise.resolve(session.userTwoFactorEnabled);
      }
      if (!policy || policy.deletionRequested) return null;
      if (policy.suspended && !who.isPlatformAdmin) {
        throw new TenantResolutionError('ORGANIZATION_SUSPENDED', 'this organization is suspended');
      }
      if (policy.requireTwoFactor && !(await twoFactorEnabled())) {
        throw new TenantResolutionError(
          'TWO_FACTOR_ENROLLMENT_REQUIRED',
          'this organization requires two-factor authentication: enrol before entering it',
        );
      }
      return resolved;
    },
  };
}
