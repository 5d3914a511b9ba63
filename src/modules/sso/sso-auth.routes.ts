import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import { AppError } from '../../platform/errors.js';
import type { SessionService } from '../auth/sessions.types.js';
import type { SsoPrivilegedOps } from '../../platform/tenancy/privileged-sso.js';
import type { SsoSignInService } from './sso-sign-in.js';
import type { OidcProtocol } from './oidc.protocol.js';
import { OIDC_CALLBACK_PATH } from './oidc.protocol.js';
import { SsoError, flowInvalid } from './sso.errors.js';
import { ssoFlowCookie, ssoFlowToken } from './flow-cookie.js';
import { clientAddress, type Throttle } from '../auth/throttle.js';

export interface SsoAuthRoutesDeps {
  readonly signIn: SsoSignInService;
  readonly oidc: OidcProtocol;
  readonly sessions: SessionService;
  readonly privileged: SsoPrivilegedOps;
  /** The console's origin: failed sign-ins land on `<consoleUrl>/sign-in?sso_error=<CODE>`. */
  readonly consoleUrl: string;
  /** The same-site request check of the other sign-in routes. */
  readonly checkCrossSite: (req: FastifyRequest) => void;
  /** Per client address: discovery and the start of a sign-in. */
  readonly startThrottle: Throttle;
  readonly secureCookies: boolean;
}

const publicAuth = (reason: string) => ({ auth: { kind: 'public' as const, reason } });
const errors = {
  400: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  422: ErrorResponse,
  429: ErrorResponse,
};
const meta = (req: FastifyRequest) => ({
  ip: req.ip,
  userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
});

/** `/v1/auth/sso/*`: home-realm discovery, the start of an SP-initiated sign-in, the OIDC callback. */
export function registerSsoAuthRoutes(app: App, deps: SsoAuthRoutesDeps): void {
  const { signIn, oidc, sessions } = deps;
  const base = deps.consoleUrl.replace(/\/+$/, '');
  const failed = (code: string) => `${base}/sign-in?sso_error=${encodeURIComponent(code)}`;
  /** Starts a flow and binds it to this browser (the flow cookie, see flow-cookie.ts). */
  const startBound = async (reply: { header(k: string, v: string): unknown }, id: string, to?: string) => {
    const { redirectUrl, browserToken, kind } = await signIn.start(id, to ?? '/');
    void reply.header(
      'set-cookie',
      ssoFlowCookie(browserToken, {
        kind,
        secure: deps.secureCookies,
        publicUrl: deps.consoleUrl,
      }),
    );
    return redirectUrl;
  };

  app.post(
    '/v1/auth/sso/discover',
    {
      config: publicAuth('home-realm discovery happens before sign-in'),
      schema: {
        operationId: 'discoverSso',
        summary: "The IdP URL of the organization that verified the address's domain (404 when none).",
        tags: ['auth'],
        body: Type.Object(
          {
            email: Type.String({ minLength: 3, maxLength: 254 }),
            returnTo: Type.Optional(Type.String({ maxLength: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ redirectUrl: Type.String() }), ...errors },
      },
    },
    async (req, reply) => {
      deps.checkCrossSite(req);
      deps.startThrottle.acquire([clientAddress(req.ip)]);
      const found = await signIn.discover(req.body.email);
      if (!found)
        throw new SsoError('SSO_NOT_CONFIGURED', 'no single sign-on is configured for this address');
      const redirectUrl = await startBound(reply, found.connectionId, req.body.returnTo);
      void reply.header('cache-control', 'no-store');
      return { redirectUrl };
    },
  );

  app.get(
    '/v1/auth/sso/start',
    {
      config: publicAuth('an SP-initiated sign-in starts before there is a session'),
      schema: {
        operationId: 'startSso',
        summary: 'Redirects to the IdP of a connection (or of an organization, by slug).',
        tags: ['auth'],
        querystring: Type.Object(
          {
            connection: Type.Optional(Type.String({ format: 'uuid' })),
            organization: Type.Optional(Type.String({ maxLength: 100 })),
            returnTo: Type.Optional(Type.String({ maxLength: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: { 302: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      deps.startThrottle.acquire([clientAddress(req.ip)]);
      let connectionId = req.query.connection ?? null;
      if (!connectionId && req.query.organization) {
        const found = await deps.privileged.discover({ slug: req.query.organization });
        connectionId = found?.connectionId ?? null;
      }
      if (!connectionId) throw new SsoError('SSO_NOT_CONFIGURED', 'no single sign-on is configured here');
      const redirectUrl = await startBound(reply, connectionId, req.query.returnTo);
      return reply.header('cache-control', 'no-store').redirect(redirectUrl, 302);
    },
  );

  app.get(
    OIDC_CALLBACK_PATH,
    {
      config: publicAuth('the IdP sends the browser back here with the authorization code'),
      schema: {
        operationId: 'oidcCallback',
        summary:
          'Completes an OIDC sign-in, then redirects to the console (a refusal: `/sign-in?sso_error=`).',
        tags: ['auth'],
        querystring: Type.Object(
          {
            state: Type.Optional(Type.String({ maxLength: 200 })),
            code: Type.Optional(Type.String({ maxLength: 4000 })),
            error: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: true },
        ),
        response: { 302: Type.Null() },
      },
    },
    async (req, reply) => {
      void reply.header('cache-control', 'no-store');
      // The flow cookie is single-use too: cleared whatever the outcome.
      const clearFlow = ssoFlowCookie('', {
        kind: 'oidc',
        secure: deps.secureCookies,
        publicUrl: deps.consoleUrl,
        clear: true,
      });
      try {
        // The flow is consumed first, whatever follows: a state (and with it the code) works once, and
        // only in the browser that started it (its flow cookie).
        const browserToken = ssoFlowToken(req.headers.cookie);
        const flow = req.query.state ? await signIn.consumeFlow(req.query.state, browserToken) : null;
        if (!flow) throw flowInvalid();
        const connection = await signIn.connectionForSignIn(flow.connectionId);
        if (!connection || connection.kind !== 'oidc') throw flowInvalid();
        if (req.query.error) {
          throw new SsoError('SSO_IDP_RESPONSE_INVALID', 'the identity provider refused the sign-in');
        }
        const query = req.url.slice(req.url.indexOf('?') + 1);
        const profile = await oidc.finish(connection, flow, query);
        const r = await signIn.complete(profile, meta(req));
        void reply.header('set-cookie', [clearFlow, sessions.cookie(r.token, r)]);
        return reply.redirect(`${base}${flow.returnTo}`, 302);
      } catch (err) {
        const code = err instanceof AppError ? String(err.code as unknown) : 'SSO_FAILED';
        req.log.info(
          { sso_error: code, reason: err instanceof Error ? err.message : undefined },
          'sso sign-in refused',
        );
        if (!(err instanceof AppError)) req.log.error({ err }, 'sso sign-in failed');
        void reply.header('set-cookie', clearFlow);
        return reply.redirect(failed(code), 302);
      }
    },
  );
}
