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
  /** Most entries kept (default 50,000). */
  readonly max?: number;
}

/**
 * The in-process cache of {@link OrganizationSlugs}. Without it every request naming a slug paid a
 * privileged database round trip before its tenant was known. Only found slugs are cached (an
 * organization created with a slug is seen at once); loads are single flight, and a load overtaken by an
 * invalidation does not store what it read. Keys come from `platformCacheKey('org-slug', slug)`: a slug
 * is looked up before any tenant is known.
 */
export function createOrganizationSlugs(deps: OrganizationSlugsDeps): OrganizationSlugs {
  const cache = createSingleFlightCache<{ readonly id: string }>({
    max: deps.max ?? 50_000,
    ttlMs: deps.ttlMs ?? 60_000,
  });
  const load = async (slug: string) => {
    const id = await deps.lookup(slug);
    return id ? { id } : null;
  };
  return {
    idBySlug(slug) {
      const found = cache.get(platformCacheKey('org-slug', slug), () => load(slug));
      if (!(found instanceof Promise)) return Promise.resolve(found.id);
      return found.then((entry) => entry?.id ?? null);
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
