import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { claimProvenAddress } from '../auth/address-claim.js';
import { normalizeEmail } from '../auth/email-address.js';
import { ScimError } from './scim.errors.js';

/** The domain of a normalized address (after its last `@`). */
export const addressDomain = (normalized: string): string =>
  normalized.slice(normalized.lastIndexOf('@') + 1);

/** Whether the organization has verified `domain` (organization_domains, status `verified`). */
export async function isVerifiedDomain(db: TenantDb, orgId: string, domain: string): Promise<boolean> {
  const row = await db
    .selectFrom('organization_domains')
    .select('domain')
    .where('organization_id', '=', orgId)
    .where('domain', '=', domain)
    .where('status', '=', 'verified')
    .executeTakeFirst();
  return row !== undefined;
}

export const scimForeignAccount = (domain: string) =>
  new ScimError(
    409,
    `an account with this address exists and ${domain} is not a verified domain of this organization: ` +
      'only accounts of its verified domains are linked (verify the domain, or invite the person)',
    'uniqueness',
  );

/**
 * The platform account a new SCIM user is, found or created by its address (`email` as given), inside
 * the organization's scope and under its lock:
 *
 * - An existing account is linked only when the address's domain is one the organization VERIFIED: a
 *   directory speaks for the addresses of its own domains, never for anyone else's account (a token of
 *   organization A must not pull a stranger's account into A). Otherwise 409 `uniqueness`, nothing
 *   written. An erased account is never linked (409). An account whose address was never verified is
 *   claimed (`claimed`: the directory proved the address; the caller drops its cached sessions).
 * - A new address gets an account without a password, in any domain: nobody holds it yet, the
 *   organization cannot sign in as it (its SSO signs in only verified domains), and only the mailbox's
 *   owner can take it over (password reset), to find the organization's membership there.
 */
export async function scimAccount(
  db: TenantDb,
  orgId: string,
  email: string,
): Promise<{ userId: string; created: boolean; claimed: boolean }> {
  const normalized = normalizeEmail(email);
  const existing = await db
    .selectFrom('users')
    .select(['id', 'erased_at'])
    .where('email_normalized', '=', normalized)
    .executeTakeFirst();
  if (existing) {
    const domain = addressDomain(normalized);
    if (!(await isVerifiedDomain(db, orgId, domain))) throw scimForeignAccount(domain);
    if (existing.erased_at) throw new ScimError(409, 'this account is not available', 'uniqueness');
    // The directory of a verified domain vouches for the address: a first proof claims the account for
    // its owner (claimProvenAddress: the password, TOTP factor, social identities and sessions of whoever
    // registered the address before them go).
    const claimed = await claimProvenAddress(db, existing.id, { clearPassword: true });
    return { userId: existing.id, created: false, claimed };
  }
  const userId = uuidv7();
  // No password: the account signs in through the organization's SSO, or after a password reset.
  try {
    await db
      .insertInto('users')
      .values({ id: userId, email, email_normalized: normalized, password_hash: null })
      .execute();
  } catch (err) {
    // Created concurrently (another organization's directory, a retry): the client tries again and the
    // rules above apply to the account then.
    if (isUniqueViolation(err, 'users_email_key')) {
      throw new ScimError(409, 'the account is being created; retry', 'uniqueness');
    }
    throw err;
  }
  return { userId, created: true, claimed: false };
}

/**
 * Reactivation (`active: true` after `active: false`) re-adds the account only where a create could link it
 * now: an address of a domain the organization verified (still), or an account nobody has claimed since the
 * directory created it (no password, address never verified). Otherwise 409 `uniqueness`, nothing written:
 * an account its owner took over in a foreign domain, or one of a domain no longer verified, is theirs, and
 * the directory no longer speaks for it (invite them instead).
 */
export async function assertRelinkable(db: TenantDb, orgId: string, userId: string): Promise<void> {
  const user = await db
    .selectFrom('users')
    .select(['email_normalized', 'password_hash', 'email_verified_at', 'erased_at'])
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user || user.erased_at) throw new ScimError(409, 'this account is not available', 'uniqueness');
  const domain = addressDomain(user.email_normalized);
  if (await isVerifiedDomain(db, orgId, domain)) return;
  if (user.password_hash === null && user.email_verified_at === null) return;
  throw scimForeignAccount(domain);
}
