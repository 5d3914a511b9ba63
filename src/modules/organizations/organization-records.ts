import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { uuidv7 } from '../../platform/ids.js';
import { recordAudit } from '../../platform/audit/record.js';
import { userActingIn } from '../../platform/tenancy/context.js';
import { insertMembership } from '../memberships/memberships.repository.js';
import { OrganizationsError, slugTaken } from './organizations.errors.js';
import {
  insertOrganizationIfFree,
  insertPlacement,
  type OrganizationRow,
} from './organizations.repository.js';
import { SLUG_RE, slugify, suffixedSlug } from './organization-slug.js';

/** How many random suffixes a personal organization tries before giving up (each is 1 in 16M to clash). */
const SUFFIX_ATTEMPTS = 8;

/**
 * Creates a user's personal organization INSIDE the caller's open `withTenant(orgId)` transaction (sign-up
 * inserts the user in the same transaction): the organization (`personal = true`), its placement, and
 * the user's ACTIVE `owner` membership. The slug is `slugify(slugBase)`, or `<base>-<6 random hex>` when
 * that is taken; a taken slug never raises, so the transaction stays usable. Audited
 * `organization.created` (actor: the user) in the new organization's chain, in that same transaction.
 */
export async function createPersonalOrganization(
  db: TenantDb,
  input: { orgId: string; userId: string; name: string; slugBase: string },
): Promise<OrganizationRow> {
  const base = slugify(input.slugBase);
  const row = { id: input.orgId, name: input.name, personal: true };
  let org = await insertOrganizationIfFree(db, { ...row, slug: base });
  for (let i = 0; !org && i < SUFFIX_ATTEMPTS; i++) {
    org = await insertOrganizationIfFree(db, { ...row, slug: suffixedSlug(base) });
  }
  if (!org) throw slugTaken(base);
  await insertPlacement(db, org.id);
  await insertMembership(db, {
    organization_id: org.id,
    user_id: input.userId,
    role: 'owner',
    status: 'active',
  });
  await recordAudit(db, userActingIn(org.id, input.userId), {
    action: 'organization.created',
    target: { type: 'organization', id: org.id },
    metadata: { slug: org.slug, name: org.name, personal: true, owner: input.userId },
  });
  return org;
}

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
    await insertPlacement(db, id);
    return org;
  });
}
