import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { TenantSealer } from '../../platform/tenant-keys/contract.js';
import type { Permission } from '../../platform/authz/permissions.js';
import { registerSealedColumn } from '../../platform/tenant-keys/sealed-columns.js';
import { createSsoPrivilegedOps } from '../../platform/tenancy/privileged-sso.js';
import type { SessionService } from '../auth/sessions.types.js';
import { createOidcProtocol } from './oidc.protocol.js';
import { createSsoSignIn } from './sso-sign-in.js';
import { createConnectionsService } from './connections.service.js';
import { createDomainsService, type TxtResolver } from './domains.service.js';
import { ssoProtocols, type SsoProtocol } from './sso.contract.js';
import { fetchMetadata } from './metadata-fetch.js';
import { createThrottle } from '../auth/throttle.js';
import type { SeatCheck } from '../plans/seats.js';

/**
 * Discovery and the start of a sign-in, per client address: each answers whether an address's domain
 * has SSO and stores a flow row, so both are budgeted like the other unauthenticated sign-in routes.
 */
export const SSO_START_THROTTLE_RULES = { ip: { limit: 30, windowMs: 5 * 60_000 } } as const;

// The OIDC client secrets are sealed with the organization's key: a key rotation re-encrypts them.
registerSealedColumn({ table: 'sso_connections', column: 'oidc_client_secret', idColumn: 'id' });

/** SSO settings of the composition (docs/sso.md). */
export interface SsoOptions {
  /** Allows http:// OIDC issuers (development and tests only). */
  readonly allowHttpIssuers?: boolean;
  /** The TXT resolver of domain verification (tests: a fake). */
  readonly resolveTxt?: TxtResolver;
  /** More protocols (SAML registers here from the composition root). */
  readonly protocols?: readonly SsoProtocol[];
}

/** Builds the SSO services from the composition root's dependencies. */
export function createSsoModule(deps: {
  db: PlatformDb;
  withTenant: WithTenant;
  sessions: SessionService;
  sealer: TenantSealer;
  rolePermissions: (db: TenantDb, org: string, role: string) => Promise<readonly Permission[] | null>;
  membershipChanged: (orgId: string, userId: string) => void;
  seats?: SeatCheck;
  publicUrl: string;
  options?: SsoOptions;
  log?: Logger;
}) {
  const privileged = createSsoPrivilegedOps(deps.db, deps.log);
  const oidc = createOidcProtocol({
    publicUrl: deps.publicUrl,
    ...(deps.options?.allowHttpIssuers ? { allowHttpIssuers: true } : {}),
  });
  const signIn = createSsoSignIn({
    db: deps.db,
    withTenant: deps.withTenant,
    sessions: deps.sessions,
    sealer: deps.sealer,
    privileged,
    protocols: ssoProtocols([oidc.protocol, ...(deps.options?.protocols ?? [])]),
    rolePermissions: deps.rolePermissions,
    membershipChanged: deps.membershipChanged,
    ...(deps.seats ? { seats: deps.seats } : {}),
    ...(deps.log ? { log: deps.log } : {}),
  });
  const connections = createConnectionsService({
    withTenant: deps.withTenant,
    sealer: deps.sealer,
    rolePermissions: deps.rolePermissions,
    discoverOidc: (issuer, clientId) => oidc.discover(issuer, clientId),
    fetchMetadata,
    publicUrl: deps.publicUrl,
    revokeSessions: (id) => deps.sessions.revokeForSsoConnection(id),
    connectionChanged: (id) => oidc.forget(id),
  });
  const domains = createDomainsService({
    withTenant: deps.withTenant,
    ...(deps.options?.resolveTxt ? { resolveTxt: deps.options.resolveTxt } : {}),
  });
  const startThrottle = createThrottle('sso.start', SSO_START_THROTTLE_RULES);
  return { privileged, oidc, signIn, connections, domains, withTenant: deps.withTenant, startThrottle };
}

export type SsoModule = ReturnType<typeof createSsoModule>;
