import type { RegionPlacement } from '../organizations/organizations.repository.js';
import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { uuidv7 } from '../../platform/ids.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { AuthError } from './auth.errors.js';
import { localPart, parseEmail } from './email-address.js';
import { issueEmailToken, queueSignUpAttemptMail, queueVerificationMail } from './email-tokens.js';
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
  /**
   * Self sign-up: when the address is taken, do the same writes for a placeholder address and roll them
   * back, so a taken address costs what a new one does (then AUTH_EMAIL_TAKEN as usual).
   */
  rehearseWhenTaken?: boolean;
}

/** Thrown inside a rehearsal's transaction to roll it back. */
class Rehearsal extends Error {}

export interface RegisteredUser {
  user: PublicUser;
  organization: PersonalOrganization | null;
  /** The token of the verification link just mailed (null when the address was already proven). */
  verificationToken: string | null;
}

/**
 * What a self sign-up did. The caller answers the same for both (202, no session): a new address got an
 * account, a Personal Organization and a verification mail; an existing one got a mail telling its owner
 * (nothing else written). The token never leaves the server except in the mail.
 */
export type SignUpOutcome =
  | {
      created: true;
      user: PublicUser;
      organization: PersonalOrganization;
      verificationToken: string;
    }
  | { created: false };

export interface RegistrationDeps {
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly hasher: PasswordHasher;
  /** Base of the links in mails, without a trailing slash. */
  readonly publicUrl: string;
  readonly log?: Logger;
  /** Where personal organizations are created (DEFAULT_REGION's tenant database; unset: the control
   *  database). */
  readonly personalPlacement?: RegionPlacement;
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
    let rehearsal = false;
    if (await findUserByEmail(db, email.normalized)) {
      if (!opts.rehearseWhenTaken) throw emailTaken();
      rehearsal = true;
      const placeholder = `rehearsal-${uuidv7()}@rehearsal.invalid`;
      email = { email: placeholder, normalized: placeholder };
    }
    const user = await insertUser(db, {
      id: uuidv7(),
      email: email.email,
      email_normalized: email.normalized,
      password_hash: hash,
      email_verified: opts.emailVerified ?? false,
    });
    if (opts.emailVerified) return { user, token: null, rehearsal };
    const token = await issueEmailToken(db, user.id, 'verify_email');
    await queueVerificationMail(db, deps.publicUrl, user.email, user.id, token);
    return { user, token, rehearsal };
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
        const { user, token } = opts.db
          ? await createUser(opts.db, email, hash, opts)
          : await deps.db.transaction().execute((trx) => createUser(trx, email, hash, opts));
        deps.log?.info({ user: user.id }, 'user registered');
        return { user: toPublicUser(user), organization: null, verificationToken: token };
      }
      const local = localPart(email.normalized);
      const name = personalOrganizationName(input.name?.trim() || local);
      for (let attempt = 1; ; attempt++) {
        const organizationId = uuidv7();
        try {
          const where = deps.personalPlacement;
          const result = await deps.withTenant(
            organizationId,
            async (db) => {
              const { user, token, rehearsal } = await createUser(db, email, hash, opts);
              const organization = await createPersonalOrganization(db, {
                organizationId,
                userId: user.id,
                slug: personalSlug(local),
                name,
                where,
              });
              if (rehearsal) throw new Rehearsal();
              return { user: toPublicUser(user), organization, verificationToken: token };
            },
            where ? { creatingIn: where.databaseKey } : undefined,
          );
          deps.log?.info({ user: result.user.id, organization: organizationId }, 'user registered');
          return result;
        } catch (err) {
          // A random slug suffix collided: try again with another (the transaction rolled back).
          if (attempt < 3 && isUniqueViolation(err, 'organizations_slug_key')) continue;
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof Rehearsal || isUniqueViolation(err, 'users_email_key')) throw emailTaken();
      throw err;
    }
  }

  /**
   * Self sign-up: the same work and the same outcome for the caller whether the address is new or taken
   * (the password is hashed in both paths). A new address gets its account, Personal Organization and
   * verification mail (see {@link registerUser}); a taken one gets only a mail telling its owner.
   * Throws AUTH_EMAIL_INVALID and AUTH_PASSWORD_WEAK, which do not depend on the address being taken.
   */
  async function signUp(input: RegisterInput): Promise<SignUpOutcome> {
    try {
      const r = await registerUser(input, { createPersonalOrganization: true, rehearseWhenTaken: true });
      if (!r.organization || !r.verificationToken) throw new Error('sign-up created no organization');
      return {
        created: true,
        user: r.user,
        organization: r.organization,
        verificationToken: r.verificationToken,
      };
    } catch (err) {
      if (!(err instanceof AuthError) || err.code !== 'AUTH_EMAIL_TAKEN') throw err;
    }
    const normalized = parseEmail(input.email).normalized;
    await deps.db.transaction().execute(async (trx) => {
      const owner = await findUserByEmail(trx, normalized);
      if (owner) await queueSignUpAttemptMail(trx, deps.publicUrl, owner.email, owner.id);
    });
    deps.log?.info('sign-up attempted for an existing account');
    return { created: false };
  }

  return { registerUser, signUp };
}

export type Registration = ReturnType<typeof createRegistration>;
