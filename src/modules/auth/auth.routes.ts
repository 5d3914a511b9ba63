import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { authenticated, userIdOf } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { AuthService } from './auth.service.js';
import { checkCrossSiteRequest } from './csrf.js';
import { PASSWORD_MAX_LENGTH } from './password-policy.js';
import { DISPLAY_NAME_MAX_LENGTH } from './profile.js';
import type { SessionService } from './sessions.service.js';
import { isSignUpBrowser, signUpBrowserCookie } from './signup-browser.js';
import { deviceCookieHeader, deviceCookieOf } from './device-cookie.js';

export interface AuthRoutesDeps {
  readonly auth: AuthService;
  readonly sessions: SessionService;
  /** Ends an access token's refresh family (its holder logs out): the tokens service's `revokeFamily`. */
  readonly revokeTokenFamily: (userId: string, familyId: string) => Promise<void>;
  /** Normalized origins (see `normalizeOrigins`) allowed to post to the auth endpoints from a browser. */
  readonly allowedOrigins: readonly string[];
  /** Whether cookies carry `Secure` (the sign-up and device cookies, as the session cookie). */
  readonly secureCookies: boolean;
  /** PUBLIC_URL: its path (a deployment under a path prefix) is part of the device cookie's path. */
  readonly publicUrl: string;
}

export const User = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.Union([Type.String(), Type.Null()], {
      description: 'The display name the user chose (`updateProfile`); null when unset.',
    }),
    emailVerified: Type.Boolean(),
    twoFactorEnabled: Type.Boolean(),
    isPlatformAdmin: Type.Boolean(),
  },
  { $id: 'AuthUser' },
);
const Email = Type.String({ minLength: 3, maxLength: 320 });
const NewPassword = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 });
const AnyPassword = Type.String({ minLength: 1, maxLength: 1024 });
const Token = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);
const Accepted = Type.Object({ status: Type.Literal('accepted') });
const VerificationSent = Type.Object({ status: Type.Literal('verification_sent') });
/** What a sign-in answers (login, and a verification link followed without a session). */
const SignedIn = {
  twoFactorRequired: Type.Boolean(),
  user: Type.Optional(User),
  currentOrganizationId: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
};
/** What `me` (and a profile change) answers: the user and the session's organization. */
const Me = Type.Object({
  user: User,
  currentOrganizationId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
});
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse };
const publicAuth = (reason: string) => ({ auth: { kind: 'public' as const, reason } });

const meta = (req: FastifyRequest) => ({
  ip: req.ip,
  userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null,
});

/** The signed-in user, their session and (a cookie principal's) raw session token, as `me` takes them. */
const whoAmI = (req: FastifyRequest) => {
  const who = authenticated(req);
  const sessionToken = who.credential?.kind === 'session' ? who.credential.token : undefined;
  return { userId: userIdOf(req), sessionId: who.sessionId, sessionToken };
};

/** `/v1/auth/*`: sign-up, login, logout, me and the profile, email verification, password reset and change. */
export function registerAuthRoutes(app: App, deps: AuthRoutesDeps): void {
  const { auth, sessions, allowedOrigins } = deps;
  const secure = { secure: deps.secureCookies };

  app.post(
    '/v1/auth/register',
    {
      config: publicAuth('sign-up creates the account'),
      schema: {
        operationId: 'register',
        tags: ['auth'],
        body: Type.Object(
          {
            email: Email,
            password: NewPassword,
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        description:
          'Answers 202 `verification_sent` whether the address is new (account, Personal Organization and ' +
          'a verification mail) or already has an account (a mail tells its owner); sets no session: the ' +
          'verification link signs the new user in, in this browser only (an HttpOnly `sr_signup` cookie, ' +
          'sent only to the verification route, binds the link to it). Throttled per client address and per ' +
          'target address.',
        response: { 202: VerificationSent, ...errors },
      },
    },
    async (req, reply) => {
      checkCrossSiteRequest(req, allowedOrigins);
      const r = await auth.signUp(req.body, { ip: req.ip });
      // The same cookie shape either way: a taken address gets a random value (it has no link to bind).
      void reply.header(
        'set-cookie',
        signUpBrowserCookie(r.created ? r.verificationToken : null, {
          ...secure,
          publicUrl: deps.publicUrl,
        }),
      );
      return reply.status(202).send({ status: 'verification_sent' });
    },
  );

  app.post(
    '/v1/auth/login',
    {
      config: publicAuth('login establishes the session'),
      schema: {
        operationId: 'login',
        tags: ['auth'],
        body: Type.Object({ email: Email, password: AnyPassword }, { additionalProperties: false }),
        description:
          'Starts a new session. A complete sign-in (no second factor to prove) also sets (or renews) an ' +
          'HttpOnly `sr_device` cookie, sent only to this route for 180 days; with a second factor to ' +
          'prove, its verification sets it instead. A sign-in from a browser holding one for the account, ' +
          "issued since the account's credentials last changed, is held to that device's failure budget " +
          "instead of the account's (from every address, and from this one); the per-address limit still " +
          "applies. So strangers' wrong guesses do not lock the owner out.",
        response: { 200: Type.Object(SignedIn), ...errors },
      },
    },
    async (req, reply) => {
      checkCrossSiteRequest(req, allowedOrigins);
      const presentedToken = sessions.tokenFromCookieHeader(req.headers.cookie);
      const deviceCookie = deviceCookieOf(req.headers.cookie);
      const r = await auth.login(req.body, { ...meta(req), presentedToken, deviceCookie });
      void reply
        .header('set-cookie', sessions.cookie(r.token, r.session))
        .header('cache-control', 'no-store');
      if (r.deviceCookie) {
        void reply.header(
          'set-cookie',
          deviceCookieHeader(r.deviceCookie, { ...secure, publicUrl: deps.publicUrl }),
        );
      }
      if (r.twoFactorRequired) return { twoFactorRequired: true };
      return { twoFactorRequired: false, user: r.user, currentOrganizationId: r.currentOrganizationId };
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      // A session still waiting for its second factor may be abandoned: signing out needs no code.
      config: { auth: { kind: 'user' }, allowPendingSecondFactor: true },
      schema: {
        operationId: 'logout',
        tags: ['auth'],
        description:
          'Ends the credential presented: a browser session (and the API tokens it minted), or a bearer ' +
          "access token's refresh family (the refresh token and every access token of it stop working at " +
          'once). An API key cannot log out (403 `FORBIDDEN`): revoke it instead.',
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      const userId = userIdOf(req); // an API key has no user to sign out: 403
      const { sessionId, refreshFamilyId } = authenticated(req);
      if (sessionId) await sessions.revoke(sessionId);
      else if (refreshFamilyId) await deps.revokeTokenFamily(userId, refreshFamilyId);
      void reply.header('set-cookie', sessions.clearCookie());
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/auth/me',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'me',
        tags: ['auth'],
        response: { 200: Me, ...errors },
      },
    },
    async (req) => auth.me(whoAmI(req)),
  );

  app.patch(
    '/v1/auth/me',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'updateProfile',
        tags: ['auth'],
        description:
          'Sets the display name (surrounding whitespace trimmed; 1–100 characters, no control ' +
          'characters) or clears it with `null`. Answers like `me`.',
        body: Type.Object(
          {
            name: Type.Union([
              Type.String({ minLength: 1, maxLength: DISPLAY_NAME_MAX_LENGTH }),
              Type.Null(),
            ]),
          },
          { additionalProperties: false },
        ),
        response: { 200: Me, ...errors },
      },
    },
    async (req) => auth.updateProfile(whoAmI(req), req.body),
  );

  app.post(
    '/v1/auth/verify-email',
    {
      config: publicAuth('the emailed token is the credential'),
      schema: {
        operationId: 'verifyEmail',
        tags: ['auth'],
        description:
          'Marks the address verified. The first verification ends every earlier session and token of ' +
          'the account (whoever signed in before the address was proven may not own it) and signs the ' +
          'verifier in afresh (sets the session cookie; answers like login, `signedIn: true`) when the ' +
          'browser is the one that signed up (its `sr_signup` cookie) or holds a session of the same ' +
          'account; any other browser gets the address verified but no session (`signedIn: false`: sign ' +
          'in with the password), so a link someone else sends cannot sign it in to their account. A live ' +
          'session of another account on the request is left alone (`signedIn: false`); a member of an ' +
          'organization requiring SSO is verified but not signed in (`signedIn: false`: the IdP signs them in).',
        body: Token,
        response: { 200: Type.Object({ signedIn: Type.Boolean(), ...SignedIn }), ...errors },
      },
    },
    async (req, reply) => {
      // It may start a session: a foreign page must not sign the browser into someone's account.
      checkCrossSiteRequest(req, allowedOrigins);
      const presented = sessions.tokenFromCookieHeader(req.headers.cookie);
      const live = presented ? await sessions.resolve(presented) : null;
      const fromSignUpBrowser = isSignUpBrowser(req.headers.cookie, req.body.token);
      const r = await auth.verifyEmail(req.body.token, meta(req), live?.user.id ?? null, fromSignUpBrowser);
      void reply.header('cache-control', 'no-store');
      if (!r.signedIn) return { signedIn: false, twoFactorRequired: false };
      void reply.header('set-cookie', sessions.cookie(r.token, r.session));
      if (r.twoFactorRequired) return { signedIn: true, twoFactorRequired: true };
      return {
        signedIn: true,
        twoFactorRequired: false,
        user: r.user,
        currentOrganizationId: r.currentOrganizationId,
      };
    },
  );

  app.post(
    '/v1/auth/verify-email/resend',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'resendVerificationEmail',
        tags: ['auth'],
        response: { 202: Accepted, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      await auth.resendVerification(userIdOf(req), { ip: req.ip });
      return reply.status(202).send({ status: 'accepted' });
    },
  );

  app.post(
    '/v1/auth/password-reset',
    {
      config: publicAuth('a forgotten password cannot sign in'),
      schema: {
        operationId: 'requestPasswordReset',
        tags: ['auth'],
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: Accepted, ...errors },
      },
    },
    async (req, reply) => {
      checkCrossSiteRequest(req, allowedOrigins);
      await auth.requestPasswordReset(req.body.email, { ip: req.ip });
      return reply.status(202).send({ status: 'accepted' });
    },
  );

  app.post(
    '/v1/auth/password-reset/confirm',
    {
      config: publicAuth('the emailed token is the credential'),
      schema: {
        operationId: 'confirmPasswordReset',
        tags: ['auth'],
        body: Type.Object(
          { token: Type.String({ minLength: 1, maxLength: 128 }), password: NewPassword },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      checkCrossSiteRequest(req, allowedOrigins);
      await auth.confirmPasswordReset(req.body.token, req.body.password);
      void reply.header('set-cookie', sessions.clearCookie());
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/auth/password',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'changePassword',
        tags: ['auth'],
        body: Type.Object(
          { currentPassword: AnyPassword, newPassword: NewPassword },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      const who = authenticated(req);
      const r = await auth.changePassword(
        { userId: userIdOf(req), sessionId: who.sessionId, ip: req.ip },
        req.body,
      );
      if (r) {
        void reply
          .header('set-cookie', sessions.cookie(r.token, r.session))
          .header('cache-control', 'no-store');
        // The change voided every device cookie of the account (earned before it); the browser that made
        // it, signed in and having just given the current password, stays a proven device: a new one.
        const device = await auth.issueDeviceCookie(r.session.id);
        if (device) {
          void reply.header(
            'set-cookie',
            deviceCookieHeader(device, { ...secure, publicUrl: deps.publicUrl }),
          );
        }
      }
      return reply.status(204).send(null);
    },
  );
}
