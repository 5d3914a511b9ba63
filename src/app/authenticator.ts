import type { Authenticator } from '../platform/http/auth.js';
import { andThen } from '../platform/cache/maybe-promise.js';
import { normalizeOrigins } from '../modules/auth/csrf.js';
import {
  awaitingSecondFactor,
  presentedSessionToken,
  resolveSessionCookie,
} from '../modules/auth/session-authenticator.js';
import type { ResolvedSession } from '../modules/auth/sessions.types.js';
import { bearerToken } from '../modules/tokens/bearer-token.js';
import { acceptsPendingSecondFactor } from '../modules/two-factor/two-factor.routes.js';
import { createAuthenticator, type SessionView } from '../modules/tenant-resolution/authenticator.js';
import { TenantResolutionError } from '../modules/tenant-resolution/tenant-resolution.errors.js';
import type { Services } from './services.js';
import type { ComposeOptions } from './compose.js';

/**
 * The production authenticator: organization API keys (api-keys module), bearer access tokens (tokens
 * module) or the session cookie (auth module, CSRF-checked), then tenant resolution with membership,
 * organization policy and two-factor checks.
 */
export function createAppAuthenticator(deps: { services: Services; opts: ComposeOptions }): Authenticator {
  const { services, opts } = deps;
  const allowedOrigins = normalizeOrigins(opts.allowedOrigins ?? [opts.publicUrl]);
  const sessionAuth = { sessions: services.sessions, allowedOrigins };
  // A cached session answers every request of its user with the same object: its view is built once,
  // not per request (a session that changes is a new object: rotation, touch, reload).
  const views = new WeakMap<ResolvedSession, SessionView>();
  return createAuthenticator({
    apiKey: (request) => services.apiKeyAuth.check(request),
    bearer: (request) => {
      const token = bearerToken(request);
      return token ? services.tokens.checkAccess(token) : null;
    },
    session: (request) =>
      andThen(resolveSessionCookie(request, sessionAuth), (resolved) => {
        if (!resolved) return null;
        if (awaitingSecondFactor(resolved) && !acceptsPendingSecondFactor(request)) {
          throw new TenantResolutionError('TWO_FACTOR_REQUIRED', 'verify your second factor first');
        }
        // The proof of the user for privileged lookups and the key of the platform scope (the database
        // hashes it and checks the session is live).
        const sessionToken = presentedSessionToken(request, services.sessions) ?? undefined;
        const cached = views.get(resolved);
        if (cached && cached.sessionToken === sessionToken) return cached;
        const view: SessionView = {
          sessionId: resolved.session.id,
          userId: resolved.user.id,
          currentOrganizationId: resolved.session.currentOrganizationId,
          twoFactorVerified: resolved.session.twoFactorVerified,
          userTwoFactorEnabled: resolved.user.twoFactorEnabled,
          isPlatformAdmin: resolved.user.isPlatformAdmin,
          emailVerified: resolved.user.emailVerified,
          sessionToken,
        };
        views.set(resolved, view);
        return view;
      }),
    // Platform administration needs a browser session; an API token never carries it.
    isPlatformAdmin: () => false,
    twoFactorEnabled: (userId) => services.twoFactor.isEnabled(userId),
    activeMembership: (orgId, userId) => services.membershipLookup.activeMembership(orgId, userId),
    organizationIdBySlug: (slug) => services.organizationSlugs.idBySlug(slug),
    organizationPolicy: (orgId) => services.organizationPolicies.get(orgId),
    baseDomain: opts.baseDomain,
    appHosts: allowedOrigins.map((origin) => new URL(origin).hostname),
  });
}
