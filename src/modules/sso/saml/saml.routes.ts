import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../../platform/http/app-type.js';
import { ErrorResponse } from '../../../platform/http/schemas.js';
import { HttpError } from '../../../platform/http/http-errors.js';
import { SamlError } from './saml.errors.js';
import { MAX_RESPONSE_LENGTH, type SamlService } from './saml.service.js';
import { ssoFlowCookie, ssoFlowToken } from '../flow-cookie.js';

export interface SamlRoutesDeps {
  readonly saml: SamlService;
  /** `PUBLIC_URL`: the flow cookie's path is under its path. */
  readonly publicUrl: string;
}

const Params = Type.Object(
  { connectionId: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
/** The HTTP-POST binding's form: the base64 response and the RelayState we sent (or the IdP's). */
const AcsForm = Type.Object(
  {
    SAMLResponse: Type.String({ minLength: 1, maxLength: MAX_RESPONSE_LENGTH }),
    RelayState: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
const FORM_LIMIT = MAX_RESPONSE_LENGTH * 2;

/**
 * `/v1/auth/sso/saml/:connectionId/*`: the service provider's metadata and assertion consumer URL, one
 * pair per connection. Both are public: they are reached before anyone is signed in, and the connection
 * (with its organization) is found by its id through the SSO core's named privileged lookup.
 */
export function registerSamlRoutes(app: App, deps: SamlRoutesDeps): void {
  const { saml } = deps;
  // Encapsulated: the urlencoded form parser exists for these routes only.
  void app.register(async (scoped: App) => {
    scoped.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: FORM_LIMIT },
      (_req, body, done) => {
        const form: Record<string, string> = {};
        for (const [k, v] of new URLSearchParams(body as string)) {
          if (k in form)
            return done(new HttpError('BAD_REQUEST', `form field ${k} given twice`, 400), undefined);
          form[k] = v;
        }
        done(null, form);
      },
    );

    scoped.get(
      '/v1/auth/sso/saml/:connectionId/metadata',
      {
        config: {
          auth: { kind: 'public', reason: "the IdP's administrator reads the SP metadata to set up SSO" },
        },
        schema: {
          operationId: 'samlMetadata',
          tags: ['sso'],
          description:
            'The service provider metadata of one SAML connection (XML): entity id, assertion consumer URL ' +
            '(HTTP-POST), NameID format emailAddress. An unknown or inactive connection answers 404.',
          params: Params,
          response: { 200: Type.String({ description: 'application/samlmetadata+xml' }), 404: ErrorResponse },
        },
      },
      async (req, reply) => {
        const xml = await saml.metadata(req.params.connectionId);
        return reply.type('application/samlmetadata+xml; charset=utf-8').send(xml);
      },
    );

    scoped.post(
      '/v1/auth/sso/saml/:connectionId/acs',
      {
        config: {
          auth: {
            kind: 'public',
            reason: "the IdP's signed response, posted by the browser, is what authenticates the sign-in",
          },
        },
        bodyLimit: FORM_LIMIT,
        schema: {
          operationId: 'samlAssertionConsumer',
          tags: ['sso'],
          description:
            'The assertion consumer (HTTP-POST binding, a cross-site form post by design: no Origin check, ' +
            'the signature and the pending request authenticate it; an SP-initiated response is accepted only ' +
            'from the browser that started the sign-in, by its `sr_sso` cookie). A verified response signs the user in ' +
            '(session cookie) and redirects (303) to the return path; a refused one answers 401 ' +
            '`SAML_RESPONSE_REFUSED` whatever the reason (the reason is logged).',
          params: Params,
          body: AcsForm,
          response: { 303: Type.Null(), 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (req, reply) => {
        // The flow cookie is single-use: cleared whatever the outcome.
        void reply.header(
          'set-cookie',
          ssoFlowCookie('', { kind: 'saml', secure: true, publicUrl: deps.publicUrl, clear: true }),
        );
        try {
          const r = await saml.consume(req.params.connectionId, req.body, {
            ip: req.ip,
            userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
            browserToken: ssoFlowToken(req.headers.cookie),
          });
          return reply
            .header('set-cookie', r.setCookie)
            .header('cache-control', 'no-store')
            .redirect(r.redirectTo, 303);
        } catch (err) {
          if (err instanceof SamlError && err.refusal) {
            req.log.warn(
              { connection_id: req.params.connectionId, refusal: err.refusal },
              'SAML response refused',
            );
          }
          throw err;
        }
      },
    );
  });
}
