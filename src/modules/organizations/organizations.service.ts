import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { uuidv7 } from '../../platform/ids.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { insertOrganization, type OrganizationRow } from './organizations.repository.js';
import { OrganizationsError } from './organizations.errors.js';

export const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface OrganizationsService {
  /**
   * Creates an organization and its placement record in one transaction, inside the new
   * organization's own tenant scope (the row is its own tenant, so no cross-tenant access is needed).
   * Throws ORGANIZATION_SLUG_TAKEN when the slug is in use.
   */
  create(input: { slug: string; name: string }): Promise<OrganizationRow>;
}

/** Organizations service (the identity issue extends it with memberships). */
export function createOrganizationsService(deps: { withTenant: WithTenant }): OrganizationsService {
  return {
    async create(input) {
      const slug = input.slug.toLowerCase();
      if (!SLUG_RE.test(slug)) {
        throw new OrganizationsError(
          'ORGANIZATION_SLUG_INVALID',
          'slug must be 1-63 lowercase letters, digits or dashes',
        );
      }
      const id = uuidv7();
      try {
        return await deps.withTenant(id, async (db) => {
          const org = await insertOrganization(db, { id, slug, name: input.name });
          await db
            .insertInto('tenant_placements')
            .values({ organization_id: id, database_key: null })
            .execute();
          return org;
        });
      } catch (err) {
        if (isUniqueViolation(err, 'organizations_slug_key')) {
          throw new OrganizationsError('ORGANIZATION_SLUG_TAKEN', `slug "${slug}" is already taken`);
        }
        throw err;
      }
    },
  };
}
