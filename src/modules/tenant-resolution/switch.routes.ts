import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { SESSION_ONLY } from '../../platform/http/openapi.js';
import { authenticated, organizationNotFound, userIdOf } from '../../platform/http/auth.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import type { SessionService } from '../auth/sessions.service.js';

export interface SwitchRouteDeps {
  readonly sessions: SessionService;
  readonly organizationIdBySlug: (slug: string) => Promise<string | null>;
  /** The organization restored at the next sign-in. */
  readonly rememberLastOrganization: (userId: string, orgId: string) => Promise<void>;
}

/**
 * `POST /v1/session/switch`: changes the session's current organization after the membership check and
 * rotates the session token. An organization the user is not an ACTIVE member of answers the same 404 as
 * one that does not exist.
 */
export function registerSwitchRoutes(app: App, deps: SwitchRouteDeps): void {
  app.post(
    '/v1/session/switch',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'switchOrganization',
        security: SESSION_ONLY,
        tags: ['session'],
        body: Type.Object(
          {
            organization: Type.String({
              minLength: 1,
              maxLength: 63,
              description: 'organization id or slug',
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ currentOrganizationId: Type.String() }),
          401: ErrorResponse,
          403: ErrorResponse,
          404: ErrorResponse,
        },
      },
    },
    async (req, reply) => {
      const who = authenticated(req);
      if (!who.sessionId || who.credential?.kind !== 'session')
        throw new HttpError('FORBIDDEN', 'switching organization needs a browser session', 403);
      const userId = userIdOf(req);
      const ref = req.body.organization.trim().toLowerCase();
      const orgId = isTenantId(ref) ? ref : await deps.organizationIdBySlug(ref);
      if (!orgId) throw organizationNotFound();
      const rotated = await deps.sessions.setCurrentOrganization(who.sessionId, orgId, who.credential.token);
      if (!rotated) throw organizationNotFound();
      await deps.rememberLastOrganization(userId, orgId);
      void reply.header('set-cookie', deps.sessions.cookie(rotated.token, rotated.session));
      return { currentOrganizationId: orgId };
    },
  );
}
