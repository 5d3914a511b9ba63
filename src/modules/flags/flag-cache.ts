import { isTenantId } from '../../platform/tenancy/context.js';
import { platformCacheKey, tenantCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import type { CompiledFlagSet, SubjectOverride } from './flag-evaluation.js';

/** What evaluation needs of one organization: its targeting fields, its overrides and its plan's
 *  entitlements. */
export interface OrganizationFlagContext {
  readonly plan: string;
  readonly entitlements: ReadonlySet<string>;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** By flag key, each with the flag it was set on (an override of a deleted flag may still be here). */
  readonly overrides: ReadonlyMap<string, Required<SubjectOverride>>;
}

/**
 * The in-process cache `GET /v1/flags` is served from: every compiled definition in one entry (a
 * platform key), each organization's context in its own entry (a tenant key). Objects are kept as they
 * are (no JSON copy per read), so a hit costs a map lookup; they are shared and never mutated.
 */
export interface FlagCache {
  definitions(): Promise<CompiledFlagSet>;
  organization(orgId: string): Promise<OrganizationFlagContext>;
  /** Drops the compiled definitions (a definition was created or changed). */
  forgetDefinitions(): void;
  /** Drops the definitions and every organization's entry (a definition was deleted: its overrides went
   *  with it, and must not come back should the key be created again). */
  forgetAll(): void;
  /** Drops one organization's entry (its override, plan or attributes changed). A change of the plan
   *  catalog (entitlements) drops every organization's entry: `forgetAll`. */
  forgetOrganization(orgId: string): void;
}

/**
 * Builds the flag cache over two loaders. A load shared by concurrent callers (single flight) that is
 * overtaken by an invalidation does not store its result, so a committed change is seen by the very
 * next request of this process; the TTL (default 60 s) bounds staleness should an invalidation from
 * another instance be lost.
 */
export function createFlagCache(deps: {
  loadDefinitions: () => Promise<CompiledFlagSet>;
  loadOrganization: (orgId: string) => Promise<OrganizationFlagContext>;
  ttlMs?: number;
  max?: number;
}): FlagCache {
  const cache = createSingleFlightCache<object>({ max: deps.max ?? 50_000, ttlMs: deps.ttlMs ?? 60_000 });
  const DEFINITIONS = platformCacheKey('flags.definitions');

  async function load<T extends object>(key: CacheKey, loader: () => Promise<T>): Promise<T> {
    return (await cache.get(key, loader)) as T;
  }

  return {
    definitions: () => load(DEFINITIONS, deps.loadDefinitions),
    organization: (orgId) =>
      load(tenantCacheKey(orgId, 'flags.organization'), () => deps.loadOrganization(orgId)),
    forgetDefinitions: () => cache.drop(DEFINITIONS),
    forgetAll: () => cache.clear(),
    forgetOrganization(orgId) {
      if (!isTenantId(orgId)) return;
      cache.drop(tenantCacheKey(orgId, 'flags.organization'));
    },
  };
}
