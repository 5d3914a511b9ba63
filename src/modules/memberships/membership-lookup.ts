import type { Permission } from '../../platform/authz/permissions.js';
import type { MaybePromise } from '../../platform/cache/maybe-promise.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { tenantCacheKey, tenantCacheKeyMemo, tenantOfCacheKey } from '../../platform/tenancy/cache-keys.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import { findAccess } from './memberships.repository.js';
import { permissionsOf } from './role-permissions.js';

/** An ACTIVE membership as tenant resolution and token checks see it. */
export interface ActiveMembership {
  readonly role: string;
  readonly permissions: ReadonlySet<Permission>;
  readonly permissionsVersion: number;
}

export interface MembershipLookup {
  /**
   * The user's ACTIVE membership in the organization with its resolved permissions (built-in or custom
   * role), or null when there is none, it is pending, or the organization is being deleted.
   * Malformed ids are null too. Cached in-process for the TTL; only active memberships are cached, so
   * a membership that appears needs no invalidation to be seen. A cached membership is answered
   * synchronously (the value, not a promise: it is read on every tenant request); a load is a promise.
   */
  activeMembership(orgId: string, userId: string): MaybePromise<ActiveMembership | null>;
  /** Drops one user's cached membership. Every membership change calls it after committing. */
  invalidate(orgId: string, userId: string): void;
  /** Drops every cached membership of the organization (a custom role changed, deletion requested). */
  invalidateOrganization(orgId: string): void;
}

export interface MembershipLookupDeps {
  readonly withTenant: WithTenant;
  /** Time to live of an entry (default 60 s): the bound on staleness for changes made by another process. */
  readonly ttlMs?: number;
  /** Most entries kept (default 50,000). */
  readonly max?: number;
}

/**
 * The membership lookup on every tenant request's path. Keys come only from
 * `tenantCacheKey(orgId, 'membership', userId)`. A load in flight when its key is invalidated does not
 * store its (possibly stale) result, and later callers start a fresh load, so a committed change is
 * seen by the very next request of this process.
 */
export function createMembershipLookup(deps: MembershipLookupDeps): MembershipLookup {
  const cache = createSingleFlightCache<ActiveMembership>({
    max: deps.max ?? 50_000,
    ttlMs: deps.ttlMs ?? 60_000,
  });

  // Built on every tenant request: the same key object per (organization, user), built once.
  const keyOf = tenantCacheKeyMemo('membership');
  const load = async (orgId: string, userId: string): Promise<ActiveMembership | null> => {
    const row = await deps.withTenant(orgId, (db) => findAccess(db, orgId, userId), { mode: 'read' });
    if (!row || row.status !== 'active' || row.suspension_reason === 'deletion') return null;
    return {
      role: row.role,
      permissions: permissionsOf(row.role, row.custom_permissions),
      permissionsVersion: row.permissions_version,
    };
  };

  return {
    activeMembership(orgId, userId) {
      if (!isTenantId(orgId) || !isTenantId(userId)) return null;
      return cache.get(keyOf(orgId, userId), () => load(orgId, userId));
    },

    invalidate(orgId, userId) {
      if (!isTenantId(orgId) || !isTenantId(userId)) return;
      cache.drop(tenantCacheKey(orgId, 'membership', userId));
    },

    invalidateOrganization(orgId) {
      if (!isTenantId(orgId)) return;
      // Role edits and deletion requests are rare: a scan of the keys is cheaper than keeping an index.
      cache.dropWhere((key) => tenantOfCacheKey(key) === orgId);
    },
  };
}
