import { LRUCache } from 'lru-cache';
import { isTenantId } from '../../platform/tenancy/context.js';
import { platformCacheKey, tenantCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import type { CompiledFlagSet } from './flag-evaluation.js';

/** What evaluation needs of one organization: its targeting fields and its overrides. */
export interface OrganizationFlagContext {
  readonly plan: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly overrides: ReadonlyMap<string, { readonly value: unknown; readonly canon: string }>;
}

/**
 * The in-process cache `GET /v1/flags` is served from: every compiled definition in one entry (a
 * platform key), each organization's context in its own entry (a tenant key). Objects are kept as they
 * are (no JSON copy per read), so a hit costs a map lookup; they are shared and never mutated.
 */
export interface FlagCache {
  definitions(): Promise<CompiledFlagSet>;
  organization(orgId: string): Promise<OrganizationFlagContext>;
  /** Drops the definitions and every organization's entry (a definition changed or was deleted). */
  forgetAll(): void;
  /** Drops one organization's entry (its override, plan or attributes changed). */
  forgetOrganization(orgId: string): void;
}

interface Flight<T> {
  readonly promise: Promise<T>;
  /** Set when the key is dropped during the load: its (possibly stale) result must not be stored. */
  readonly state: { superseded: boolean };
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
  const cache = new LRUCache<CacheKey, object>({ max: deps.max ?? 50_000, ttl: deps.ttlMs ?? 60_000 });
  const flights = new Map<CacheKey, Flight<object>>();
  const DEFINITIONS = platformCacheKey('flags.definitions');

  function load<T extends object>(key: CacheKey, loader: () => Promise<T>): Promise<T> {
    const hit = cache.get(key);
    if (hit) return Promise.resolve(hit as T);
    const existing = flights.get(key);
    if (existing) return existing.promise as Promise<T>;
    const state = { superseded: false };
    const settle = () => {
      if (flights.get(key)?.state === state) flights.delete(key);
    };
    const promise = loader().then(
      (value) => {
        settle();
        if (!state.superseded) cache.set(key, value);
        return value;
      },
      (err: unknown) => {
        settle();
        throw err;
      },
    );
    flights.set(key, { promise, state });
    return promise;
  }

  const drop = (key: CacheKey) => {
    cache.delete(key);
    const flight = flights.get(key);
    if (flight) {
      flight.state.superseded = true;
      flights.delete(key);
    }
  };

  return {
    definitions: () => load(DEFINITIONS, deps.loadDefinitions),
    organization: (orgId) =>
      load(tenantCacheKey(orgId, 'flags.organization'), () => deps.loadOrganization(orgId)),
    forgetAll() {
      for (const flight of flights.values()) flight.state.superseded = true;
      flights.clear();
      cache.clear();
    },
    forgetOrganization(orgId) {
      if (!isTenantId(orgId)) return;
      drop(tenantCacheKey(orgId, 'flags.organization'));
    },
  };
}
