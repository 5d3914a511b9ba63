import type { App } from '../../../platform/http/app-type.js';
import type { WithTenant } from '../../../platform/tenancy/with-tenant.js';
import type { SessionService } from '../../auth/sessions.types.js';
import type { SsoProtocol, SsoSignIn } from '../sso.contract.js';
import { createSamlProtocol } from './saml.protocol.js';
import { registerSamlRoutes } from './saml.routes.js';
import { createSamlService, type SamlService } from './saml.service.js';
import { samlConnectionOf } from './saml.types.js';

/**
 * SAML sign-in assembled from the SSO core's pieces, for the composition root: the service, the
 * `SsoProtocol` of kind 'saml' (registered with the core) and the routes.
 */
export function createSaml(deps: {
  readonly withTenant: WithTenant;
  /** The core's sign-in (a getter: the core is built after this protocol, which it registers). */
  readonly ssoSignIn: () => SsoSignIn;
  readonly sessions: Pick<SessionService, 'cookie'>;
  readonly publicUrl: string;
}): { service: SamlService; protocol: SsoProtocol; registerRoutes: (app: App) => void } {
  const service = createSamlService({
    connections: {
      findById: async (id) => {
        const c = await deps.ssoSignIn().connectionForSignIn(id);
        return c ? samlConnectionOf(c) : null;
      },
    },
    withTenant: deps.withTenant,
    signIn: {
      complete: (profile, meta) => deps.ssoSignIn().complete(profile, meta),
      consumeFlow: (flowId, browserToken) => deps.ssoSignIn().consumeFlow(flowId, browserToken),
    },
    sessionCookie: (token, until) => deps.sessions.cookie(token, { absoluteExpiresAt: until }),
    publicUrl: deps.publicUrl,
  });
  return {
    service,
    protocol: createSamlProtocol(service),
    registerRoutes: (app) => registerSamlRoutes(app, { saml: service, publicUrl: deps.publicUrl }),
  };
}
