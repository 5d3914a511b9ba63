import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { IdentityDb } from './sessions.repository.js';
import type { Session, SessionMeta, SessionService } from './sessions.types.js';

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
 * named privileged function `app_priv_user_organizations` (SECURITY DEFINER) on the runtime pool, and is
 * logged as a privileged operation. The function answers only for the user whose live session
 * `sessionToken` (the RAW token; the database hashes it) is: the runtime role reads only hashes.
 */
export async function activeOrganizationsOf(
  db: IdentityDb,
  userId: string,
  sessionToken: string,
  log?: Logger,
): Promise<ActiveOrganization[]> {
  log?.info({ privileged_operation: 'user_organizations', user: userId }, 'privileged operation');
  const res = await sql<ActiveOrganization>`select organization_id, slug, name, role, personal
    from app_priv_user_organizations(${sessionToken}, ${userId}, ${null})`.execute(db);
  return res.rows;
}

/**
 * The organization a fresh session starts in: the user's last organization if they are still an ACTIVE
 * member there, else their first active organization, else none.
 */
export async function startingOrganization(
  db: IdentityDb,
  user: { id: string; last_organization_id: string | null },
  sessionToken: string,
  log?: Logger,
): Promise<string | null> {
  const orgs = await activeOrganizationsOf(db, user.id, sessionToken, log);
  if (user.last_organization_id && orgs.some((o) => o.organization_id === user.last_organization_id)) {
    return user.last_organization_id;
  }
  return orgs[0]?.organization_id ?? null;
}

/**
 * Starts a session for a user who just proved who they are (password, verification link) in their
 * starting organization (`twoFactorVerified`: the proof covered both factors, e.g. a passkey with user
 * verification): the session is created first, since its token is what proves the user to the
 * organization lookup, then placed. `credentialsChangedAt` (a password sign-in: the user's
 * `credentials_changed_at` as it read it with the password hash it checked) guards the session's creation
 * (SessionService.create): refused with AUTH_INVALID_CREDENTIALS when the credentials changed since.
 */
export async function startSessionInStartingOrganization(
  db: IdentityDb,
  sessions: SessionService,
  user: { id: string; last_organization_id: string | null },
  meta: SessionMeta,
  log?: Logger,
  opts: { twoFactorVerified?: boolean; credentialsChangedAt?: Date } = {},
): Promise<{ token: string; session: Session; currentOrganizationId: string | null }> {
  const created = await sessions.create(user.id, meta, {
    currentOrganizationId: null,
    ...(opts.twoFactorVerified ? { twoFactorVerified: true } : {}),
    ...(opts.credentialsChangedAt ? { credentialsChangedAt: opts.credentialsChangedAt } : {}),
  });
  const currentOrganizationId = await startingOrganization(db, user, created.token, log);
  if (currentOrganizationId === null) return { ...created, currentOrganizationId };
  await db
    .updateTable('sessions')
    .set({ current_organization_id: currentOrganizationId })
    .where('id', '=', created.session.id)
    .execute();
  return {
    token: created.token,
    session: { ...created.session, currentOrganizationId },
    currentOrganizationId,
  };
}
