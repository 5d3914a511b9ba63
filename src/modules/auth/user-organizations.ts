import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { IdentityDb } from './sessions.repository.js';

/** One organization a user is an ACTIVE member of (deleted organizations excluded). */
export interface ActiveOrganization {
  organization_id: string;
  slug: string;
  name: string;
  role: string;
  personal: boolean;
}

/**
 * The user's ACTIVE organizations, ordered by name then id. Reads across tenants, so it goes through the
 * named privileged function `app_priv_user_organizations(uuid)` (SECURITY DEFINER, migration 0003) on
 * the runtime pool, and is logged as a privileged operation.
 */
export async function activeOrganizationsOf(
  db: IdentityDb,
  userId: string,
  log?: Logger,
): Promise<ActiveOrganization[]> {
  log?.info({ privileged_operation: 'user_organizations', user: userId }, 'privileged operation');
  const res = await sql<ActiveOrganization>`select * from app_priv_user_organizations(${userId})`.execute(db);
  return res.rows;
}

/**
 * The organization a fresh session starts in: the user's last organization if they are still an ACTIVE
 * member there, else their first active organization, else none.
 */
export async function startingOrganization(
  db: IdentityDb,
  user: { id: string; last_organization_id: string | null },
  log?: Logger,
): Promise<string | null> {
  const orgs = await activeOrganizationsOf(db, user.id, log);
  if (user.last_organization_id && orgs.some((o) => o.organization_id === user.last_organization_id)) {
    return user.last_organization_id;
  }
  return orgs[0]?.organization_id ?? null;
}
