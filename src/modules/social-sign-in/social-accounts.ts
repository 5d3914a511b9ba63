import type { RegionPlacement } from '../organizations/organizations.repository.js';
import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { localPart, parseEmail } from '../auth/email-address.js';
import { claimProvenAddress } from '../auth/address-claim.js';
import { issueEmailToken, queueVerificationMail } from '../auth/email-tokens.js';
import {
  createPersonalOrganization,
  personalOrganizationName,
  personalSlug,
} from '../auth/personal-organization.js';
import { findUserByEmail, findUserById, insertUser, type UserRow } from '../auth/users.repository.js';
import { SocialError } from './social.errors.js';
import type { ProviderProfile } from './social.providers.js';
import { findIdentity, insertIdentity, touchIdentity } from './social.repository.js';

export type AccountOutcome = 'signed_in' | 'linked' | 'created';

export interface AccountDeps {
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly publicUrl: string;
  /** Drops cached sessions of a user whose sessions this ended. */
  readonly userChanged: (userId: string) => void;
  readonly log?: Logger;
  /** Where personal organizations are created (DEFAULT_REGION's tenant database; unset: the control
   *  database). */
  readonly personalPlacement?: RegionPlacement;
}

/**
 * The account rules of a social sign-in. A linked (provider, subject) signs its user in. Otherwise, by the
 * address the provider gave: an existing user is linked only when the provider VERIFIED the address
 * (else SOCIAL_EMAIL_UNVERIFIED, nothing written); no user: a new one (no password; email verified when
 * the provider verified it, else a verification mail) with its Personal Organization, as sign-up makes it.
 */
export function createAccountResolver(deps: AccountDeps) {
  const { db, log } = deps;

  /** Links to an existing user; an address proven for the first time ends the earlier sessions (see verifyEmail). */
  async function link(provider: string, profile: ProviderProfile, normalized: string) {
    const ended = await db.transaction().execute(async (trx) => {
      const user = await findUserByEmail(trx, normalized);
      if (!user) return undefined;
      const locked = await findUserById(trx, user.id, { forUpdate: true });
      if (!locked) return undefined;
      const linked = await insertIdentity(trx, {
        id: uuidv7(),
        user_id: locked.id,
        provider,
        subject: profile.subject,
        email: profile.email,
      });
      // The provider proved the address: a first proof claims the account for its owner (the identities
      // linked while it was unproven, the password, the TOTP factor and every session of whoever held it
      // go; docs/social-sign-in.md), keeping only this link.
      const first = await claimProvenAddress(trx, locked.id, {
        clearPassword: true,
        keepSocialIdentityId: linked.id,
      });
      return { userId: locked.id, first };
    });
    if (!ended) return undefined;
    if (ended.first) deps.userChanged(ended.userId);
    return ended.userId;
  }

  async function create(
    provider: string,
    profile: ProviderProfile,
    email: { email: string; normalized: string },
  ) {
    const local = localPart(email.normalized);
    const name = personalOrganizationName(profile.name?.trim() || local);
    for (let attempt = 1; ; attempt++) {
      const organizationId = uuidv7();
      try {
        const where = deps.personalPlacement;
        return await deps.withTenant(
          organizationId,
          async (tdb) => {
            const user = await insertUser(tdb, {
              id: uuidv7(),
              email: email.email,
              email_normalized: email.normalized,
              password_hash: null,
              email_verified: profile.emailVerified,
            });
            await createPersonalOrganization(tdb, {
              organizationId,
              userId: user.id,
              slug: personalSlug(local),
              name,
              where,
            });
            await insertIdentity(tdb, {
              id: uuidv7(),
              user_id: user.id,
              provider,
              subject: profile.subject,
              email: profile.email,
            });
            if (!profile.emailVerified) {
              const token = await issueEmailToken(tdb, user.id, 'verify_email');
              await queueVerificationMail(tdb, deps.publicUrl, user.email, user.id, token);
            }
            return user.id;
          },
          where ? { creatingIn: where.databaseKey } : undefined,
        );
      } catch (err) {
        if (attempt < 3 && isUniqueViolation(err, 'organizations_slug_key')) continue;
        throw err;
      }
    }
  }

  /** The user this provider account signs in as (linking or creating per the rules above). */
  async function resolve(
    provider: string,
    profile: ProviderProfile,
  ): Promise<{ user: UserRow; outcome: AccountOutcome }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const known = await findIdentity(db, provider, profile.subject);
        if (known) {
          await touchIdentity(db, known.id, profile.email ?? known.email);
          const user = await findUserById(db, known.user_id);
          if (user) return { user, outcome: 'signed_in' };
        }
        if (!profile.email) {
          throw new SocialError('SOCIAL_EMAIL_MISSING', 'the provider did not share an email address');
        }
        let email: { email: string; normalized: string };
        try {
          email = parseEmail(profile.email);
        } catch {
          throw new SocialError('SOCIAL_EMAIL_MISSING', 'the provider shared no usable email address');
        }
        const existing = await findUserByEmail(db, email.normalized);
        if (existing) {
          if (!profile.emailVerified) {
            throw new SocialError(
              'SOCIAL_EMAIL_UNVERIFIED',
              'an account with this email address exists and the provider has not verified the address: ' +
                'sign in another way',
            );
          }
          const userId = await link(provider, profile, email.normalized);
          const user = userId && (await findUserById(db, userId));
          if (user) {
            log?.info({ user: user.id, social_provider: provider }, 'social identity linked');
            return { user, outcome: 'linked' };
          }
          continue;
        }
        const userId = await create(provider, profile, email);
        const user = await findUserById(db, userId);
        if (!user) throw new Error('the new user is missing');
        log?.info({ user: user.id, social_provider: provider }, 'user registered by social sign-in');
        return { user, outcome: 'created' };
      } catch (err) {
        // A parallel first sign-in of the same account or address won: the next round finds its rows.
        if (
          attempt < 3 &&
          (isUniqueViolation(err, 'social_identities_subject_key') ||
            isUniqueViolation(err, 'users_email_key'))
        ) {
          continue;
        }
        throw err;
      }
    }
  }

  return { resolve };
}
