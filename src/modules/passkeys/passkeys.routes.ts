import { Type, type Static } from '@fastify/type-provider-typebox';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { SESSION_ONLY } from '../../platform/http/openapi.js';
import { authenticated, userIdOf } from '../../platform/http/auth.js';
import { parseCookies, serializeCookie } from '../../platform/http/cookies.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { User } from '../auth/auth.routes.js';
import { checkCrossSiteRequest } from '../auth/csrf.js';
import type { SessionService } from '../auth/sessions.service.js';
import { emailUnverified, sessionRequired } from './passkeys.errors.js';
import type { Passkey, PasskeysService } from './passkeys.service.js';

/** The cookie binding a passwordless sign-in's challenge to the browser that asked for it. */
export const SIGN_IN_COOKIE = 'sr_passkey';

const B64 = Type.String({ minLength: 1, maxLength: 16384, pattern: '^[A-Za-z0-9_-]+={0,2}$' });
const Extensions = Type.Object({}, { additionalProperties: true });
const RegistrationResponse = Type.Object(
  {
    id: B64,
    rawId: B64,
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: B64,
        attestationObject: B64,
        transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 10 })),
      },
      { additionalProperties: true },
    ),
    clientExtensionResults: Extensions,
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true },
);
const AuthenticationResponse = Type.Object(
  {
    id: B64,
    rawId: B64,
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: B64,
        authenticatorData: B64,
        signature: B64,
        userHandle: Type.Optional(B64),
      },
      { additionalProperties: true },
    ),
    clientExtensionResults: Extensions,
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true },
);
/** WebAuthn options as `@simplewebauthn/browser` takes them (the standard JSON form). */
const CreationOptions = Type.Unsafe<PublicKeyCredentialCreationOptionsJSON>(
  Type.Object({ challenge: Type.String() }, { additionalProperties: true }),
);
const RequestOptions = Type.Unsafe<PublicKeyCredentialRequestOptionsJSON>(
  Type.Object({ challenge: Type.String() }, { additionalProperties: true }),
);
const Name = Type.String({ minLength: 1, maxLength: 100 });
const PasskeyView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    deviceType: Type.Union([Type.Literal('singleDevice'), Type.Literal('multiDevice')]),
    backedUp: Type.Boolean(),
    transports: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Passkey' },
);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const signInErrors = { ...errors, 429: ErrorResponse };
const user = { auth: { kind: 'user' } } as const;
const publicAuth = (reason: string) => ({ auth: { kind: 'public' as const, reason } });
const tags = ['passkeys'];

const view = (p: Passkey): Static<typeof PasskeyView> => ({
  ...p,
  createdAt: p.createdAt.toISOString(),
  lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
});

/** The browser session of a request that manages passkeys or proves a second factor (not an API token). */
function sessionOf(req: FastifyRequest): { userId: string; sessionId: string } {
  const { sessionId } = authenticated(req);
  if (!sessionId) throw sessionRequired();
  return { userId: userIdOf(req), sessionId };
}

/** The session of a request that adds a passkey: its account's address must be verified. */
function registrantOf(req: FastifyRequest): { userId: string; sessionId: string } {
  const who = sessionOf(req);
  if (authenticated(req).emailVerified !== true) throw emailUnverified();
  return who;
}

export interface PasskeysRoutesDeps {
  readonly passkeys: PasskeysService;
  readonly sessions: SessionService;
  readonly allowedOrigins: readonly string[];
  /** `Secure` on the sign-in cookie (as on the session cookie). */
  readonly secureCookies: boolean;
  /**
   * Marks the session as having passed its second factor (rotating its token; sets the new cookie) and,
   * with `provesDevice`, sets the device cookie (`sr_device`) the complete sign-in earns.
   */
  readonly markSessionVerified: (
    sessionId: string,
    reply: FastifyReply,
    opts?: { provesDevice?: boolean },
  ) => Promise<void>;
}

/** `/v1/auth/passkeys/*`: the signed-in user's passkeys, passwordless sign-in, and the second factor. */
export function registerPasskeysRoutes(app: App, deps: PasskeysRoutesDeps): void {
  const { passkeys, sessions, allowedOrigins } = deps;
  const noStore = (reply: FastifyReply) => void reply.header('cache-control', 'no-store');
  const signInCookie = (value: string, maxAge: number) =>
    serializeCookie(SIGN_IN_COOKIE, value, {
      path: '/',
      httpOnly: true,
      secure: deps.secureCookies,
      sameSite: 'Strict',
      maxAge,
    });

  app.post(
    '/v1/auth/passkeys/registration/options',
    {
      config: user,
      schema: {
        operationId: 'passkeyRegistrationOptions',
        security: SESSION_ONLY,
        tags,
        description: 'Options for `navigator.credentials.create`; the challenge is bound to this session.',
        response: { 200: CreationOptions, ...errors },
      },
    },
    async (req, reply) => {
      noStore(reply);
      return passkeys.registrationOptions(registrantOf(req));
    },
  );

  app.post(
    '/v1/auth/passkeys/registration/verify',
    {
      config: user,
      schema: {
        operationId: 'verifyPasskeyRegistration',
        security: SESSION_ONLY,
        tags,
        description:
          'Stores the passkey the authenticator created for the challenge of `passkeyRegistrationOptions`. ' +
          'The challenge is single-use: a retry needs new options.',
        body: Type.Object({ response: RegistrationResponse, name: Name }, { additionalProperties: false }),
        response: { 201: PasskeyView, ...errors, 409: ErrorResponse },
      },
    },
    async (req, reply) => {
      const created = await passkeys.verifyRegistration(registrantOf(req), {
        response: req.body.response as unknown as RegistrationResponseJSON,
        name: req.body.name,
      });
      return reply.status(201).send(view(created));
    },
  );

  app.get(
    '/v1/auth/passkeys',
    {
      config: user,
      schema: {
        operationId: 'listPasskeys',
        tags,
        querystring: PageQuery,
        response: { 200: PageOf(PasskeyView), ...errors },
      },
    },
    async (req) => {
      const page = await passkeys.list(userIdOf(req), req.query);
      return { data: page.data.map(view), nextCursor: page.nextCursor };
    },
  );

  app.patch(
    '/v1/auth/passkeys/:id',
    {
      config: user,
      schema: {
        operationId: 'renamePasskey',
        tags,
        params: IdParams,
        body: Type.Object({ name: Name }, { additionalProperties: false }),
        response: { 200: PasskeyView, ...errors },
      },
    },
    async (req) => view(await passkeys.rename(userIdOf(req), req.params.id, req.body.name)),
  );

  app.delete(
    '/v1/auth/passkeys/:id',
    {
      config: user,
      schema: {
        operationId: 'removePasskey',
        security: SESSION_ONLY,
        tags,
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await passkeys.remove(sessionOf(req).userId, req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/auth/passkeys/sign-in/options',
    {
      config: publicAuth('a passwordless sign-in starts before anyone is known'),
      schema: {
        operationId: 'passkeySignInOptions',
        tags,
        description:
          'Options for `navigator.credentials.get` (any discoverable passkey; user verification required). ' +
          `Sets \`${SIGN_IN_COOKIE}\` (HttpOnly, SameSite=Strict, 5 minutes), binding the challenge to this browser.`,
        response: { 200: RequestOptions, ...signInErrors },
      },
    },
    async (req, reply) => {
      checkCrossSiteRequest(req, allowedOrigins);
      const { options, handle } = await passkeys.signInOptions(req.ip);
      void reply.header('set-cookie', signInCookie(handle, 300));
      noStore(reply);
      return options;
    },
  );

  app.post(
    '/v1/auth/passkeys/sign-in/verify',
    {
      config: publicAuth('a passkey assertion establishes the session'),
      schema: {
        operationId: 'verifyPasskeySignIn',
        tags,
        description: 'Signs in with a passkey (both factors): a new session, exactly as `login` starts one.',
        body: Type.Object({ response: AuthenticationResponse }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            twoFactorRequired: Type.Literal(false),
            user: User,
            currentOrganizationId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
          }),
          ...signInErrors,
        },
      },
    },
    async (req, reply) => {
      checkCrossSiteRequest(req, allowedOrigins);
      const handle = parseCookies(req.headers.cookie).get(SIGN_IN_COOKIE) ?? null;
      // The challenge is used up whatever the outcome: the cookie goes with it.
      void reply.header('set-cookie', signInCookie('', 0));
      const r = await passkeys.verifySignIn(
        handle,
        req.body.response as unknown as AuthenticationResponseJSON,
        {
          ip: req.ip,
          userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
          presentedToken: sessions.tokenFromCookieHeader(req.headers.cookie),
        },
      );
      void reply.header('set-cookie', sessions.cookie(r.token, r.session));
      noStore(reply);
      return {
        twoFactorRequired: false as const,
        user: r.user,
        currentOrganizationId: r.currentOrganizationId,
      };
    },
  );

  app.post(
    '/v1/auth/passkeys/second-factor/options',
    {
      config: { ...user, allowPendingSecondFactor: true },
      schema: {
        operationId: 'passkeySecondFactorOptions',
        security: SESSION_ONLY,
        tags,
        description:
          "Options for the second factor by passkey: the user's own passkeys; bound to this session.",
        response: { 200: RequestOptions, ...errors },
      },
    },
    async (req, reply) => {
      noStore(reply);
      return passkeys.secondFactorOptions(sessionOf(req));
    },
  );

  app.post(
    '/v1/auth/passkeys/second-factor/verify',
    {
      config: { ...user, allowPendingSecondFactor: true },
      schema: {
        operationId: 'verifyPasskeySecondFactor',
        security: SESSION_ONLY,
        tags,
        description:
          'Proves the second factor of the session with a passkey: its token is rotated, and the now ' +
          'complete sign-in sets the `sr_device` cookie (see `login`).',
        body: Type.Object({ response: AuthenticationResponse }, { additionalProperties: false }),
        response: { 200: Type.Object({ method: Type.Literal('passkey') }), ...signInErrors },
      },
    },
    async (req, reply) => {
      const who = sessionOf(req);
      await passkeys.verifySecondFactor(who, req.body.response as unknown as AuthenticationResponseJSON);
      await deps.markSessionVerified(who.sessionId, reply, { provesDevice: true });
      return { method: 'passkey' as const };
    },
  );
}
