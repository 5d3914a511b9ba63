import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { uuidv7 } from '../../platform/ids.js';
import { OrganizationsError, slugTaken } from './organizations.errors.js';
import {
  insertOrganizationIfFree,
  insertPlacement,
  type OrganizationRow,
} from './organizations.repository.js';
import { SLUG_RE } from './organization-slug.js';

/** Validates and lowercases a client-chosen slug. */
export function normalizeSlug(slug: string): string {
  const s = slug.toLowerCase();
  if (!SLUG_RE.test(s)) {
    throw new OrganizationsError(
      'ORGANIZATION_SLUG_INVALID',
      'slug must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash',
    );
  }
  return s;
}

/**
 * Creates an organization with its placement and NO member, in its own transaction. For platform
 * tooling and test fixtures; users create organizations through the service (they become owner).
 * Not audited: its chain starts empty, so tests see exactly the events they cause.
 */
export async function createBareOrganization(
  withTenant: WithTenant,
  input: { slug: string; name: string },
): Promise<OrganizationRow> {
  const slug = normalizeSlug(input.slug);
  const id = uuidv7();
  return withTenant(id, async (db) => {
    const org = await insertOrganizationIfFree(db, { id, slug, name: input.name, personal: false });
    if (!org) throw slugTaken(slug);
    await insertPlacement(db, org);
    return org;
  });
}
