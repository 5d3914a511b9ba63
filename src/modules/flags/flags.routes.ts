import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { FlagsService } from './flags.service.js';
import { FlagOverrideSchema, FlagsAnswerSchema, OverridableFlagSchema } from './flag-schemas.js';

const KeyParams = Type.Object({ key: Type.String({ maxLength: 200 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/** `/v1/flags`: every flag evaluated for the caller, and the organization's overrides. */
export function registerFlagsRoutes(app: App, deps: { flags: FlagsService }): void {
  const { flags } = deps;

  app.get(
    '/v1/flags',
    {
      // Every built-in role holds org:read: any member may read the flags that shape their UI.
      config: { auth: { kind: 'tenant', permission: 'org:read' } },
      schema: {
        operationId: 'evaluateFlags',
        tags: ['flags'],
        response: { 200: FlagsAnswerSchema, ...errors },
      },
    },
    async (req) => flags.evaluate(tenantCtx(req)),
  );

  app.get(
    '/v1/flags/overridable',
    {
      config: { auth: { kind: 'tenant', permission: 'flags:manage' } },
      schema: {
        operationId: 'listOverridableFlags',
        tags: ['flags'],
        description:
          'The flags this organization may override (kind, description and, for a multivariate flag, the ' +
          'variants an override may take), plus any flag it still has an override of, with that override.',
        querystring: PageQuery,
        response: { 200: PageOf(OverridableFlagSchema), ...errors },
      },
    },
    async (req) => flags.listOverridable(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/flags/overrides',
    {
      config: { auth: { kind: 'tenant', permission: 'flags:manage' } },
      schema: {
        operationId: 'listFlagOverrides',
        tags: ['flags'],
        querystring: PageQuery,
        response: { 200: PageOf(FlagOverrideSchema), ...errors },
      },
    },
    async (req) => flags.listOverrides(tenantCtx(req), req.query),
  );

  app.put(
    '/v1/flags/:key/override',
    {
      config: { auth: { kind: 'tenant', permission: 'flags:manage' } },
      schema: {
        operationId: 'setFlagOverride',
        tags: ['flags'],
        params: KeyParams,
        body: Type.Object({ value: Type.Unknown() }, { additionalProperties: false }),
        response: { 200: FlagOverrideSchema, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => flags.setOverride(tenantCtx(req), req.params.key, req.body.value),
  );

  app.delete(
    '/v1/flags/:key/override',
    {
      config: { auth: { kind: 'tenant', permission: 'flags:manage' } },
      schema: {
        operationId: 'removeFlagOverride',
        tags: ['flags'],
        params: KeyParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await flags.removeOverride(tenantCtx(req), req.params.key);
      return reply.status(204).send(null);
    },
  );
}
