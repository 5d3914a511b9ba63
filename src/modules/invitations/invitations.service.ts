import { createHash, randomBytes } from 'node:crypto';
import type { Permission } from '../../platform/authz/permissions.js';
import { coversPermissions } from '../../platform/authz/roles.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import { uuidv7 } from '../../platform/ids.js';
import {
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  toPage,
  type Page,
} from '../../platform/pagination.js';
import * as repo from './invitations.repository.js';
import { InvitationsError, invitationNotFound } from './invitations.errors.js';
import { invitationMail } from './invitation-mail.js';

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
  /** Called after a membership changed, so the next request sees it. */
  readonly membershipChanged: (orgId: string, userId: string) => void;
  readonly publicUrl: string;
  readonly ttlMs?: number;
  /** Invitations an organization may send per hour. */
  readonly perHourLimit?: number;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest();
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
 */
export function createInvitationsService(deps: InvitationsDeps) {
  const ttl = deps.ttlMs ?? 7 * 24 * 3600_000;
  const perHour = deps.perHourLimit ?? 50;

  async function actorPermissions(db: TenantDb, ctx: TenantCtx): Promise<Set<Permission>> {
    if (ctx.actor.kind !== 'user') return new Set();
    const m = await db
      .selectFrom('memberships')
      .select('role')
      .where('organization_id', '=', ctx.tenantId)
      .where('user_id', '=', ctx.actor.userId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return new Set(m ? ((await deps.rolePermissions(db, ctx.tenantId, m.role)) ?? []) : []);
  }

  async function queueMail(db: TenantDb, orgId: string, invitationId: string, email: string, token: string) {
    const org = await db
      .selectFrom('organizations')
      .select('name')
      .where('id', '=', orgId)
      .executeTakeFirstOrThrow();
    const link = `${deps.publicUrl}/accept-invitation?token=${token}`;
    await enqueueJob(
      db,
      MAIL_TASK,
      { tenantId: orgId, payload: invitationMail(email, org.name, link) },
      {
        jobKey: `invitation:${invitationId}`,
      },
    );
  }

  return {
    /** Invites `email` with `role`. Refuses a member, a pending address, a role above the inviter's own,
     *  and more than the organization's hourly allowance. */
    async invite(ctx: TenantCtx, input: { email: string; role: string }): Promise<Invitation> {
      const email = normalizeEmail(input.email);
      return deps.withTenant(ctx.tenantId, async (db) => {
        const requested = await deps.rolePermissions(db, ctx.tenantId, input.role);
        if (!requested) throw new InvitationsError('INVITATION_ROLE_UNKNOWN', `unknown role "${input.role}"`);
        if (!coversPermissions(await actorPermissions(db, ctx), requested)) {
          throw new InvitationsError(
            'INVITATION_ROLE_NOT_ALLOWED',
            'you cannot invite with a role above your own',
          );
        }
        const since = new Date(Date.now() - 3600_000);
        if ((await repo.countCreatedSince(db, ctx.tenantId, since)) >= perHour) {
          throw new InvitationsError('INVITATION_RATE_LIMITED', `at most ${perHour} invitations per hour`, {
            retryAfterSeconds: 3600,
          });
        }
        const user = await db
          .selectFrom('users')
          .select('id')
          .where('email_normalized', '=', email)
          .executeTakeFirst();
        if (user) {
          const existing = await db
            .selectFrom('memberships')
            .select('status')
            .where('organization_id', '=', ctx.tenantId)
            .where('user_id', '=', user.id)
            .executeTakeFirst();
          if (existing?.status === 'active') {
            throw new InvitationsError('INVITATION_MEMBER_EXISTS', `${email} is already a member`);
          }
        }
        if (await repo.findPendingByEmail(db, ctx.tenantId, email)) {
          throw new InvitationsError(
            'INVITATION_ALREADY_PENDING',
            `${email} already has a pending invitation`,
          );
        }
        const token = randomBytes(32).toString('base64url');
        const row = await repo.insertInvitation(db, {
          organization_id: ctx.tenantId,
          id: uuidv7(),
          email_normalized: email,
          role: input.role,
          token_hash: hashToken(token),
          invited_by: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
          expires_at: new Date(Date.now() + ttl),
        });
        if (user) {
          await db
            .insertInto('memberships')
            .values({ organization_id: ctx.tenantId, user_id: user.id, role: input.role, status: 'pending' })
            .onConflict((oc) => oc.columns(['organization_id', 'user_id']).doUpdateSet({ role: input.role }))
            .execute();
        }
        await queueMail(db, ctx.tenantId, row.id, email, token);
        return toInvitation(row);
      });
    },

    /** Pending invitations, newest first. */
    async listPending(
      ctx: TenantCtx,
      opts: { limit?: number; cursor?: string } = {},
    ): Promise<Page<Invitation>> {
      const limit = Math.min(Math.max(opts.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
      const before = decodeCursor(opts.cursor, isTenantId);
      const rows = await deps.withTenant(
        ctx.tenantId,
        (db) => repo.listPending(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toInvitation);
    },

    /** Revokes a pending invitation (and the pending membership it created). */
    async revoke(ctx: TenantCtx, id: string): Promise<void> {
      if (!isTenantId(id)) throw invitationNotFound();
      await deps.withTenant(ctx.tenantId, async (db) => {
        const inv = await repo.findInvitation(db, ctx.tenantId, id);
        if (!inv || inv.status !== 'pending') throw invitationNotFound();
        await db
          .updateTable('invitations')
          .set({ status: 'revoked' })
          .where('organization_id', '=', ctx.tenantId)
          .where('id', '=', id)
          .execute();
        await deletePendingMembership(db, ctx.tenantId, inv.email_normalized);
      });
    },

    /** A new token and a new mail; the old token stops working. */
    async resend(ctx: TenantCtx, id: string): Promise<Invitation> {
      if (!isTenantId(id)) throw invitationNotFound();
      return deps.withTenant(ctx.tenantId, async (db) => {
        const inv = await repo.findInvitation(db, ctx.tenantId, id);
        if (!inv || inv.status !== 'pending') throw invitationNotFound();
        const token = randomBytes(32).toString('base64url');
        const row = await db
          .updateTable('invitations')
          .set({ token_hash: hashToken(token), expires_at: new Date(Date.now() + ttl) })
          .where('organization_id', '=', ctx.tenantId)
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await queueMail(db, ctx.tenantId, `${id}:${row.expires_at.getTime()}`, inv.email_normalized, token);
        return toInvitation(row);
      });
    },

    /**
     * Accepts as a signed-in user whose email matches the invitation (case-insensitively). Accepting an
     * invitation this user already accepted is harmless and answers the same.
     */
    async accept(userId: string, token: string): Promise<{ organizationId: string; role: string }> {
      const found = await deps.invitationByToken(hashToken(token));
      if (!found) throw invitationNotFound();
      return deps.withTenant(found.organizationId, async (db) => {
        const inv = await repo.findInvitation(db, found.organizationId, found.invitationId);
        if (!inv) throw invitationNotFound();
        const user = await db
          .selectFrom('users')
          .select(['id', 'email_normalized'])
          .where('id', '=', userId)
          .executeTakeFirstOrThrow();
        if (user.email_normalized !== inv.email_normalized) {
          throw new InvitationsError(
            'INVITATION_EMAIL_MISMATCH',
            `this invitation was sent to ${inv.email_normalized}; sign in with that address to accept it`,
            { invitedEmail: inv.email_normalized },
          );
        }
        return activate(db, inv, user.id);
      });
    },

    /**
     * Register-and-accept in one step: `createUser` inserts the account (no Personal Organization) inside
     * this transaction, with the invitation's own email, so a different address can never join.
     */
    async acceptAsNewUser(
      token: string,
      createUser: (db: TenantDb, email: string) => Promise<string>,
    ): Promise<{ organizationId: string; role: string; userId: string }> {
      const found = await deps.invitationByToken(hashToken(token));
      if (!found) throw invitationNotFound();
      return deps.withTenant(found.organizationId, async (db) => {
        const inv = await repo.findInvitation(db, found.organizationId, found.invitationId);
        if (!inv) throw invitationNotFound();
        checkUsable(inv);
        const userId = await createUser(db, inv.email_normalized);
        return { ...(await activate(db, inv, userId)), userId };
      });
    },
  };

  function checkUsable(inv: repo.InvitationRow): void {
    if (inv.status === 'revoked')
      throw new InvitationsError('INVITATION_REVOKED', 'this invitation was revoked');
    if (inv.status === 'pending' && inv.expires_at.getTime() < Date.now()) {
      throw new InvitationsError('INVITATION_EXPIRED', 'this invitation has expired; ask for a new one');
    }
  }

  async function activate(db: TenantDb, inv: repo.InvitationRow, userId: string) {
    const orgId = inv.organization_id;
    if (inv.status === 'accepted') {
      const m = await db
        .selectFrom('memberships')
        .select('role')
        .where('organization_id', '=', orgId)
        .where('user_id', '=', userId)
        .where('status', '=', 'active')
        .executeTakeFirst();
      if (m) return { organizationId: orgId, role: m.role };
      throw new InvitationsError('INVITATION_ALREADY_ACCEPTED', 'this invitation was already used');
    }
    checkUsable(inv);
    await db
      .insertInto('memberships')
      .values({ organization_id: orgId, user_id: userId, role: inv.role, status: 'active' })
      .onConflict((oc) =>
        oc.columns(['organization_id', 'user_id']).doUpdateSet((eb) => ({
          role: inv.role,
          status: 'active',
          updated_at: new Date(),
          permissions_version: eb('memberships.permissions_version', '+', 1),
        })),
      )
      .execute();
    await db
      .updateTable('invitations')
      .set({ status: 'accepted', accepted_at: new Date() })
      .where('organization_id', '=', orgId)
      .where('id', '=', inv.id)
      .execute();
    deps.membershipChanged(orgId, userId);
    return { organizationId: orgId, role: inv.role };
  }
}

async function deletePendingMembership(db: TenantDb, orgId: string, email: string): Promise<void> {
  const user = await db
    .selectFrom('users')
    .select('id')
    .where('email_normalized', '=', email)
    .executeTakeFirst();
  if (!user) return;
  await db
    .deleteFrom('memberships')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', user.id)
    .where('status', '=', 'pending')
    .execute();
}

export type InvitationsService = ReturnType<typeof createInvitationsService>;
