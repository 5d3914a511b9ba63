import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { recordAudit } from '../../platform/audit/record.js';
import { userActingIn } from '../../platform/tenancy/context.js';
import * as repo from './invitations.repository.js';
import { InvitationsError, invitationNotFound } from './invitations.errors.js';
import { hashInvitationToken } from './invitation-token.js';
import type { InvitationsDeps } from './invitations.service.js';
import { clientAddress, createThrottle, type ThrottleRule } from '../auth/throttle.js';
import { TenantResolutionError } from '../tenant-resolution/tenant-resolution.errors.js';

/** What accepting an invitation answers. */
export interface AcceptedInvitation {
  organizationId: string;
  role: string;
}

/** What the holder of an invitation link may read before accepting it (never the token). */
export interface InvitationPreview {
  organizationName: string;
  /** The invited address (normalized): the only one that can accept. */
  email: string;
  role: string;
  expiresAt: string;
  /** `expired`: still pending but past its expiry (a resend renews it). */
  status: 'pending' | 'expired' | 'accepted' | 'revoked';
}

/**
 * Lookups of a token that matches no invitation, per client address (rule `ip`): 20 per 15 minutes,
 * then 429 AUTH_THROTTLED with Retry-After, as login counts wrong passwords. A found token gives its
 * attempt back.
 */
export const LOOKUP_THROTTLE_RULES = {
  ip: { limit: 20, windowMs: 15 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

type AcceptanceDeps = Pick<
  InvitationsDeps,
  'withTenant' | 'invitationByToken' | 'rolePermissions' | 'membershipChanged' | 'lookupThrottle' | 'seats'
>;

/** Refuses a revoked or expired invitation (an accepted one is the caller's case). */
function checkUsable(inv: repo.InvitationRow): void {
  if (inv.status === 'revoked') {
    throw new InvitationsError('INVITATION_REVOKED', 'this invitation was revoked');
  }
  if (inv.status === 'pending' && inv.expires_at.getTime() <= Date.now()) {
    throw new InvitationsError('INVITATION_EXPIRED', 'this invitation has expired; ask for a new one');
  }
}

const alreadyAccepted = () =>
  new InvitationsError('INVITATION_ALREADY_ACCEPTED', 'this invitation was already used');

/**
 * Accepting by token: the privileged lookup names the organization (the tenant is unknown until then),
 * everything else happens in that organization's scope, under its lock, re-reading the invitation by id
 * AND token hash (a resend or revoke that committed after the lookup wins).
 */
export function createInvitationAcceptance(deps: AcceptanceDeps) {
  const lookupThrottle = deps.lookupThrottle ?? createThrottle('invitations.lookup', LOOKUP_THROTTLE_RULES);

  async function locate(token: string) {
    const hash = hashInvitationToken(token);
    const found = await deps.invitationByToken(hash);
    if (!found) throw invitationNotFound();
    return { ...found, hash };
  }

  /** The preview of the invitation `token` opens, or null for an unknown or replaced one. */
  async function previewOf(token: string): Promise<InvitationPreview | null> {
    const hash = hashInvitationToken(token);
    const found = await deps.invitationByToken(hash);
    if (!found) return null;
    return deps.withTenant(
      found.organizationId,
      async (db) => {
        const inv = await repo.findInvitation(db, found.organizationId, found.invitationId);
        if (!inv?.token_hash.equals(hash)) return null;
        const expired = inv.status === 'pending' && inv.expires_at.getTime() <= Date.now();
        return {
          organizationName: await repo.organizationName(db, found.organizationId),
          email: inv.email_normalized,
          role: inv.role,
          expiresAt: inv.expires_at.toISOString(),
          status: expired ? ('expired' as const) : inv.status,
        };
      },
      { mode: 'read' },
    );
  }

  /**
   * The invitation under the organization's lock, only while the organization is `active` (every accept
   * path comes here): a suspended one gains no member (403 ORGANIZATION_SUSPENDED), nor one pending
   * deletion, read-only (409 ORGANIZATION_PENDING_DELETION), as on its tenant routes; one being deleted
   * (suspended for `deletion`) answers as a missing invitation.
   */
  async function lockInvitation(db: TenantDb, f: Awaited<ReturnType<typeof locate>>) {
    const org = await repo.lockOrganization(db, f.organizationId);
    if (!org || (org.lifecycle_state === 'suspended' && org.suspension_reason === 'deletion')) {
      throw invitationNotFound();
    }
    if (org.lifecycle_state === 'suspended') {
      throw new TenantResolutionError('ORGANIZATION_SUSPENDED', 'this organization is suspended', {
        reason: org.suspension_reason,
      });
    }
    if (org.lifecycle_state === 'pending_deletion') {
      throw new TenantResolutionError(
        'ORGANIZATION_PENDING_DELETION',
        'this organization is scheduled for deletion and read-only: it accepts no new members',
      );
    }
    const inv = await repo.findInvitation(db, f.organizationId, f.invitationId);
    if (!inv?.token_hash.equals(f.hash)) throw invitationNotFound();
    return inv;
  }

  /**
   * Activates the membership of `userId` from a usable invitation (`changed` false: it already was).
   * Audited, with the accepting user as actor: `invitation.accepted` and `member.joined`.
   */
  async function activate(
    db: TenantDb,
    inv: repo.InvitationRow,
    userId: string,
    newAccount: boolean,
  ): Promise<{ role: string; changed: boolean }> {
    const orgId = inv.organization_id;
    if (inv.status === 'accepted') {
      const m = await repo.findMembership(db, orgId, userId);
      if (m?.status === 'active') return { role: m.role, changed: false };
      throw alreadyAccepted();
    }
    checkUsable(inv);
    if (!(await deps.rolePermissions(db, orgId, inv.role))) {
      throw new InvitationsError(
        'INVITATION_ROLE_REMOVED',
        `the role "${inv.role}" of this invitation no longer exists; ask for a new invitation`,
      );
    }
    // Over its seat limit (a smaller plan set by a platform administrator), the first accepts win.
    await deps.seats?.beforeActivate(db, orgId);
    await repo.activateMembership(db, orgId, userId, inv.role);
    await repo.setStatus(db, orgId, inv.id, 'accepted');
    const ctx = userActingIn(orgId, userId);
    await recordAudit(db, ctx, {
      action: 'invitation.accepted',
      target: { type: 'invitation', id: inv.id },
      metadata: { email: inv.email_normalized, role: inv.role, invited_by: inv.invited_by },
      personal: { subject: { kind: 'email', email: inv.email_normalized }, keys: ['email'] },
    });
    await recordAudit(db, ctx, {
      action: 'member.joined',
      target: { type: 'member', id: userId },
      metadata: { role: inv.role, invitation_id: inv.id, new_account: newAccount },
    });
    return { role: inv.role, changed: true };
  }

  return {
    /**
     * What an invitation link is for, before anyone accepts it: the organization's name, the invited
     * address and role, the expiry and the status (`expired` for a pending one past its expiry). An
     * unknown or replaced token is INVITATION_NOT_FOUND (404) and counts against the client address's
     * lookup budget (LOOKUP_THROTTLE_RULES; 429 AUTH_THROTTLED beyond it). A token that exists is never
     * refused: the budget is spent by misses only, so nobody sharing an address (an office network, a
     * page making a visitor's browser fetch bogus links) can lock others out of their invitations.
     * Read-only; the token is neither logged nor returned.
     */
    async lookup(token: string, clientIp: string): Promise<InvitationPreview> {
      const preview = await previewOf(token);
      if (preview) return preview;
      // A miss: spend one attempt (429 once the address has spent them all), then answer 404.
      lookupThrottle.acquire([clientAddress(clientIp)]);
      throw invitationNotFound();
    },

    /**
     * Accepts as a signed-in user whose email matches the invitation (case-insensitively): the membership
     * becomes ACTIVE with the invited role. Accepting again an invitation this user already accepted is
     * harmless and answers the same. Another address is INVITATION_EMAIL_MISMATCH (403, naming the invited
     * address); a revoked or expired invitation 410; an unknown or replaced token 404.
     */
    async accept(userId: string, token: string): Promise<AcceptedInvitation> {
      const f = await locate(token);
      const { role, changed } = await deps.withTenant(f.organizationId, async (db) => {
        const inv = await lockInvitation(db, f);
        if ((await repo.findUserEmail(db, userId)) !== inv.email_normalized) {
          throw new InvitationsError(
            'INVITATION_EMAIL_MISMATCH',
            `this invitation was sent to ${inv.email_normalized}; sign in with that address to accept it`,
            { invitedEmail: inv.email_normalized },
          );
        }
        return activate(db, inv, userId, false);
      });
      // After the commit, so a lookup reloading meanwhile cannot cache the old state.
      if (changed) deps.membershipChanged(f.organizationId, userId);
      return { organizationId: f.organizationId, role };
    },

    /**
     * Register-and-accept in one transaction: `createUser` inserts the account (no personal organization)
     * in this organization's scope, with the invitation's own address, so a different address can never
     * join and a failure leaves neither the account nor the membership behind.
     */
    async acceptAsNewUser(
      token: string,
      createUser: (db: TenantDb, email: string) => Promise<string>,
    ): Promise<AcceptedInvitation & { userId: string }> {
      const f = await locate(token);
      const result = await deps.withTenant(f.organizationId, async (db) => {
        const inv = await lockInvitation(db, f);
        if (inv.status === 'accepted') throw alreadyAccepted();
        checkUsable(inv);
        const userId = await createUser(db, inv.email_normalized);
        const { role } = await activate(db, inv, userId, true);
        return { organizationId: f.organizationId, role, userId };
      });
      deps.membershipChanged(result.organizationId, result.userId);
      return result;
    },
  };
}
