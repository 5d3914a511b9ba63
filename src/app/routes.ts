import type pg from 'pg';
import type { FastifyReply } from 'fastify';
import type { App } from '../platform/http/app-type.js';
import type { PlatformDb } from '../platform/db/platform-db.js';
import type { Mailer } from '../platform/mail/mailer.js';
import { HttpError } from '../platform/http/http-errors.js';
import { registerHealthRoutes } from '../platform/http/health.routes.js';
import { latestMigration, migrationsCurrent } from '../platform/db/migrate.js';
import { schemaPlacementsBehind } from '../platform/tenancy/privileged-placements.js';
import { registerProjectsRoutes } from '../modules/projects/projects.routes.js';
import { registerInvoicesRoutes } from '../modules/billing/invoices.routes.js';
import { registerBillingRoutes } from '../modules/billing/billing.routes.js';
import {
  registerBillingProviderRoutes,
  registerStripeWebhookRoute,
} from '../modules/billing/stripe.routes.js';
import { registerApiKeysRoutes } from '../modules/api-keys/api-keys.routes.js';
import { rateLimitHeadersHook } from '../modules/api-keys/api-key-auth.js';
import { registerOrganizationsRoutes } from '../modules/organizations/organizations.routes.js';
import { registerMembershipsRoutes } from '../modules/memberships/memberships.routes.js';
import { registerRolesRoutes } from '../modules/memberships/roles.routes.js';
import { registerAuthRoutes } from '../modules/auth/auth.routes.js';
import { deviceCookieHeader } from '../modules/auth/device-cookie.js';
import { registerSessionRoutes } from '../modules/auth/sessions.routes.js';
import { checkCrossSiteRequest, normalizeOrigins } from '../modules/auth/csrf.js';
import { createVerifiedEmailGate } from '../modules/auth/email-verified-gate.js';
import { registerTokensRoutes } from '../modules/tokens/tokens.routes.js';
import { registerTwoFactorRoutes } from '../modules/two-factor/two-factor.routes.js';
import { registerPasskeysRoutes } from '../modules/passkeys/passkeys.routes.js';
import { registerInvitationsRoutes } from '../modules/invitations/invitations.routes.js';
import { registerPlatformRoutes } from '../modules/platform-admin/platform-admin.routes.js';
import { registerPlacementMoveRoutes } from '../modules/tenant-placement/placement-moves.routes.js';
import { registerLifecycleRoutes } from '../modules/organization-lifecycle/lifecycle.routes.js';
import { registerTenantKeyRoutes } from '../modules/tenant-keys/tenant-keys.routes.js';
import { registerFlagsRoutes } from '../modules/flags/flags.routes.js';
import { registerFlagDefinitionsRoutes } from '../modules/flags/flag-definitions.routes.js';
import { registerSwitchRoutes } from '../modules/tenant-resolution/switch.routes.js';
import { registerDevMailboxRoutes } from '../platform/mail/dev-mailbox.routes.js';
import { registerAuditRoutes } from '../modules/audit/audit.routes.js';
import { registerPlatformAuditRoutes } from '../modules/audit/platform-audit.routes.js';
import { registerMetersRoutes } from '../modules/usage/meters.routes.js';
import { registerUsageRoutes } from '../modules/usage/usage.routes.js';
import { registerPlanCatalogRoutes } from '../modules/plans/plan-catalog.routes.js';
import { registerOrganizationPlanRoutes } from '../modules/plans/organization-plan.routes.js';
import { registerWebhooksRoutes } from '../modules/webhooks/webhooks.routes.js';
import { registerSsoRoutes } from '../modules/sso/sso.routes.js';
import { registerSsoAuthRoutes } from '../modules/sso/sso-auth.routes.js';
import { registerGdprRoutes } from '../modules/gdpr/gdpr.routes.js';
import { registerErasureRoutes } from '../modules/account-erasure/erasure.routes.js';
import { registerSocialSignInRoutes } from '../modules/social-sign-in/social.routes.js';
import { registerScimRoutes } from '../modules/scim/scim.routes.js';
import { registerScimProtocolRoutes } from '../modules/scim/scim-protocol.routes.js';
import type { Services } from './services.js';
import type { ComposeOptions } from './compose.js';

/** Registers every module's routes with the services built for them. */
export function registerRoutes(
  app: App,
  deps: {
    services: Services;
    pool: pg.Pool;
    mailer: Mailer;
    platformDb: PlatformDb;
    organizationIdBySlug: (slug: string) => Promise<string | null>;
    opts: ComposeOptions;
  },
): void {
  const { services: s, pool, opts } = deps;
  const allowedOrigins = normalizeOrigins(opts.allowedOrigins ?? [opts.publicUrl]);
  const verifiedEmail = createVerifiedEmailGate(opts.requireVerifiedEmail ?? true);
  // Hard api_requests quotas: a preHandler on every tenant route but the exempt ones (before any route).
  s.apiRequestsQuota.install(app);
  registerHealthRoutes(app, {
    ready: async () => {
      await pool.query('select 1');
      if (!(await migrationsCurrent(pool))) return { database: true, migrations: false };
      // A schema placement can fall behind while the server runs (its synchronization at start failed):
      // its organization's queries would meet tables of the previous shape.
      const latest = latestMigration();
      const count = await schemaPlacementsBehind(pool, latest);
      if (count === 0) return { database: true, migrations: true };
      const reason = `${count} schema placement${count === 1 ? ' is' : 's are'} not synchronized to ${latest}: run \`npx saasready migrate\` (the server log names them)`;
      return { database: true, migrations: false, behind: [{ placement: 'schema', count, reason }] };
    },
  });
  registerProjectsRoutes(app, { projects: s.projects });
  registerInvoicesRoutes(app, { invoices: s.invoices });
  registerBillingRoutes(app, { billing: s.billing });
  registerBillingProviderRoutes(app, { provider: s.billingProviders.provider });
  registerStripeWebhookRoute(app, { webhooks: s.billingProviders.stripe?.webhooks });
  registerApiKeysRoutes(app, { apiKeys: s.apiKeys, verifiedEmail });
  // App-wide, not only on the API-key routes: any response to a key-authenticated request carries them.
  app.addHook('onSend', rateLimitHeadersHook);
  registerOrganizationsRoutes(app, { organizations: s.organizations });
  registerMembershipsRoutes(app, { memberships: s.memberships });
  registerRolesRoutes(app, { roles: s.roles });
  registerAuthRoutes(app, {
    auth: s.auth,
    sessions: s.sessions,
    revokeTokenFamily: (userId, familyId) => s.tokens.revokeFamily(userId, familyId),
    allowedOrigins,
    secureCookies: opts.secureCookies,
    publicUrl: opts.publicUrl,
  });
  registerSessionRoutes(app, { sessions: s.sessions });
  registerSocialSignInRoutes(app, {
    social: s.socialSignIn,
    sessions: s.sessions,
    publicUrl: opts.publicUrl,
    secureCookies: opts.secureCookies,
  });
  registerErasureRoutes(app, { erasure: s.erasure, sessions: s.sessions });
  registerTokensRoutes(app, { tokens: s.tokens, verifiedEmail });
  const markSessionVerified = async (
    sessionId: string,
    reply: FastifyReply,
    how?: { provesDevice?: boolean },
  ) => {
    const rotated = await s.sessions.markTwoFactorVerified(sessionId);
    if (!rotated) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
    void reply.header('set-cookie', s.sessions.cookie(rotated.token, rotated.session));
    // A sign-in complete only now, or an enrollment confirmed: the browser's device cookie (a new device
    // id, since the cookie is sent to the password route only), with the path the password route sets.
    const device = how?.provesDevice ? await s.auth.issueDeviceCookie(rotated.session.id) : null;
    if (device) {
      void reply.header(
        'set-cookie',
        deviceCookieHeader(device, { secure: opts.secureCookies, publicUrl: opts.publicUrl }),
      );
    }
  };
  registerTwoFactorRoutes(app, {
    twoFactor: s.twoFactor,
    policy: s.twoFactorPolicy,
    markSessionVerified,
  });
  registerPasskeysRoutes(app, {
    passkeys: s.passkeys,
    sessions: s.sessions,
    allowedOrigins,
    secureCookies: opts.secureCookies,
    markSessionVerified,
  });
  registerInvitationsRoutes(app, {
    invitations: s.invitations,
    verifiedEmail,
    checkCrossSite: (req) => checkCrossSiteRequest(req, allowedOrigins),
    limitAccountCreation: (req) => s.auth.limitAccountCreation(req.ip),
    createUser: async (db, email, password) => {
      const { user } = await s.auth.registerUser(
        { email, password },
        { createPersonalOrganization: false, db, emailVerified: true },
      );
      return user.id;
    },
    startSession: async (req, reply, userId, orgId) => {
      // require-SSO (docs/sso.md): the new member signs in through the IdP, not here.
      if (await s.auth.ssoRequiredForUser(userId)) return;
      const { token, session } = await s.sessions.create(
        userId,
        { ip: req.ip, userAgent: req.headers['user-agent'] ?? null },
        { currentOrganizationId: orgId },
      );
      void reply.header('set-cookie', s.sessions.cookie(token, session));
    },
  });
  registerPlatformRoutes(app, { platform: s.platform });
  registerPlacementMoveRoutes(app, { moves: s.placementMoves });
  registerLifecycleRoutes(app, { lifecycle: s.organizationLifecycle });
  registerTenantKeyRoutes(app, { tenantKeys: s.tenantKeys });
  registerFlagsRoutes(app, { flags: s.flags });
  registerFlagDefinitionsRoutes(app, { definitions: s.flagDefinitions });
  registerPlanCatalogRoutes(app, { catalog: s.planCatalog });
  registerOrganizationPlanRoutes(app, { plans: s.organizationPlans });
  registerAuditRoutes(app, { audit: s.audit });
  registerPlatformAuditRoutes(app, { platformAudit: s.platformAudit });
  registerMetersRoutes(app, { meters: s.meters });
  registerUsageRoutes(app, { usageEvents: s.usageEvents, usageSummary: s.usageSummary });
  registerWebhooksRoutes(app, { webhooks: s.webhooks });
  registerScimRoutes(app, { scimTokens: s.scim.tokens, scimGroups: s.scim.groups });
  // `/scim/v2/*`: authenticated by SCIM tokens only, SCIM error bodies (docs/scim.md).
  registerScimProtocolRoutes(app, {
    users: s.scim.users,
    groups: s.scim.groups,
    lookup: s.scim.lookup,
    admitted: s.scim.admitted,
    rateLimit: s.scim.rateLimit,
    recordEvent: s.scim.recordEvent,
    baseUrl: opts.publicUrl.replace(/\/+$/, ''),
    log: opts.log,
  });
  registerSsoRoutes(app, {
    connections: s.sso.connections,
    domains: s.sso.domains,
    withTenant: s.sso.withTenant,
  });
  registerSsoAuthRoutes(app, {
    signIn: s.sso.signIn,
    oidc: s.sso.oidc,
    sessions: s.sessions,
    privileged: s.sso.privileged,
    consoleUrl: opts.publicUrl,
    checkCrossSite: (req) => checkCrossSiteRequest(req, allowedOrigins),
    startThrottle: s.sso.startThrottle,
    secureCookies: opts.secureCookies,
  });
  s.saml.registerRoutes(app);
  registerGdprRoutes(app, {
    organizations: s.organizationExports,
    accounts: s.accountExports,
    downloads: s.exportDownloads,
  });
  // The built-in `api_requests` meter: every tenant-scoped request answered below 400 counts once, added
  // up in memory and flushed every few seconds (no write per request). The tenant is known before the body
  // is validated, so refused requests (4xx) and failures (5xx) would count otherwise.
  app.addHook('onResponse', (req, reply, done) => {
    if (req.tenantCtx) {
      if (reply.statusCode < 400) s.usageRecorder.record(req.tenantCtx, 'api_requests');
      s.apiRequestsQuota.settle(req, req.tenantCtx.tenantId, reply.statusCode);
    }
    done();
  });
  registerSwitchRoutes(app, {
    sessions: s.sessions,
    organizationIdBySlug: deps.organizationIdBySlug,
    rememberLastOrganization: async (userId, orgId) => {
      await deps.platformDb
        .updateTable('users')
        .set({ last_organization_id: orgId })
        .where('id', '=', userId)
        .execute();
    },
  });
  if (opts.devMailbox) registerDevMailboxRoutes(app, { mailer: deps.mailer });
}
