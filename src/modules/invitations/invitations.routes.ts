import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import { SESSION_ONLY, USERS_ONLY } from '../../platform/http/openapi.js';
import { authenticated, tenantCtx, userIdOf } from '../../platform/http/auth.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { InvitationsService } from './invitations.service.js';

const Invitation = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: Type.String(),
  status: Type.String(),
  expiresAt: Type.String(),
  createdAt: Type.String(),
});
const Accepted = Type.Object({ organizationId: Type.String(), role: Type.String() });
const Preview = Type.Object({
  organizationName: Type.String(),
  email: Type.String(),
  role: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('expired'),
    Type.Literal('accepted'),
    Type.Literal('revoked'),
  ]),
});
const Token = Type.String({ minLength: 20, maxLength: 200 });
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
};

export interface InvitationsRouteDeps {
  readonly invitations: InvitationsService;
  /** 403 EMAIL_NOT_VERIFIED for a user who has not verified their address (REQUIRE_VERIFIED_EMAIL). */
  readonly verifiedEmail: (request: FastifyRequest) => void;
  /**
   * The sign-in routes' cross-site check (403 CSRF_ORIGIN_MISMATCH for a browser request from a foreign
   * origin): register-and-accept sets a session cookie, so a foreign page must not be able to post it.
   */
  readonly checkCrossSite: (request: FastifyRequest) => void;
  /** Counts an account creation against the client address; throws 429 when its budget is used up. */
  readonly limitAccountCreation: (request: FastifyRequest) => void;
  /** Creates the account for register-and-accept inside the invitation's transaction; returns the user id. */
  readonly createUser: (db: TenantDb, email: string, password: string) => Promise<string>;
  /** Starts a browser session for a just-registered user in that organization (sets the cookie). */
  readonly startSession: (
    req: FastifyRequest,
    reply: FastifyReply,
    userId: string,
    orgId: string,
  ) => Promise<void>;
}

/** `/v1/invitations`: invite, list, revoke, resend, accept, register-and-accept. */
export function registerInvitationsRoutes(app: App, deps: InvitationsRouteDeps): void {
  const { invitations } = deps;
  app.post(
    '/v1/invitations',
    {
      config: { auth: { kind: 'tenant', permission: 'members:invite' } },
      schema: {
        operationId: 'createInvitation',
        security: USERS_ONLY,
        tags: ['invitations'],
        body: Type.Object(
          {
            email: Type.String({ format: 'email', maxLength: 254 }),
            role: Type.String({ minLength: 1, maxLength: 40 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Invitation, 429: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      deps.verifiedEmail(req);
      return reply.status(201).send(await invitations.invite(tenantCtx(req), req.body));
    },
  );
  app.get(
    '/v1/invitations',
    {
      config: { auth: { kind: 'tenant', permission: 'members:invite' } },
      schema: {
        operationId: 'listInvitations',
        security: USERS_ONLY,
        tags: ['invitations'],
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            data: Type.Array(Invitation),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (req) => invitations.listPending(tenantCtx(req), req.query),
  );
  app.delete(
    '/v1/invitations/:id',
    {
      config: { auth: { kind: 'tenant', permission: 'members:invite' } },
      schema: {
        operationId: 'revokeInvitation',
        security: USERS_ONLY,
        tags: ['invitations'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await invitations.revoke(tenantCtx(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
  app.post(
    '/v1/invitations/:id/resend',
    {
      config: { auth: { kind: 'tenant', permission: 'members:invite' } },
      schema: {
        operationId: 'resendInvitation',
        security: USERS_ONLY,
        tags: ['invitations'],
        description:
          'A new link and a new mail, for a role the caller could invite with (403 ' +
          "`INVITATION_ROLE_NOT_ALLOWED` otherwise). Counts toward the organization's hourly invitation allowance, and " +
          'at most 3 invitation mails per address per hour (429 with Retry-After beyond either).',
        params: IdParams,
        response: { 200: Invitation, 429: ErrorResponse, ...errors },
      },
    },
    async (req) => {
      deps.verifiedEmail(req);
      return invitations.resend(tenantCtx(req), req.params.id);
    },
  );
  app.get(
    '/v1/invitations/lookup',
    {
      config: {
        auth: {
          kind: 'public',
          reason: 'an invitation link is read before sign-in: the token is the credential',
        },
      },
      schema: {
        operationId: 'lookupInvitation',
        tags: ['invitations'],
        description:
          'What an invitation link is for, before accepting it: the organization, the invited address ' +
          '(the only one that can accept), the role, the expiry and the status (`expired`: pending but past ' +
          'its expiry). An unknown or replaced token is 404; those count against the client address ' +
          '(20 per 15 minutes, then 429 with Retry-After).',
        querystring: Type.Object({ token: Token }, { additionalProperties: false }),
        response: { 200: Preview, 429: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      void reply.header('cache-control', 'no-store');
      return invitations.lookup(req.query.token, req.ip);
    },
  );
  app.post(
    '/v1/invitations/accept',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'acceptInvitation',
        security: SESSION_ONLY,
        tags: ['invitations'],
        body: Type.Object({ token: Token }, { additionalProperties: false }),
        response: { 200: Accepted, 410: ErrorResponse, ...errors },
      },
    },
    async (req) => {
      // An organization-scoped API token must not join its user to other organizations.
      if (!authenticated(req).sessionId) {
        throw new HttpError('FORBIDDEN', 'accepting an invitation needs a signed-in browser session', 403);
      }
      return invitations.accept(userIdOf(req), req.body.token);
    },
  );
  app.post(
    '/v1/invitations/accept-new',
    {
      config: {
        auth: { kind: 'public', reason: 'register-and-accept: the invitation token is the credential' },
      },
      schema: {
        operationId: 'acceptInvitationAsNewUser',
        tags: ['invitations'],
        body: Type.Object(
          { token: Token, password: Type.String({ minLength: 1, maxLength: 256 }) },
          { additionalProperties: false },
        ),
        response: { 201: Accepted, 410: ErrorResponse, 429: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      deps.checkCrossSite(req);
      deps.limitAccountCreation(req);
      const { password, token } = req.body;
      const result = await invitations.acceptAsNewUser(token, (db, email) =>
        deps.createUser(db, email, password),
      );
      await deps.startSession(req, reply, result.userId, result.organizationId);
      return reply.status(201).send({ organizationId: result.organizationId, role: result.role });
    },
  );
}
