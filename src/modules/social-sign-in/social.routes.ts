import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { userIdOf } from '../../platform/http/auth.js';
import { parseCookies, serializeCookie } from '../../platform/http/cookies.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { AppError } from '../../platform/errors.js';
import type { SessionService } from '../auth/sessions.service.js';
import { callbackUrlOf } from './social.providers.js';
import { FLOW_TTL_MS, type SocialSignInService } from './social.service.js';

export interface SocialRoutesDeps {
  readonly social: SocialSignInService;
  readonly sessions: SessionService;
  /** PUBLIC_URL: the callback URLs, and where the console's sign-in page is. */
  readonly publicUrl: string;
  readonly secureCookies: boolean;
}

/** The cookie binding a started sign-in to the browser that started it. */
export const FLOW_COOKIE = 'sr_social';

const Provider = Type.String({ minLength: 1, maxLength: 48, pattern: '^[a-z0-9][a-z0-9:-]*$' });
const ProviderView = Type.Object(
  {
    id: Type.String(),
    label: Type.String(),
    startUrl: Type.String({ description: 'Where the browser goes to sign in (add `?returnTo=/path`).' }),
  },
  { $id: 'SocialProvider' },
);
const IdentityView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    provider: Type.String(),
    providerLabel: Type.String(),
    email: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    lastUsedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'LinkedIdentity' },
);
const OptionalText = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/** A top-level navigation (it accepts HTML) gets a redirect to the sign-in page; an API caller JSON. */
const wantsHtml = (req: FastifyRequest) => /\btext\/html\b/.test(req.headers.accept ?? '');

/** `/v1/auth/social/*` (the browser flow) and `/v1/auth/identities` (the signed-in user's linked accounts). */
export function registerSocialSignInRoutes(app: App, deps: SocialRoutesDeps): void {
  const { social, sessions } = deps;
  const publicUrl = deps.publicUrl.replace(/\/+$/, '');
  const consoleBase = new URL(publicUrl).pathname.replace(/\/+$/, '');
  const flowCookie = (value: string, maxAge: number) =>
    serializeCookie(FLOW_COOKIE, value, {
      path: '/',
      maxAge,
      httpOnly: true,
      secure: deps.secureCookies,
      sameSite: 'Lax',
    });
  /** Browser flows: failures go back to the console's sign-in page, which explains the code. */
  const fail = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    void reply.header('set-cookie', flowCookie('', 0));
    if (!wantsHtml(req) || !(err instanceof AppError)) throw err;
    const code = (err as AppError).code;
    return reply
      .header('cache-control', 'no-store')
      .redirect(`${consoleBase}/sign-in?error=${encodeURIComponent(code)}`, 303);
  };

  app.get(
    '/v1/auth/social/providers',
    {
      config: {
        auth: { kind: 'public', reason: 'the sign-in page lists the providers before anyone signs in' },
      },
      schema: {
        operationId: 'listSocialProviders',
        tags: ['auth'],
        description: 'The social sign-in providers this deployment offers (SOCIAL_PROVIDERS).',
        response: { 200: Type.Object({ data: Type.Array(ProviderView) }) },
      },
    },
    async () => ({
      data: social.listProviders().map((p) => ({
        ...p,
        startUrl: `/v1/auth/social/${p.id}/start`,
      })),
    }),
  );

  app.get(
    '/v1/auth/social/:provider/start',
    {
      config: { auth: { kind: 'public', reason: 'social sign-in starts before anyone is signed in' } },
      schema: {
        operationId: 'startSocialSignIn',
        tags: ['auth'],
        description:
          'Redirects to the provider (authorization code with PKCE S256, state, and a nonce for OpenID ' +
          'Connect) and sets a short-lived cookie binding the sign-in to this browser. `returnTo` is a path ' +
          'on this site (anything else returns to `/`).',
        params: Type.Object({ provider: Provider }),
        querystring: Type.Object({ returnTo: OptionalText(1000) }),
        response: { 302: Type.Null(), 303: Type.Null(), 429: ErrorResponse, 503: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      try {
        const { url, browserToken } = await social.start({
          provider: req.params.provider,
          returnTo: req.query.returnTo,
          ip: req.ip,
        });
        return reply
          .header('set-cookie', flowCookie(browserToken, Math.floor(FLOW_TTL_MS / 1000)))
          .header('cache-control', 'no-store')
          .redirect(url, 302);
      } catch (err) {
        return fail(req, reply, err);
      }
    },
  );

  app.get(
    '/v1/auth/social/:provider/callback',
    {
      config: { auth: { kind: 'public', reason: 'the provider redirects here to complete a sign-in' } },
      schema: {
        operationId: 'socialSignInCallback',
        tags: ['auth'],
        description:
          'Completes a sign-in the same browser started: sets the session cookie (as login does) and ' +
          'redirects to `returnTo`, or to the second-factor step when the account has one. Failures ' +
          'redirect to `/sign-in?error=<code>` (JSON errors for non-browser callers).',
        params: Type.Object({ provider: Provider }),
        querystring: Type.Object({
          code: OptionalText(4096),
          state: OptionalText(200),
          iss: OptionalText(2048),
          error: OptionalText(200),
          error_description: OptionalText(2048),
        }),
        response: { 302: Type.Null(), 303: Type.Null(), 429: ErrorResponse, 503: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      void reply.header('cache-control', 'no-store');
      try {
        const q = req.url.indexOf('?');
        const callbackUrl = new URL(callbackUrlOf(publicUrl, req.params.provider));
        callbackUrl.search = q === -1 ? '' : req.url.slice(q);
        const r = await social.callback({
          provider: req.params.provider,
          callbackUrl,
          browserToken: parseCookies(req.headers.cookie).get(FLOW_COOKIE) ?? null,
          meta: {
            ip: req.ip,
            userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
          },
          presentedToken: sessions.tokenFromCookieHeader(req.headers.cookie),
        });
        void reply.header('set-cookie', [flowCookie('', 0), sessions.cookie(r.token, r.session)]);
        if (r.twoFactorRequired) {
          const next =
            consoleBase && r.returnTo.startsWith(`${consoleBase}/`)
              ? r.returnTo.slice(consoleBase.length)
              : r.returnTo;
          return reply.redirect(
            `${consoleBase}/sign-in?step=second-factor&next=${encodeURIComponent(next)}`,
            303,
          );
        }
        return reply.redirect(r.returnTo, 303);
      } catch (err) {
        return fail(req, reply, err);
      }
    },
  );

  app.get(
    '/v1/auth/identities',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'listLinkedIdentities',
        tags: ['auth'],
        description: 'The provider accounts (Google, GitHub, …) linked to the signed-in user.',
        querystring: PageQuery,
        response: { 200: PageOf(IdentityView), ...errors },
      },
    },
    async (req) => social.listIdentities({ userId: userIdOf(req) }, req.query),
  );

  app.delete(
    '/v1/auth/identities/:id',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'unlinkIdentity',
        tags: ['auth'],
        description:
          'Unlinks a provider account. 409 `SOCIAL_LAST_SIGN_IN_METHOD` when it is the last way to sign in ' +
          '(no password, no other linked account).',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 204: Type.Null(), 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      await social.unlink({ userId: userIdOf(req) }, req.params.id);
      return reply.status(204).send(null);
    },
  );
}
