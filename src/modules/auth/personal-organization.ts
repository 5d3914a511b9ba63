import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { recordAudit } from '../../platform/audit/record.js';
import { userActingIn } from '../../platform/tenancy/context.js';
import { insertPlacement, type RegionPlacement } from '../organizations/organizations.repository.js';

/** The organization every self-registered user owns. */
export interface PersonalOrganization {
  id: string;
  slug: string;
  name: string;
  personal: true;
}

/**
 * A slug from an email's local part: lowercase letters and digits, other runs turned into one dash,
 * at most 40 characters, then a random 8-character suffix (so it never collides in practice and does not
 * reveal the address). Always matches the organizations slug format.
 */
export function personalSlug(localPart: string): string {
  const base =
    localPart
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/g, '') || 'user';
  return `${base}-${randomBytes(5).toString('hex').slice(0, 8)}`;
}

/** "<name>'s organization", name trimmed to keep the whole under 200 characters. */
export function personalOrganizationName(displayName: string): string {
  return `${displayName.trim().slice(0, 100)}'s organization`;
}

/**
 * Creates a user's personal organization inside the NEW organization's tenant scope (`db` must be the
 * scope of `organizationId`, opened by the caller around the user insert so everything is one
 * transaction): the organization row (personal), its placement record, the user's ACTIVE `owner`
 * membership, and the user's last organization. Audited `organization.created` (actor: the new user)
 * as the first event of the organization's chain, in the same transaction.
 */
export async function createPersonalOrganization(
  db: TenantDb,
  input: { organizationId: string; userId: string; slug: string; name: string; where?: RegionPlacement },
): Promise<PersonalOrganization> {
  const { organizationId: id, userId } = input;
  const org = await db
    .insertInto('organizations')
    .values({ id, slug: input.slug, name: input.name, personal: true, region: input.where?.region ?? null })
    .returning(['id', 'slug', 'name'])
    .executeTakeFirstOrThrow();
  // In a region, the scope was opened with `creatingIn` its tenant database (the callers).
  await insertPlacement(db, { id, slug: org.slug, name: org.name, personal: true }, input.where);
  await db
    .insertInto('memberships')
    .values({ organization_id: id, user_id: userId, role: 'owner', status: 'active' })
    .execute();
  await db
    .updateTable('users')
    .set({ last_organization_id: id, updated_at: sql<Date>`now()` })
    .where('id', '=', userId)
    .execute();
  await recordAudit(db, userActingIn(id, userId), {
    action: 'organization.created',
    target: { type: 'organization', id },
    metadata: { slug: org.slug, name: org.name, personal: true, owner: userId },
  });
  return { id: org.id, slug: org.slug, name: org.name, personal: true };
}
