import type { MaybePromise } from '../../platform/cache/maybe-promise.js';
import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import { tenantCacheKey } from '../../platform/tenancy/cache-keys.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { precompiled } from '../../platform/db/precompiled.js';

/** What tenant resolution needs to know about an organization on every request. */
export interface OrganizationPolicy {
  readonly requireTwoFactor: boolean;
  readonly suspended: boolean;
  /** Who suspended it: billing's suspension lets users through to the routes that pay (docs/billing.md). */
  readonly suspendedBy: 'billing' | 'administrator' | null;
  readonly deletionRequested: boolean;
}

export interface OrganizationPolicies {
  /** The policy, synchronously on a cache hit (read on every tenant request), else its load. */
  get(orgId: string): MaybePromise<OrganizationPolicy | null>;
  /** Called by every change of these fields (two-factor policy, suspension, deletion). */
  invalidate(orgId: string): void;
}

/** The policy's statement, compiled once (it loads on every cache miss of a tenant request). */
const policyOf = precompiled((db: TenantDb, p: { orgId: string }) =>
  db
    .selectFrom('organizations')
    .select(['require_two_factor', 'suspended_at', 'suspended_by', 'deletion_requested_at'])
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
          suspended: row.suspended_at !== null,
          // A suspension without a recorded reason is an administrator's (never lifted by a payment).
          suspendedBy:
            row.suspended_at === null ? null : row.suspended_by === 'billing' ? 'billing' : 'administrator',
          deletionRequested: row.deletion_requested_at !== null,
        }
      : null;
    return { v };
  };
  return {
    get(orgId) {
      const entry = cache.get(tenantCacheKey(orgId, 'org-policy'), () => load(orgId));
      return entry instanceof Promise ? entry.then((e) => e?.v ?? null) : entry.v;
    },
    invalidate(orgId) {
      cache.drop(tenantCacheKey(orgId, 'org-policy'));
    },
  };
}
