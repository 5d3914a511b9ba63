import type { Permission } from '../../platform/authz/permissions.js';
import { coversPermissions } from '../../platform/authz/roles.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import { uuidv7 } from '../../platform/ids.js';
import { recordAudit } from '../../platform/audit/record.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import * as repo from './invitations.repository.js';
import { InvitationsError, invitationNotFound } from './invitations.errors.js';
import { invitationMail } from './invitation-mail.js';
import { newInvitationToken } from './invitation-token.js';
import { createInvitationAcceptance } from './invitation-acceptance.js';
import { AuthError } from '../auth/auth.errors.js';
import { MembershipsError } from '../memberships/memberships.errors.js';
import { createThrottle, RECIPIENT_THROTTLE_RULES, recipientKey, type Throttle } from '../auth/throttle.js';
import type { SeatCheck } from '../plans/seats.js';

/** An invitation as the API shows it (never its token). */
export interface Invitation {
  id: string;
  email: string;
  role: string;
  status: 'pending' | 'accepted' | 'revoked';
  expiresAt: string;
  createdAt: string;
}

export interface InvitationsDeps {
  readonly withTenant: WithTenant;
  /** The named privileged lookup: which organization and invitation a token hash belongs to. */
  readonly invitationByToken: (
    tokenHash: Buffer,
  ) => Promise<{ organizationId: string; invitationId: string } | null>;
  /** Permissions of a role (built-in or the organization's custom one), null when unknown. */
  readonly rolePermissions: (
    db: TenantDb,
    orgId: string,
    role: string,
  ) => Promise<readonly Permission[] | null>;
  /** Called once a membership change has committed, so the next request sees it. */
  readonly membershipChanged: (orgId: string, userId: string) => void;
  readonly publicUrl: string;
  readonly ttlMs?: number;
  /** Invitation mails (first sends and resends) an organization may send per hour; default 50. */
  readonly perHourLimit?: number;
  /** Invitation mails one organization may send to one address per hour; default 3. */
  readonly perRecipientHourLimit?: number;
  /**
   * Mails per recipient address and kind (rule `invitation`: invitation mails to one address per hour
   * ACROSS organizations, so five organizations cannot send fifteen mails to one address). In process,
   * per instance; defaults to a throttle of its own with RECIPIENT_THROTTLE_RULES.
   */
  readonly recipientThrottle?: Throttle;
  /** Unknown-token lookups per client address (LOOKUP_THROTTLE_RULES); a throttle of its own by default. */
  readonly lookupThrottle?: Throttle;
  /** The plan's seat limit (src/modules/plans/seats.ts), checked under the organization lock; none: no
   *  limit. */
  readonly seats?: SeatCheck;
}

const HOUR_MS = 3600_000;
const normalizeEmail = (e: string) => e.trim().toLowerCase();

const toInvitation = (r: repo.InvitationRow): Invitation => ({
  id: r.id,
  email: r.email_normalized,
  role: r.role,
  status: r.status,
  expiresAt: r.expires_at.toISOString(),
  createdAt: r.created_at.toISOString(),
});

/**
 * Invitations: a pending invitation (and, for an existing account, a PENDING membership that grants
 * nothing) whose mail is queued in the same transaction, so a crash never loses or duplicates it.
 * Every change takes the organization lock first, as membership changes do (see the repository).
 */
export function createInvitationsService(deps: InvitationsDeps) {
  const ttl = deps.ttlMs ?? 7 * 24 * HOUR_MS;
  const perHour = deps.perHourLimit ?? 50;
  const perRecipient = deps.perRecipientHourLimit ?? 3;
  const linkBase = deps.publicUrl.replace(/\/+$/, '');
  const recipientThrottle =
    deps.recipientThrottle ?? createThrottle('invitations.recipient', RECIPIENT_THROTTLE_RULES);
  const alreadyPending = (email: string) =>
    new InvitationsError('INVITATION_ALREADY_PENDING', `${email} already has a pending invitation`);

  /**
   * Invitations are member-management actions: only a signed-in member acts on them, never an API key or
   * a system actor, whatever its scopes (docs/api-keys.md). MEMBERSHIP_FORBIDDEN (403), as `loadActor`.
   */
  function requireMember(ctx: TenantCtx): string {
    if (ctx.actor.kind !== 'user') {
      throw new MembershipsError('MEMBERSHIP_FORBIDDEN', 'only a signed-in member can manage invitations');
    }
    return ctx.actor.userId;
  }

  /** The permissions the acting member holds now (none unless ACTIVE); refuses a non-user actor. */
  async function actorPermissions(db: TenantDb, ctx: TenantCtx): Promise<Set<Permission>> {
    const userId = requireMember(ctx);
    const m = await repo.findMembership(db, ctx.tenantId, userId);
    if (m?.status !== 'active') return new Set();
    return new Set((await deps.rolePermissions(db, ctx.tenantId, m.role)) ?? []);
  }

  /** The permissions `role` grants in the organization; INVITATION_ROLE_UNKNOWN (400) when it has none such. */
  async function requestedRole(db: TenantDb, orgId: string, role: string): Promise<readonly Permission[]> {
    const requested = await deps.rolePermissions(db, orgId, role);
    if (!requested) throw new InvitationsError('INVITATION_ROLE_UNKNOWN', `unknown role "${role}"`);
    return requested;
  }

  /** INVITATION_ROLE_NOT_ALLOWED (403) unless the acting member holds every permission of `requested`. */
  async function checkRoleAllowed(db: TenantDb, ctx: TenantCtx, requested: readonly Permission[]) {
    if (!coversPermissions(await actorPermissions(db, ctx), requested)) {
      throw new InvitationsError(
        'INVITATION_ROLE_NOT_ALLOWED',
        'you cannot invite with a role above your own',
      );
    }
  }

  /**
   * INVITATION_RATE_LIMITED, with the seconds until a slot frees, once `perHour` invitation mails (first
   * sends and resends) left this hour, or `perRecipient` to this address. Run under the organization lock.
   */
  async function checkHourlyLimits(db: TenantDb, orgId: string, email: string): Promise<void> {
    const now = Date.now();
    const since = new Date(now - HOUR_MS);
    const refuse = (nth: Date, message: string) => {
      const retryAfterSeconds = Math.min(
        3600,
        Math.max(1, Math.ceil((nth.getTime() + HOUR_MS - now) / 1000)),
      );
      return new InvitationsError('INVITATION_RATE_LIMITED', message, { retryAfterSeconds });
    };
    const nth = await repo.nthNewestSendSince(db, orgId, since, perHour);
    if (nth) throw refuse(nth, `at most ${perHour} invitations (resends included) per hour`);
    const toRecipient = await repo.nthNewestSendSince(db, orgId, since, perRecipient, email);
    if (toRecipient) {
      throw refuse(toRecipient, `at most ${perRecipient} invitation mails to one address per hour`);
    }
  }

  /**
   * Counts one invitation mail to `email` across every organization (in process): beyond the rule,
   * INVITATION_RATE_LIMITED with the seconds until the window ends. Spent even when the transaction then
   * fails (conservative).
   */
  function countRecipientMail(email: string): void {
    try {
      recipientThrottle.acquire([recipientKey('invitation', email)]);
    } catch (err) {
      if (!(err instanceof AuthError) || err.code !== 'AUTH_THROTTLED') throw err;
      throw new InvitationsError(
        'INVITATION_RATE_LIMITED',
        'too many invitation mails to this address this hour; try again later',
        { retryAfterSeconds: err.retryAfterSeconds ?? 3600 },
      );
    }
  }

  /** Counts one invitation mail toward the hourly limits (in the transaction that queues it). */
  const recordSend = (db: TenantDb, orgId: string, invitationId: string, email: string) =>
    repo.recordSend(
      db,
      { organization_id: orgId, id: uuidv7(), invitation_id: invitationId, email_normalized: email },
      new Date(Date.now() - HOUR_MS),
    );

  /** Queues the mail in the caller's transaction. One job key per invitation: a resend replaces a mail
   *  not sent yet (whose link would be dead) instead of sending both. */
  async function queueMail(db: TenantDb, orgId: string, invitationId: string, email: string, token: string) {
    const link = `${linkBase}/accept-invitation?token=${token}`;
    const payload = invitationMail(email, await repo.organizationName(db, orgId), link);
    await enqueueJob(db, MAIL_TASK, { tenantId: orgId, payload }, { jobKey: `invitation:${invitationId}` });
  }

  return {
    /** Invites `email` with `role`. Refuses a caller other than a signed-in member (403
     *  MEMBERSHIP_FORBIDDEN: an API key, whatever its scopes; so do list, revoke and resend), an unknown
     *  role (400), a role above the inviter's own (403),
     *  an active member or an address with a pending invitation (409), every seat of the plan in use
     *  (409 SEAT_LIMIT_REACHED), and more than the organization's
     *  hourly allowance or the per-address one (429, `details.retryAfterSeconds`). Audited `member.invited` (never the token). */
    async invite(ctx: TenantCtx, input: { email: string; role: string }): Promise<Invitation> {
      requireMember(ctx);
      const email = normalizeEmail(input.email);
      try {
        return await deps.withTenant(ctx.tenantId, async (db) => {
          await repo.lockOrganization(db, ctx.tenantId);
          await checkRoleAllowed(db, ctx, await requestedRole(db, ctx.tenantId, input.role));
          await checkHourlyLimits(db, ctx.tenantId, email);
          const userId = await repo.findUserIdByEmail(db, email);
          if (userId && (await repo.findMembership(db, ctx.tenantId, userId))?.status === 'active') {
            throw new InvitationsError('INVITATION_MEMBER_EXISTS', `${email} is already a member`);
          }
          if (await repo.findPendingByEmail(db, ctx.tenantId, email)) throw alreadyPending(email);
          await deps.seats?.beforeInvite(db, ctx.tenantId);
          countRecipientMail(email);
          const { token, hash } = newInvitationToken();
          const row = await repo.insertInvitation(db, {
            organization_id: ctx.tenantId,
            id: uuidv7(),
            email_normalized: email,
            role: input.role,
            token_hash: hash,
            invited_by: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
            expires_at: new Date(Date.now() + ttl),
          });
          if (userId) await repo.upsertPendingMembership(db, ctx.tenantId, userId, input.role);
          await recordSend(db, ctx.tenantId, row.id, email);
          await queueMail(db, ctx.tenantId, row.id, email, token);
          await recordAudit(db, ctx, {
            action: 'member.invited',
            target: { type: 'invitation', id: row.id },
            metadata: { email, role: input.role, existing_account: Boolean(userId) },
            // The address is sealed under its own key: erasure of its person makes it unreadable.
            personal: { subject: { kind: 'email', email }, keys: ['email'] },
          });
          return toInvitation(row);
        });
      } catch (err) {
        // Backstop of the lock: the partial unique index allows one pending invitation per address.
        if (isUniqueViolation(err, 'invitations_pending_email_key')) throw alreadyPending(email);
        throw err;
      }
    },

    /** Pending invitations (expired ones included, until revoked or resent), newest first. */
    async listPending(
      ctx: TenantCtx,
      opts: { limit?: number; cursor?: string } = {},
    ): Promise<Page<Invitation>> {
      requireMember(ctx);
      const limit = pageLimit(opts.limit);
      const before = decodeCursor(opts.cursor, isTenantId);
      const rows = await deps.withTenant(
        ctx.tenantId,
        (db) => repo.listPending(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toInvitation);
    },

    /** Revokes a pending invitation (and the pending membership it created). Anything else is 404.
     *  Audited `invitation.revoked`. */
    async revoke(ctx: TenantCtx, id: string): Promise<void> {
      requireMember(ctx);
      if (!isTenantId(id)) throw invitationNotFound();
      await deps.withTenant(ctx.tenantId, async (db) => {
        await repo.lockOrganization(db, ctx.tenantId);
        const inv = await repo.findInvitation(db, ctx.tenantId, id);
        if (inv?.status !== 'pending') throw invitationNotFound();
        await repo.setStatus(db, ctx.tenantId, id, 'revoked');
        await repo.deletePendingMembership(db, ctx.tenantId, inv.email_normalized);
        await recordAudit(db, ctx, {
          action: 'invitation.revoked',
          target: { type: 'invitation', id },
          metadata: { email: inv.email_normalized, role: inv.role },
          personal: { subject: { kind: 'email', email: inv.email_normalized }, keys: ['email'] },
        });
      });
    },

    /** A new token, a new expiry and a new mail; the old token stops working at once. The role must be
     *  one the caller could invite with (403 INVITATION_ROLE_NOT_ALLOWED; 400 INVITATION_ROLE_UNKNOWN once
     *  deleted). Counts toward the hourly limits like a first send (429 beyond them). Audited `invitation.resent` (never the token). */
    async resend(ctx: TenantCtx, id: string): Promise<Invitation> {
      requireMember(ctx);
      if (!isTenantId(id)) throw invitationNotFound();
      return deps.withTenant(ctx.tenantId, async (db) => {
        await repo.lockOrganization(db, ctx.tenantId);
        const inv = await repo.findInvitation(db, ctx.tenantId, id);
        if (inv?.status !== 'pending') throw invitationNotFound();
        // Renewing hands the role out again: the same checks as inviting with it (a role since deleted
        // could not be accepted either).
        await checkRoleAllowed(db, ctx, await requestedRole(db, ctx.tenantId, inv.role));
        await checkHourlyLimits(db, ctx.tenantId, inv.email_normalized);
        // An expired invitation holds no seat; renewing it takes one again.
        if (inv.expires_at.getTime() <= Date.now()) await deps.seats?.beforeInvite(db, ctx.tenantId);
        countRecipientMail(inv.email_normalized);
        const { token, hash } = newInvitationToken();
        const row = await repo.renewToken(db, ctx.tenantId, id, hash, new Date(Date.now() + ttl));
        await recordSend(db, ctx.tenantId, id, inv.email_normalized);
        await queueMail(db, ctx.tenantId, id, inv.email_normalized, token);
        await recordAudit(db, ctx, {
          action: 'invitation.resent',
          target: { type: 'invitation', id },
          metadata: { email: inv.email_normalized, role: inv.role, expires_at: row.expires_at.toISOString() },
          personal: { subject: { kind: 'email', email: inv.email_normalized }, keys: ['email'] },
        });
        return toInvitation(row);
      });
    },

    ...createInvitationAcceptance(deps),
  };
}

export type InvitationsService = ReturnType<typeof createInvitationsService>;
