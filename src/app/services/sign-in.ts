import { regionPlacement } from '../../modules/organizations/organizations.service.js';
import { regionsOf } from './organizations.js';
import { rolePermissionsIn } from '../../modules/memberships/role-permissions.js';
import { createAuthService } from '../../modules/auth/auth.service.js';
import { createDeviceCookies } from '../../modules/auth/device-cookie.js';
import { createSocialSignInService } from '../../modules/social-sign-in/social.service.js';
import { createSocialProviders } from '../../modules/social-sign-in/social.providers.js';
import { createThrottle, LOGIN_THROTTLE_RULES, type Throttle } from '../../modules/auth/throttle.js';
import { createTwoFactorService } from '../../modules/two-factor/two-factor.service.js';
import { createTwoFactorPolicyService } from '../../modules/two-factor/two-factor.policy.js';
import { createPasskeysService } from '../../modules/passkeys/passkeys.service.js';
import { normalizeOrigins } from '../../modules/auth/csrf.js';
import { seatCheck } from '../../modules/plans/seats.js';
import { createSsoModule, type SsoModule } from '../../modules/sso/sso.module.js';
import { createSaml } from '../../modules/sso/saml/saml.module.js';
import { createSsoPrivilegedOps } from '../../platform/tenancy/privileged-sso.js';
import { lookupDomain } from '../../modules/sso/address-domain.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** Sign-in: passwords, two-factor, passkeys, social sign-in, single sign-on (OIDC and SAML). */
export function createSignIn(
  deps: ServiceDeps,
  caches: Caches,
  /** The per-recipient mail throttle (services.ts), shared with invitations. */
  recipientThrottle: Throttle,
) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant } = tenancy;
  const { sessions, bus, organizationPolicies, tenantSealer, membershipLookup } = caches;
  const ssoPrivileged = createSsoPrivilegedOps(platformDb, opts.log);
  // require-SSO (docs/sso.md): a member's password, social or passkey sign-in for an address of a
  // verified domain.
  const ssoRequiredFor = async (userId: string, email: string) => {
    const domain = lookupDomain(email);
    return domain ? ssoPrivileged.ssoRequiredFor(userId, domain) : null;
  };
  // Personal organizations are created in DEFAULT_REGION when one is set (data residency).
  const personalPlacement = regionPlacement(regionsOf(opts.tenantDatabases), undefined);
  const auth = createAuthService({
    ...(personalPlacement ? { personalPlacement } : {}),
    db: platformDb,
    withTenant,
    sessions,
    devices: createDeviceCookies(opts.secrets.kek),
    ssoRequiredFor,
    recipientThrottle,
    publicUrl: opts.publicUrl,
    log: opts.log,
  });
  const twoFactor = createTwoFactorService({
    db: platformDb,
    kek: opts.secrets.kek,
    previousKeks: opts.tenantKeys?.kekPrevious ?? [],
    issuer: 'SaaSReady',
    onChanged: (userId) => bus.publish({ kind: 'user', userId }),
  });
  // Passkeys (docs/passkeys.md): the relying party is the public URL's host; ceremonies come from the
  // origins the CSRF check allows.
  const passkeys = createPasskeysService({
    db: platformDb,
    sessions,
    rpId: new URL(opts.publicUrl).hostname,
    rpName: 'SaaSReady',
    origins: normalizeOrigins(opts.allowedOrigins ?? [opts.publicUrl]),
    throttle: createThrottle('passkeys.sign-in', LOGIN_THROTTLE_RULES),
    optionsThrottle: createThrottle('passkeys.options', { ip: { limit: 60, windowMs: 60_000 } }),
    ssoRequiredFor,
    log: opts.log,
  });
  const twoFactorPolicy = createTwoFactorPolicyService({
    withTenant,
    isEnabled: (userId) => twoFactor.isEnabled(userId),
    onRequirementChanged: (orgId) => organizationPolicies.invalidate(orgId),
  });
  // Social sign-in (SOCIAL_PROVIDERS): deployment-wide providers, users and sessions as login makes them.
  const socialSignIn = createSocialSignInService({
    ...(personalPlacement ? { personalPlacement } : {}),
    db: platformDb,
    withTenant,
    sessions,
    providers: createSocialProviders(opts.socialSignIn?.providers ?? [], opts.publicUrl),
    publicUrl: opts.publicUrl,
    ssoRequiredFor,
    log: opts.log,
  });
  // SAML sign-in (docs/saml.md): its protocol registers with the SSO core; its consumer URL completes
  // sign-ins through the core's (built below, hence the getter).
  let ssoModule: SsoModule | undefined;
  const saml = createSaml({
    withTenant,
    ssoSignIn: () => ssoModule!.signIn,
    sessions,
    publicUrl: opts.publicUrl,
  });
  // Single sign-on (docs/sso.md): connections, verified domains, OIDC sign-in and JIT provisioning.
  const sso = (ssoModule = createSsoModule({
    db: platformDb,
    withTenant,
    sessions,
    sealer: tenantSealer,
    rolePermissions: rolePermissionsIn,
    membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
    seats: seatCheck,
    publicUrl: opts.publicUrl,
    options: { ...opts.sso, protocols: [...(opts.sso?.protocols ?? []), saml.protocol] },
    log: opts.log,
  }));
  return { auth, twoFactor, twoFactorPolicy, passkeys, socialSignIn, sso, saml };
}
