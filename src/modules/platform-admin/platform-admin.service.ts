import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { isTenantId, userActingIn } from '../../platform/tenancy/context.js';
import { decodeCursor, encodeCursor, type Page } from '../../platform/pagination.js';
import type { PlatformOrganizationRow, PlatformPlacement } from '../../platform/tenancy/privileged.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { PlatformActor } from '../../platform/audit/platform-record.js';
import { ATTRIBUTE_NAME_RE, PLAN_RE } from '../flags/flag-model.js';
import { PlatformError } from './platform-admin.errors.js';
import { applyPlanChange } from '../plans/organization-plan.service.js';
import { PlansError } from '../plans/plans.errors.js';
import { followAdministratorSuspension } from '../billing/stripe-admin-suspension.js';

/** Most attributes an organization may carry (they are read by every flag evaluation). */
export const MAX_ORGANIZATION_ATTRIBUTES = 50;

/** An organization as platform administrators see it. */
export interface PlatformOrganization {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  members: number;
  createdAt: string;
  suspendedAt: string | null;
  deletionRequestedAt: string | null;
  /** What feature flag rules target (see {@link OrganizationTargeting}). */
  plan: string;
  attributes: Record<string, string | number | boolean>;
  /** Where its data lives, as recorded (not inferred from its placement moves). */
  placement: PlatformPlacement;
}

/** Longest organization search (`q`): name or slug contains it, ignoring case. */
export const MAX_ORGANIZATION_SEARCH = 100;

/** An organization's feature flag targeting fields. */
export interface OrganizationTargeting {
  id: string;
  slug: string;
  name: string;
  plan: string;
  attributes: Record<string, string | number | boolean>;
}

export interface PlatformService {
  /** Every organization, newest first (a named privileged read in the platform scope opened by the
   *  administrator's raw session token); with `q`, only those whose name or slug contains it, ignoring
   *  case (the cursor of a searched page continues the same search). */
  listOrganizations(
    sessionToken: string,
    opts: { limit?: number; cursor?: string; q?: string },
  ): Promise<Page<PlatformOrganization>>;
  /**
   * Suspends or reactivates an organization: its members get 403 ORGANIZATION_SUSPENDED while suspended.
   * Audited in that organization's chain (`organization.suspended` / `organization.reactivated`, actor: the
   * platform administrator).
   */
  setSuspended(adminUserId: string, orgId: string, suspended: boolean): Promise<void>;
  /**
   * Sets an organization's plan (one of the plan catalog: see src/modules/plans, `via` platform, which
   * also writes its plan history and `organization.plan_changed`) and/or attributes (replaced as a
   * whole), which feature flag rules target.
   * Audited in that organization (`organization.targeting_updated`, before/after); flag evaluations of
   * the organization see it on their next request, on every instance.
   */
  updateTargeting(
    by: PlatformActor,
    orgId: string,
    patch: { plan?: string; attributes?: Record<string, string | number | boolean> },
  ): Promise<OrganizationTargeting>;
}

const orgNotFound = () => new PlatformError('PLATFORM_ORGANIZATION_NOT_FOUND', 'organization not found');

function checkTargeting(patch: { plan?: string; attributes?: Record<string, unknown> }): void {
  const invalid = (m: string) => new PlatformError('PLATFORM_ORGANIZATION_INVALID', m);
  if (patch.plan !== undefined && !PLAN_RE.test(patch.plan)) {
    throw invalid(`plan must match ${String(PLAN_RE)}`);
  }
  if (patch.attributes === undefined) return;
  const entries = Object.entries(patch.attributes);
  if (entries.length > MAX_ORGANIZATION_ATTRIBUTES) {
    throw invalid(`attributes: at most ${MAX_ORGANIZATION_ATTRIBUTES}`);
  }
  for (const [name, v] of entries) {
    if (!ATTRIBUTE_NAME_RE.test(name)) {
      throw invalid(`attributes: "${name}" must match ${String(ATTRIBUTE_NAME_RE)}`);
    }
    const ok =
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      (typeof v === 'string' && v.length <= 200);
    if (!ok) {
      throw invalid(`attributes.${name} must be a string (up to 200 characters), a number or a boolean`);
    }
  }
}

/** Platform administration (routes require a platform administrator; org roles do not count). */
export function createPlatformService(deps: {
  withTenant: WithTenant;
  /** With Stripe: STRIPE_GRACE_DAYS (an administrator's unsuspension of a past-due organization gives
   *  a fresh grace period of this length, default 7) and the billing page linked from the owners' mail. */
  billing?: { graceDays: number; billingLink: (slug: string) => string };
  /** The privileged read, run in the platform scope opened by the administrator's raw session token (the
   *  database checks the session is a live one of a platform administrator). */
  platformOrganizations: (
    sessionToken: string,
    after: string | null,
    limit: number,
    q: string | null,
  ) => Promise<PlatformOrganizationRow[]>;
  invalidatePolicy: (orgId: string) => void;
  /** Called after an organization's plan or attributes changed (drops its cached flag context). */
  targetingChanged: (orgId: string) => void;
  log: Logger;
}): PlatformService {
  return {
    async listOrganizations(sessionToken, opts) {
      const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
      const after = decodeCursor(opts.cursor, isTenantId) ?? null;
      const q = opts.q?.trim() ?? '';
      if (q.length > MAX_ORGANIZATION_SEARCH) {
        throw new PlatformError(
          'PLATFORM_ORGANIZATION_INVALID',
          `q: at most ${MAX_ORGANIZATION_SEARCH} characters`,
        );
      }
      const rows = await deps.platformOrganizations(sessionToken, after, limit + 1, q || null);
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      return {
        data: page.map((r) => ({
          id: r.id,
          slug: r.slug,
          name: r.name,
          personal: r.personal,
          members: Number(r.members),
          createdAt: r.created_at.toISOString(),
          suspendedAt: r.suspended_at?.toISOString() ?? null,
          deletionRequestedAt: r.deletion_requested_at?.toISOString() ?? null,
          plan: r.plan,
          attributes: r.attributes,
          placement: r.placement,
        })),
        nextCursor: more && page.length ? encodeCursor(page[page.length - 1]!.id) : null,
      };
    },

    async setSuspended(adminUserId, orgId, suspended) {
      if (!isTenantId(orgId))
        throw new PlatformError('PLATFORM_ORGANIZATION_NOT_FOUND', 'organization not found');
      const changed = await deps.withTenant(orgId, async (db) => {
        const before = await db
          .selectFrom('organizations')
          .select(['suspended_at', 'lifecycle_state', 'suspension_reason'])
          .where('id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        // An organization being deleted is gone for everyone, platform administrators included.
        if (!before || before.suspension_reason === 'deletion') throw orgNotFound();
        if (before.lifecycle_state === 'pending_deletion') {
          if (!suspended) return false; // nothing to lift
          throw new PlatformError(
            'PLATFORM_ORGANIZATION_PENDING_DELETION',
            'this organization is pending deletion (read-only): expedite its deletion, or let an owner cancel it first',
          );
        }
        if (!suspended && before.lifecycle_state !== 'suspended') return false;
        const after = await db
          .updateTable('organizations')
          .set({
            lifecycle_state: suspended ? 'suspended' : 'active',
            suspension_reason: suspended ? 'admin' : null,
            suspended_at: suspended ? (before.suspended_at ?? new Date()) : null,
            updated_at: new Date(),
          })
          .where('id', '=', orgId)
          .returning('suspended_at')
          .executeTakeFirstOrThrow();
        // The suspension is now the administrator's (a payment does not lift it), or none: billing no
        // longer holds one. Unsuspending a past-due organization gives it a fresh grace period from now
        // (its owners mailed the deadline); when it ends unpaid, billing suspends it again
        // (docs/billing.md). The customer row is locked after the organization row, the order of every
        // billing path.
        const graceEndsAt = await followAdministratorSuspension(db, orgId, suspended, {
          now: new Date(),
          graceDays: deps.billing?.graceDays ?? 7,
          ...(deps.billing ? { billingLink: deps.billing.billingLink } : {}),
        });
        await recordAudit(db, userActingIn(orgId, adminUserId), {
          action: suspended ? 'organization.suspended' : 'organization.reactivated',
          target: { type: 'organization', id: orgId },
          changes: {
            before: {
              suspended_at: before.suspended_at?.toISOString() ?? null,
              suspension_reason: before.suspension_reason,
            },
            after: {
              suspended_at: after.suspended_at?.toISOString() ?? null,
              suspension_reason: suspended ? 'admin' : null,
            },
          },
          metadata: {
            via: 'platform',
            ...(suspended ? { reason: 'admin' } : {}),
            ...(graceEndsAt ? { graceEndsAt: graceEndsAt.toISOString() } : {}),
          },
        });
        return true;
      });
      if (!changed) return;
      deps.invalidatePolicy(orgId);
      deps.log.info({
        privileged_operation: 'set_organization_suspended',
        org: orgId,
        suspended,
        admin: adminUserId,
      });
    },

    async updateTargeting(by, orgId, patch) {
      if (!isTenantId(orgId)) throw orgNotFound();
      checkTargeting(patch);
      const ctx = { tenantId: orgId, actor: by.actor, requestId: by.requestId };
      const row = await deps.withTenant(orgId, async (db) => {
        const columns = ['id', 'slug', 'name', 'plan', 'attributes'] as const;
        const before = await db
          .selectFrom('organizations')
          .select(columns)
          .where('id', '=', orgId)
          .forUpdate()
          .executeTakeFirst();
        if (!before) throw orgNotFound();
        // A plan change is the plan module's (catalog check, history row, `organization.plan_changed`).
        if (patch.plan !== undefined) {
          try {
            await applyPlanChange(db, ctx, patch.plan, 'platform');
          } catch (err) {
            if (!(err instanceof PlansError) || err.code !== 'PLAN_NOT_FOUND') throw err;
            throw new PlatformError(
              'PLATFORM_ORGANIZATION_INVALID',
              `plan "${patch.plan}" is not in the plan catalog`,
            );
          }
        }
        const after = await db
          .updateTable('organizations')
          .set({
            ...(patch.attributes !== undefined ? { attributes: patch.attributes } : {}),
            updated_at: new Date(),
          })
          .where('id', '=', orgId)
          .returning(columns)
          .executeTakeFirstOrThrow();
        await recordAudit(db, ctx, {
          action: 'organization.targeting_updated',
          target: { type: 'organization', id: orgId },
          changes: {
            before: { plan: before.plan, attributes: before.attributes },
            after: { plan: after.plan, attributes: after.attributes },
          },
          metadata: { via: 'platform' },
        });
        return after;
      });
      deps.targetingChanged(orgId);
      return { id: row.id, slug: row.slug, name: row.name, plan: row.plan, attributes: row.attributes };
    },
  };
}
