import { LRUCache } from 'lru-cache';
import { tenantCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';

/** What tenant resolution needs to know about an organization on every request. */
export interface OrganizationPolicy {
  readonly requireTwoFactor: boolean;
  readonly suspended: boolean;
  readonly deletionRequested: boolean;
}

export interface OrganizationPolicies {
  get(orgId: string): Promise<OrganizationPolicy | null>;
  /** Called by every change of these fields (two-factor policy, suspension, deletion). */
  invalidate(orgId: string): void;
}

/** Organization policy through an in-process cache (it is read on every tenant request). */
export function createOrganizationPolicies(deps: {
  withTenant: WithTenant;
  ttlMs?: number;
}): OrganizationPolicies {
  const cache = new LRUCache<CacheKey, { v: OrganizationPolicy | null }>({
    max: 50_000,
    ttl: deps.ttlMs ?? 30_000,
  });
  return {
    async get(orgId) {
      const key = tenantCacheKey(orgId, 'org-policy');
      const hit = cache.get(key);
      if (hit) return hit.v;
      const row = await deps.withTenant(
        orgId,
        (db) =>
          db
            .selectFrom('organizations')
            .select(['require_two_factor', 'suspended_at', 'deletion_requested_at'])
            .where('id', '=', orgId)
            .executeTakeFirst(),
        { mode: 'read' },
      );
      const v = row
        ? {
            requireTwoFactor: row.require_two_factor,
            suspended: row.suspended_at !== null,
            deletionRequested: row.deletion_requested_at !== null,
          }
        : null;
      cache.set(key, { v });
      return v;
    },
    invalidate(orgId) {
      cache.delete(tenantCacheKey(orgId, 'org-policy'));
    },
  };
}
