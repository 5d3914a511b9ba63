import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { recordAudit } from '../../platform/audit/record.js';
import { userActingIn } from '../../platform/tenancy/context.js';
import * as repo from './invitations.repository.js';
import { InvitationsError, invitationNotFound } from './invitations.errors.js';
import { hashInvitationToken } from './invitation-token.js';
import type { InvitationsDeps } from './invitations.service.js';

/** What accepting an invitation answers. */
export interface AcceptedInvitation {
  organizationId: string;
  role: string;
}

type AcceptanceDeps = Pick<
  InvitationsDeps,
  'withTenant' | 'invitationByToken' | 'rolePermissions' | 'membershipChanged'
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
  async function locate(token: string) {
    const hash = hashInvitationToken(token);
    const found = await deps.invitationByToken(hash);
    if (!found) throw invitationNotFound();
    return { ...found, hash };
  }

  async function lockInvitation(db: TenantDb, f: Awaited<ReturnType<typeof locate>>) {
    await repo.lockOrganization(db, f.organizationId);
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
    await repo.activateMembership(db, orgId, userId, inv.role);
    await repo.setStatus(db, orgId, inv.id, 'accepted');
    const ctx = userActingIn(orgId, userId);
    await recordAudit(db, ctx, {
      action: 'invitation.accepted',
      target: { type: 'invitation', id: inv.id },
      metadata: { email: inv.email_normalized, role: inv.role, invited_by: inv.invited_by },
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
