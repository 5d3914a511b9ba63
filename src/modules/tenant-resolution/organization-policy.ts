import type { MaybePromise } from '../../platform/cache/maybe-promise.js';
import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import { tenantCacheKey, tenantCacheKeyMemo } from '../../platform/tenancy/cache-keys.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { precompiled } from '../../platform/db/precompiled.js';
import { TenantResolutionError } from './tenant-resolution.errors.js';

/** An organization's stored lifecycle state; `deleted` is the absence of its row (docs/organization-lifecycle.md). */
export type LifecycleState = 'active' | 'suspended' | 'pending_deletion';
/** Why a suspended organization is suspended. */
export type SuspensionReason = 'admin' | 'billing' | 'deletion';

/** What tenant resolution needs to know about an organization on every request. */
export interface OrganizationPolicy {
  readonly requireTwoFactor: boolean;
  readonly state: LifecycleState;
  /** Set exactly while `state` is `suspended`: billing's lets owners reach the routes that pay (docs/billing.md). */
  readonly suspensionReason: SuspensionReason | null;
}

/** What the lifecycle rules look at in a request (see {@link admitByLifecycle}). */
export interface LifecycleRequest {
  readonly method: string;
  /** An API key (never a platform administrator, never exempt). */
  readonly apiKey: boolean;
  readonly isPlatformAdmin: boolean;
  /** The route's `allowWhenBillingSuspended` flag (the routes that let an owner pay). */
  readonly allowWhenBillingSuspended: boolean;
  /** The route's `allowWhenPendingDeletion` flag (cancelling the deletion, exporting the data). */
  readonly allowWhenPendingDeletion: boolean;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The lifecycle rules of the tenant path, in one place (docs/organization-lifecycle.md): whether a request
 * may enter the organization. False answers the 404 of a missing organization (no row: deleted; or being
 * deleted); a refusal that should say why throws.
 * - `active`: everything.
 * - `pending_deletion`: reads (GET, HEAD) for everyone who may read; writes only on the routes flagged
 *   `allowWhenPendingDeletion` (their permission is still checked: cancelling needs `org:delete`), else
 *   409 ORGANIZATION_PENDING_DELETION.
 * - `suspended` for `admin`: nothing (403 ORGANIZATION_SUSPENDED), but for platform administrators.
 * - `suspended` for `billing`: the same, but signed-in users also reach the routes flagged
 *   `allowWhenBillingSuspended`.
 * - `suspended` for `deletion` (the hard delete runs): the 404 of a missing organization, for everyone.
 */
export function admitByLifecycle(policy: OrganizationPolicy | null, req: LifecycleRequest): boolean {
  if (!policy) return false;
  switch (policy.state) {
    case 'active':
      return true;
    case 'pending_deletion':
      if (READ_METHODS.has(req.method) || req.allowWhenPendingDeletion) return true;
      throw new TenantResolutionError(
        'ORGANIZATION_PENDING_DELETION',
        'this organization is scheduled for deletion and read-only: an owner can cancel the deletion',
      );
    case 'suspended':
      if (policy.suspensionReason === 'deletion') return false;
      if (!req.apiKey && req.isPlatformAdmin) return true;
      if (!req.apiKey && req.allowWhenBillingSuspended && policy.suspensionReason === 'billing') return true;
      // The reason tells members whom to turn to (an owner who can pay, or the platform's administrators).
      throw new TenantResolutionError(
        'ORGANIZATION_SUSPENDED',
        policy.suspensionReason === 'billing'
          ? 'this organization is suspended for an unpaid invoice'
          : 'this organization is suspended',
        { reason: policy.suspensionReason },
      );
  }
}

export interface OrganizationPolicies {
  /** The policy, synchronously on a cache hit (read on every tenant request), else its load. */
  get(orgId: string): MaybePromise<OrganizationPolicy | null>;
  /** Called by every change of these fields (two-factor policy, lifecycle state). */
  invalidate(orgId: string): void;
}

/** The policy's statement, compiled once (it loads on every cache miss of a tenant request). */
const policyOf = precompiled((db: TenantDb, p: { orgId: string }) =>
  db
    .selectFrom('organizations')
    .select(['require_two_factor', 'lifecycle_state', 'suspension_reason'])
    .where('id', '=', p.orgId),
);

/**
 * Organization policy through an in-process cache (it is read on every tenant request). Loads are single
 * flight, and a load overtaken by an invalidation does not store what it read: a request that read the
 * row just before a suspension (or a reactivation) committed must not keep serving that answer for the
 * cache's lifetime.
 */
export function createOrganizationPolicies(deps: {
  withTenant: WithTenant;
  ttlMs?: number;
}): OrganizationPolicies {
  const cache = createSingleFlightCache<{ v: OrganizationPolicy | null }>({
    max: 50_000,
    ttlMs: deps.ttlMs ?? 30_000,
  });
  const load = async (orgId: string) => {
    const { rows } = await deps.withTenant(orgId, (db) => policyOf(db, { orgId }), { mode: 'read' });
    const row = rows[0];
    const v: OrganizationPolicy | null = row
      ? {
          requireTwoFactor: row.require_two_factor,
          state: row.lifecycle_state,
          suspensionReason: row.lifecycle_state === 'suspended' ? row.suspension_reason : null,
        }
      : null;
    return { v };
  };
  const keyOf = tenantCacheKeyMemo('org-policy'); // read on every tenant request: built once per organization
  return {
    get(orgId) {
      const entry = cache.get(keyOf(orgId), () => load(orgId));
      return entry instanceof Promise ? entry.then((e) => e?.v ?? null) : entry.v;
    },
    invalidate(orgId) {
      cache.drop(tenantCacheKey(orgId, 'org-policy'));
    },
  };
}
