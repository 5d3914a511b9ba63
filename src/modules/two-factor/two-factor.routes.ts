import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { SESSION_ONLY, USERS_ONLY } from '../../platform/http/openapi.js';
import { authenticated, tenantCtx, userIdOf } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { TwoFactorService } from './two-factor.service.js';
import type { TwoFactorPolicyService } from './two-factor.policy.js';
import { TwoFactorError } from './two-factor.errors.js';

/** A TOTP code (6 digits) or a recovery code (`xxxx-xxxx-xxxx`), spaces and dashes allowed. */
const Code = Type.String({ minLength: 6, maxLength: 32, pattern: '^[0-9A-Za-z -]+$' });
const CodeBody = Type.Object({ code: Code }, { additionalProperties: false });
const RecoveryCodes = Type.Object(
  { recoveryCodes: Type.Array(Type.String()) },
  { $id: 'TwoFactorRecoveryCodes' },
);
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse };
const codeErrors = { ...errors, 429: ErrorResponse };
const user = { auth: { kind: 'user' } } as const;
const tags = ['two-factor'];

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route accepts a session that has not passed its second factor yet. Only the verification route
     * sets it; the authenticator refuses such sessions everywhere else.
     */
    allowPendingSecondFactor?: boolean;
  }
}

/** True when the matched route accepts a session still waiting for its second factor (for authenticators). */
export function acceptsPendingSecondFactor(request: FastifyRequest): boolean {
  return request.routeOptions.config.allowPendingSecondFactor === true;
}

/**
 * The session of a request that changes the account's second factor. An API access token is refused: a
 * leaked 10-minute token must not be able to enrol the thief's authenticator app on the account (which
 * would lock its owner out of sign-in).
 */
function requireSession(req: FastifyRequest, action: string): string {
  const { sessionId } = authenticated(req);
  if (!sessionId)
    throw new TwoFactorError('TWO_FACTOR_SESSION_REQUIRED', `${action} needs a signed-in session`);
  return sessionId;
}

/** Responses carrying secrets or recovery codes must not be stored by any cache. */
const noStore = (reply: FastifyReply) => void reply.header('cache-control', 'no-store');

export interface TwoFactorRoutesDeps {
  readonly twoFactor: TwoFactorService;
  readonly policy: TwoFactorPolicyService;
  /**
   * Marks the session as having passed its second factor (implemented by the sessions module). A session
   * service that rotates the token on this privilege change sets the new cookie on `reply`. With
   * `provesDevice` (a pending sign-in just proved its second factor, or the signed-in user confirmed an
   * enrollment) it also sets the device cookie (`sr_device`), which a password alone never earns.
   */
  readonly markSessionVerified: (
    sessionId: string,
    reply: FastifyReply,
    opts?: { provesDevice?: boolean },
  ) => Promise<void>;
}

/** `/v1/auth/two-factor/*` (the signed-in user's own second factor) and the organization policy. */
export function registerTwoFactorRoutes(app: App, deps: TwoFactorRoutesDeps): void {
  const { twoFactor, policy, markSessionVerified } = deps;

  app.post(
    '/v1/auth/two-factor/enroll',
    {
      config: user,
      schema: {
        operationId: 'beginTwoFactorEnrollment',
        security: SESSION_ONLY,
        tags,
        response: {
          200: Type.Object({ secret: Type.String(), otpauthUri: Type.String(), qrSvg: Type.String() }),
          ...errors,
        },
      },
    },
    async (req, reply) => {
      requireSession(req, 'two-factor enrollment');
      const enrollment = await twoFactor.beginEnrollment(userIdOf(req));
      noStore(reply);
      return enrollment;
    },
  );

  app.post(
    '/v1/auth/two-factor/enroll/confirm',
    {
      config: user,
      schema: {
        operationId: 'confirmTwoFactorEnrollment',
        security: SESSION_ONLY,
        tags,
        body: CodeBody,
        response: { 200: RecoveryCodes, ...codeErrors },
      },
    },
    async (req, reply) => {
      const sessionId = requireSession(req, 'two-factor enrollment');
      const result = await twoFactor.confirmEnrollment(userIdOf(req), req.body.code);
      // The code just proved the second factor: the session that enrolled stays usable, and its browser
      // a proven device (turning two-factor on voided every device cookie of the account).
      await markSessionVerified(sessionId, reply, { provesDevice: true });
      noStore(reply);
      return result;
    },
  );

  app.post(
    '/v1/auth/two-factor/verify',
    {
      config: { ...user, allowPendingSecondFactor: true },
      schema: {
        operationId: 'verifyTwoFactor',
        security: SESSION_ONLY,
        tags,
        description:
          'Proves the second factor of the session (a TOTP or recovery code): its token is rotated, and ' +
          'the now complete sign-in sets the `sr_device` cookie (see `login`).',
        body: CodeBody,
        response: {
          200: Type.Object({
            method: Type.Union([Type.Literal('totp'), Type.Literal('recovery_code')]),
            recoveryCodesRemaining: Type.Integer({ minimum: 0 }),
          }),
          ...codeErrors,
        },
      },
    },
    async (req, reply) => {
      const userId = userIdOf(req);
      const { sessionId } = authenticated(req);
      // Checked before the code is consumed: a credential without a session has nothing to mark.
      if (!sessionId) {
        throw new TwoFactorError('TWO_FACTOR_SESSION_REQUIRED', 'verification needs a signed-in session');
      }
      const result = await twoFactor.verify(userId, req.body.code);
      await markSessionVerified(sessionId, reply, { provesDevice: true });
      return result;
    },
  );

  app.post(
    '/v1/auth/two-factor/disable',
    {
      config: user,
      schema: {
        operationId: 'disableTwoFactor',
        tags,
        body: CodeBody,
        response: { 204: Type.Null(), ...codeErrors },
      },
    },
    async (req, reply) => {
      // Every other session and every API token of the user end with it.
      await twoFactor.disable(userIdOf(req), req.body.code, { keepSessionId: authenticated(req).sessionId });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/auth/two-factor/recovery-codes',
    {
      config: user,
      schema: {
        operationId: 'regenerateTwoFactorRecoveryCodes',
        tags,
        body: CodeBody,
        response: { 200: RecoveryCodes, ...codeErrors },
      },
    },
    async (req, reply) => {
      const result = await twoFactor.regenerateRecoveryCodes(userIdOf(req), req.body.code);
      noStore(reply);
      return result;
    },
  );

  app.put(
    '/v1/organization/two-factor-policy',
    {
      config: { auth: { kind: 'tenant', permission: 'org:update' } },
      schema: {
        operationId: 'setTwoFactorPolicy',
        security: USERS_ONLY,
        tags,
        body: Type.Object({ required: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: Type.Object({ required: Type.Boolean() }), ...errors, 404: ErrorResponse },
      },
    },
    async (req) => policy.setRequirement(tenantCtx(req), userIdOf(req), req.body.required),
  );
}
