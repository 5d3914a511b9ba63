import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import { platformCacheKey } from '../../platform/tenancy/cache-keys.js';

/**
 * Slug → organization id, for requests naming their organization by slug (`/v1/orgs/:slug/...`,
 * `X-Organization: <slug>`, a tenant subdomain). It only translates a name into an id: membership, role
 * and organization policy are still checked on every request against the id, so a stale entry can never
 * grant anything; at worst it names an organization the caller then proves no membership in (a 404).
 */
export interface OrganizationSlugs {
  /** The id of the organization with this slug (lowercase), or null when there is none. */
  idBySlug(slug: string): Promise<string | null>;
  /** Drops one slug (an organization took it), and any lookup of it in flight. */
  forgetSlug(slug: string): void;
  /** Drops every slug naming this organization (renamed, deletion requested), and every lookup in flight. */
  forgetOrganization(orgId: string): void;
}

export interface OrganizationSlugsDeps {
  /** The named privileged lookup (`PrivilegedOps.organizationIdBySlug`). */
  readonly lookup: (slug: string) => Promise<string | null>;
  /** Time to live of an entry (default 60 s): the bound on staleness for changes no invalidation reports. */
  readonly ttlMs?: number;
  /** How long "no such slug" is remembered (default 5 s), unless an organization takes the slug. */
  readonly notFoundTtlMs?: number;
  /** Most entries kept (default 50,000). */
  readonly max?: number;
}

/** A cached answer: the organization's id, or "no such slug" until `expiresAt` (ms since the epoch). */
type SlugEntry = { readonly id: string } | { readonly id: null; readonly expiresAt: number };

/**
 * The in-process cache of {@link OrganizationSlugs}. Without it every request naming a slug paid a
 * privileged database round trip before its tenant was known. Unknown slugs are cached too, for a short
 * time (`notFoundTtlMs`, 5 s), so an existing and an unknown slug take the same path and cost the same (a
 * timing difference would tell which slugs exist); an organization taking the slug drops that entry
 * through `forgetSlug` (the `organization_slug` invalidation, on every instance), so it is seen at once.
 * Loads are single flight, and a load overtaken by an invalidation does not store what it read. Keys
 * come from `platformCacheKey('org-slug', slug)`: a slug is looked up before any tenant is known.
 */
export function createOrganizationSlugs(deps: OrganizationSlugsDeps): OrganizationSlugs {
  const notFoundTtlMs = deps.notFoundTtlMs ?? 5_000;
  const cache = createSingleFlightCache<SlugEntry>({
    max: deps.max ?? 50_000,
    ttlMs: deps.ttlMs ?? 60_000,
  });
  const load = async (slug: string): Promise<SlugEntry> => {
    const id = await deps.lookup(slug);
    return id ? { id } : { id: null, expiresAt: Date.now() + notFoundTtlMs };
  };
  return {
    idBySlug(slug) {
      const key = platformCacheKey('org-slug', slug);
      let found = cache.get(key, () => load(slug));
      if (!(found instanceof Promise)) {
        if (found.id !== null || found.expiresAt > Date.now()) return Promise.resolve(found.id);
        cache.drop(key); // "no such slug" has expired: ask again
        found = cache.get(key, () => load(slug));
      }
      return Promise.resolve(found).then((entry) => entry?.id ?? null);
    },
    forgetSlug(slug) {
      cache.drop(platformCacheKey('org-slug', slug));
    },
    forgetOrganization(orgId) {
      // A lookup in flight may be reading the old name: it must not store it either.
      cache.dropWhere((_key, value) => value === undefined || value.id === orgId);
    },
  };
}
