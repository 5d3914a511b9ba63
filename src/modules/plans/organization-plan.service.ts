import type { PlatformActor } from '../../platform/audit/platform-record.js';
import { recordAudit } from '../../platform/audit/record.js';
import { uuidv7 } from '../../platform/ids.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { PLAN_KEY_RE, type Plan } from './plan-model.js';
import { organizationNotFound, planNotFound, PlansError, seatLimitReached } from './plans.errors.js';
import * as catalog from './plan-catalog.repository.js';
import * as repo from './organization-plan.repository.js';
import { seatUsage } from './seats.js';
import type { PlanPrice } from '../billing/price-model.js';

/** Most plans `GET /v1/billing/plan` lists as available (by key). */
export const MAX_AVAILABLE_PLANS = 100;

/** An organization's plan, as its owners and admins see it. */
export interface OrganizationPlan {
  plan: Plan;
  seats: { used: number; limit: number | null };
  /** The public, unarchived plans an owner may switch to (the first {@link MAX_AVAILABLE_PLANS} by key). */
  available: Plan[];
}

/**
 * Who changes a plan: `owner` (an organization owner through `PUT /v1/billing/plan`: only public,
 * unarchived plans whose seat limit covers the seats in use), `platform` (a platform administrator: any
 * existing plan, archived, non-public or smaller than the seats in use included), `provider` (a billing
 * provider's event, e.g. a Stripe subscription change: like `platform`).
 */
export type PlanChangeVia = 'owner' | 'platform' | 'provider';

const notAvailable = (key: string) =>
  new PlansError('PLAN_NOT_AVAILABLE', `the plan "${key}" is not available to choose`);

/**
 * An owner may not move to a plan billed in another interval or currency: every plan in effect within a
 * billing period must share both (docs/billing.md, "Periods"), and an owner's change takes effect at once,
 * mid-period. 409 PLAN_INTERVAL_CHANGE / PLAN_CURRENCY_CHANGE; a platform administrator makes such a change
 * on the first day (UTC) of the organization's next period (docs/plans.md).
 */
async function refuseBillingTermsChange(db: TenantDb, from: string, next: PlanPrice, to: string) {
  const current = (await catalog.findPlanRow(db, from))?.price as PlanPrice | undefined;
  if (!current) return; // the current plan is gone from the catalog: nothing to compare (the close reports it)
  if (current.interval !== next.interval) {
    throw new PlansError(
      'PLAN_INTERVAL_CHANGE',
      `"${to}" is billed per ${next.interval} and the current plan per ${current.interval}: a change of ` +
        'billing interval takes effect at the start of a period and is made by a platform administrator',
      { from: current.interval, to: next.interval },
    );
  }
  if (current.currency !== next.currency) {
    throw new PlansError(
      'PLAN_CURRENCY_CHANGE',
      `"${to}" is billed in ${next.currency} and the current plan in ${current.currency}: a change of ` +
        'currency takes effect at the start of a period and is made by a platform administrator',
      { from: current.currency, to: next.currency },
    );
  }
}

/**
 * Moves the organization `ctx.tenantId` to plan `to`, in the caller's transaction of that organization:
 * under the organization lock, checks what `via` demands, then writes the plan, a row of its plan history
 * and `organization.plan_changed` (before/after, `via`) in its audit chain. The same plan again is a no-op
 * (`changed` false: nothing written). The caller drops the organization's cached plan after the commit.
 */
export async function applyPlanChange(
  db: TenantDb,
  ctx: TenantCtx,
  to: string,
  via: PlanChangeVia,
): Promise<{ changed: boolean; from: string }> {
  const orgId = ctx.tenantId;
  const from = await repo.lockedPlanOf(db, orgId);
  if (from === undefined) throw organizationNotFound();
  if (from === to) return { changed: false, from };
  const plan = PLAN_KEY_RE.test(to) ? await catalog.findPlanRow(db, to) : undefined;
  if (via === 'owner') {
    if (!plan || !plan.public || plan.archived_at) throw notAvailable(to);
    await refuseBillingTermsChange(db, from, plan.price as PlanPrice, to);
    const seats = await seatUsage(db, orgId);
    if (plan.seat_limit !== null && seats.used > plan.seat_limit) {
      throw seatLimitReached(
        plan.seat_limit,
        seats.used,
        `remove members or revoke invitations before moving to "${to}"`,
      );
    }
  } else if (!plan) {
    throw planNotFound();
  }
  await repo.setPlan(db, orgId, to);
  const userId =
    ctx.actor.kind === 'user' ? ctx.actor.userId : ctx.actor.kind === 'api_key' ? ctx.actor.userId : null;
  await repo.insertPlanChange(db, {
    organization_id: orgId,
    id: uuidv7(),
    from_plan: from,
    to_plan: to,
    changed_by_user_id: userId ?? null,
    via,
  });
  await recordAudit(db, ctx, {
    action: 'organization.plan_changed',
    target: { type: 'organization', id: orgId },
    changes: { before: { plan: from }, after: { plan: to } },
    metadata: { via },
  });
  return { changed: true, from };
}

export interface OrganizationPlanService {
  /** The organization's plan, seats used and limit, and the plans available to choose. */
  get(ctx: TenantCtx): Promise<OrganizationPlan>;
  /** An owner's change (`billing:manage`): see {@link applyPlanChange}, `via` owner. Immediate, so only
   *  to a plan of the same billing interval and currency (409 PLAN_INTERVAL_CHANGE / PLAN_CURRENCY_CHANGE). */
  change(ctx: TenantCtx, plan: string): Promise<OrganizationPlan>;
  /** A platform administrator's change of any organization (`via` platform; audited in that
   *  organization's chain with the administrator as actor). PLAN_NOT_FOUND for an unknown plan or
   *  organization. */
  changeAsPlatform(by: PlatformActor, orgId: string, plan: string): Promise<OrganizationPlan>;
}

/** Organizations' plans. `planChanged` runs after a change committed (drops cached plan data everywhere). */
export function createOrganizationPlanService(deps: {
  withTenant: WithTenant;
  planChanged: (orgId: string) => void;
}): OrganizationPlanService {
  const { withTenant } = deps;

  async function view(db: TenantDb, orgId: string): Promise<OrganizationPlan> {
    const key = await repo.planOf(db, orgId);
    const row = key === undefined ? undefined : await catalog.findPlanRow(db, key);
    if (!row) throw organizationNotFound();
    const seats = await seatUsage(db, orgId);
    const available = await catalog.listPlanRows(db, {
      limit: MAX_AVAILABLE_PLANS,
      archived: false,
      hidden: false,
    });
    return {
      plan: catalog.toPlan(row),
      seats: { used: seats.used, limit: seats.limit },
      available: available.map(catalog.toPlan),
    };
  }

  async function change(ctx: TenantCtx, plan: string, via: PlanChangeVia): Promise<OrganizationPlan> {
    const { result, changed } = await withTenant(ctx.tenantId, async (db) => {
      const { changed } = await applyPlanChange(db, ctx, plan, via);
      return { result: await view(db, ctx.tenantId), changed };
    });
    if (changed) deps.planChanged(ctx.tenantId);
    return result;
  }

  return {
    get: (ctx) => withTenant(ctx.tenantId, (db) => view(db, ctx.tenantId), { mode: 'read' }),
    change: (ctx, plan) => change(ctx, plan, 'owner'),
    async changeAsPlatform(by, orgId, plan) {
      if (!isTenantId(orgId)) throw organizationNotFound();
      return change({ tenantId: orgId, actor: by.actor, requestId: by.requestId }, plan, 'platform');
    },
  };
}
