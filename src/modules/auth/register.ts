import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { AuthError } from './auth.errors.js';
import { localPart, parseEmail } from './email-address.js';
import { issueEmailToken, queueVerificationMail } from './email-tokens.js';
import { assertPasswordAcceptable } from './password-policy.js';
import type { PasswordHasher } from './passwords.js';
import {
  createPersonalOrganization,
  personalOrganizationName,
  personalSlug,
  type PersonalOrganization,
} from './personal-organization.js';
import type { IdentityDb } from './sessions.repository.js';
import { findUserByEmail, insertUser, toPublicUser, type PublicUser } from './users.repository.js';

export interface RegisterInput {
  email: string;
  password: string;
  /** Display name, used for the personal organization's name (the local part otherwise). */
  name?: string;
}

export interface RegisterOptions {
  /** Self sign-up: true. Invitation acceptance (the user joins the inviting organization): false. */
  createPersonalOrganization: boolean;
  /**
   * An open transaction to create the user in (e.g. the inviting organization's `withTenant` scope, so
   * the user and the accepted membership commit together). Only without a personal organization, which
   * needs its own tenant scope. Without it, a transaction of its own is used.
   */
  db?: IdentityDb;
  /** The address is already proven (an invitation link sent to it was followed): no verification mail. */
  emailVerified?: boolean;
}

export interface RegisteredUser {
  user: PublicUser;
  organization: PersonalOrganization | null;
}

export interface RegistrationDeps {
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly hasher: PasswordHasher;
  /** Base of the links in mails, without a trailing slash. */
  readonly publicUrl: string;
  readonly log?: Logger;
}

const emailTaken = () => new AuthError('AUTH_EMAIL_TAKEN', 'an account with this email already exists');

/**
 * Builds `registerUser`. It creates a user; with `createPersonalOrganization` also their personal
 * organization, its placement and their ACTIVE owner membership, all in ONE transaction in the new
 * organization's tenant scope, with the verification mail queued in that same transaction. An existing
 * email (any case) is AUTH_EMAIL_TAKEN and nothing is written — so a duplicate sign-up never reaches the
 * caller's next step (an invitation acceptance in the same transaction rolls back with it).
 */
export function createRegistration(deps: RegistrationDeps) {
  async function createUser(
    db: IdentityDb,
    email: { email: string; normalized: string },
    hash: string,
    opts: RegisterOptions,
  ) {
    if (await findUserByEmail(db, email.normalized)) throw emailTaken();
    const user = await insertUser(db, {
      id: uuidv7(),
      email: email.email,
      email_normalized: email.normalized,
      password_hash: hash,
      email_verified: opts.emailVerified ?? false,
    });
    if (!opts.emailVerified) {
      const token = await issueEmailToken(db, user.id, 'verify_email');
      await queueVerificationMail(db, deps.publicUrl, user.email, user.id, token);
    }
    return user;
  }

  /** Registers a user (see {@link createRegistration}). Throws AUTH_EMAIL_INVALID, AUTH_PASSWORD_WEAK, AUTH_EMAIL_TAKEN. */
  async function registerUser(input: RegisterInput, opts: RegisterOptions): Promise<RegisteredUser> {
    const email = parseEmail(input.email);
    assertPasswordAcceptable(input.password, email.normalized);
    if (opts.createPersonalOrganization && opts.db) {
      throw new TypeError('registerUser: a personal organization needs its own transaction (no opts.db)');
    }
    const hash = await deps.hasher.hash(input.password);
    try {
      if (!opts.createPersonalOrganization) {
        const user = opts.db
          ? await createUser(opts.db, email, hash, opts)
          : await deps.db.transaction().execute((trx) => createUser(trx, email, hash, opts));
        deps.log?.info({ user: user.id }, 'user registered');
        return { user: toPublicUser(user), organization: null };
      }
      const local = localPart(email.normalized);
      const name = personalOrganizationName(input.name?.trim() || local);
      for (let attempt = 1; ; attempt++) {
        const organizationId = uuidv7();
        try {
          const result = await deps.withTenant(organizationId, async (db) => {
            const user = await createUser(db, email, hash, opts);
            const organization = await createPersonalOrganization(db, {
              organizationId,
              userId: user.id,
              slug: personalSlug(local),
              name,
            });
            return { user: toPublicUser(user), organization };
          });
          deps.log?.info({ user: result.user.id, organization: organizationId }, 'user registered');
          return result;
        } catch (err) {
          // A random slug suffix collided: try again with another (the transaction rolled back).
          if (attempt < 3 && isUniqueViolation(err, 'organizations_slug_key')) continue;
          throw err;
        }
      }
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_key')) throw emailTaken();
      throw err;
    }
  }

  return { registerUser };
}

export type Registration = ReturnType<typeof createRegistration>;
