import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf, tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import { PlanKey, PlanSchema } from './plan-model.js';
import type { OrganizationPlanService } from './organization-plan.service.js';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const OrganizationPlanSchema = Type.Object({
  plan: PlanSchema,
  seats: Type.Object({
    used: Type.Integer(),
    limit: Type.Union([Type.Integer(), Type.Null()]),
  }),
  available: Type.Array(PlanSchema),
});
const ChangeBody = Type.Object({ plan: PlanKey }, { additionalProperties: false });

/** `/v1/billing/plan` (the organization's plan) and the platform administrators' change of it. */
export function registerOrganizationPlanRoutes(app: App, deps: { plans: OrganizationPlanService }): void {
  const { plans } = deps;

  app.get(
    '/v1/billing/plan',
    {
      config: { auth: { kind: 'tenant', permission: 'billing:read' }, quotaExempt: true },
      schema: {
        operationId: 'getOrganizationPlan',
        tags: ['billing'],
        description:
          "The organization's plan (seat limit, quotas, entitlements, price), its seats in use (active " +
          'members plus unexpired pending invitations) and the public plans it may switch to (the first ' +
          '100 by key).',
        response: { 200: OrganizationPlanSchema, ...errors },
      },
    },
    async (req) => plans.get(tenantCtx(req)),
  );

  app.put(
    '/v1/billing/plan',
    {
      config: { auth: { kind: 'tenant', permission: 'billing:manage' }, quotaExempt: true },
      schema: {
        operationId: 'changeOrganizationPlan',
        tags: ['billing'],
        description:
          'Moves the organization to a public, unarchived plan, at once (built-in billing provider). ' +
          'The current plan again changes nothing. 409 PLAN_NOT_AVAILABLE for an unknown, archived or ' +
          'non-public plan; 409 SEAT_LIMIT_REACHED (`details.limit`) when its seat limit is below the ' +
          'seats in use; 409 PLAN_INTERVAL_CHANGE / PLAN_CURRENCY_CHANGE for a plan billed in another ' +
          'interval or currency (a platform administrator makes that change at the start of a period). ' +
          'Audited `organization.plan_changed`.',
        body: ChangeBody,
        response: { 200: OrganizationPlanSchema, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => plans.change(tenantCtx(req), req.body.plan),
  );

  app.put(
    '/v1/platform/organizations/:id/plan',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformChangeOrganizationPlan',
        tags: ['platform', 'billing'],
        description:
          'Moves an organization to any existing plan (archived, non-public or below its seats in use ' +
          'included: members beyond the limit stay, new invitations are refused). Audited in that ' +
          "organization's chain with the administrator as actor.",
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: ChangeBody,
        response: { 200: OrganizationPlanSchema, ...errors },
      },
    },
    async (req) =>
      plans.changeAsPlatform(
        { actor: authenticated(req).principal, requestId: req.id, sessionToken: platformSessionOf(req) },
        req.params.id,
        req.body.plan,
      ),
  );
}
