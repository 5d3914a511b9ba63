import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { recordAudit } from '../../platform/audit/record.js';
import * as repo from './two-factor.repository.js';
import { enrollmentRequired, twoFactorRequired } from './two-factor.errors.js';

/** What tenant resolution does about two-factor authentication for one request. */
export type TwoFactorGateResult = 'ok' | 'enroll_required' | 'verify_required';

/**
 * The two-factor rule, as a pure function of three facts:
 * - a user who enabled two-factor authentication must have verified it in this session, whatever the
 *   organization requires (`verify_required` → 401 TWO_FACTOR_REQUIRED);
 * - an organization that requires it admits only enrolled members (`enroll_required` → 403
 *   TWO_FACTOR_ENROLLMENT_REQUIRED: enrol first, then verify);
 * - otherwise `ok`.
 */
export function twoFactorGate(input: {
  orgRequires: boolean;
  userEnabled: boolean;
  sessionVerified: boolean;
}): TwoFactorGateResult {
  if (input.userEnabled) return input.sessionVerified ? 'ok' : 'verify_required';
  return input.orgRequires ? 'enroll_required' : 'ok';
}

/** {@link twoFactorGate}, throwing its error instead of returning anything but `ok`. */
export function enforceTwoFactorGate(input: Parameters<typeof twoFactorGate>[0]): void {
  const result = twoFactorGate(input);
  if (result === 'enroll_required') throw enrollmentRequired();
  if (result === 'verify_required') throw twoFactorRequired();
}

export interface TwoFactorPolicyService {
  /** True when the organization requires its members to use two-factor authentication (false if unknown). */
  requiresTwoFactor(orgId: string): Promise<boolean>;
  /**
   * Sets whether the organization (ctx's tenant) requires two-factor authentication. Requiring it is
   * refused unless the acting user has it enabled, so nobody locks themselves out. Audited
   * `organization.two_factor_requirement_changed` with the value before and after.
   * @throws TWO_FACTOR_ENROLLMENT_REQUIRED (403)
   */
  setRequirement(ctx: TenantCtx, actingUserId: string, required: boolean): Promise<{ required: boolean }>;
}

/** The organization side of two-factor authentication. */
export function createTwoFactorPolicyService(deps: {
  withTenant: WithTenant;
  isEnabled: (userId: string) => Promise<boolean>;
  /** Called after the requirement was written (e.g. to drop a cached organization policy). */
  onRequirementChanged?: (orgId: string) => void;
}): TwoFactorPolicyService {
  const { withTenant } = deps;
  return {
    async requiresTwoFactor(orgId) {
      if (!isTenantId(orgId)) return false;
      const required = await withTenant(orgId, (db) => repo.findOrganizationRequirement(db, orgId), {
        mode: 'read',
      });
      return required ?? false;
    },

    async setRequirement(ctx, actingUserId, required) {
      if (required && !(await deps.isEnabled(actingUserId))) throw enrollmentRequired();
      const stored = await withTenant(ctx.tenantId, async (db) => {
        const before = await repo.findOrganizationRequirement(db, ctx.tenantId, { forUpdate: true });
        const after = await repo.setOrganizationRequirement(db, ctx.tenantId, required);
        await recordAudit(db, ctx, {
          action: 'organization.two_factor_requirement_changed',
          target: { type: 'organization', id: ctx.tenantId },
          changes: { before: { require_two_factor: before ?? null }, after: { require_two_factor: after } },
        });
        return after;
      });
      deps.onRequirementChanged?.(ctx.tenantId);
      return { required: stored };
    },
  };
}
