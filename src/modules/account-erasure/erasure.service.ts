import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { UserProof } from '../../platform/tenancy/privileged.js';
import type { UserKeyStore } from '../../platform/user-keys/user-keys.js';
import { recordAudit } from '../../platform/audit/record.js';
import {
  recordPlatformAudit,
  platformSessionToken,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import { erasureDirectoryOrganizations } from '../../platform/tenancy/privileged-gdpr.js';
import { isTenantId as isUuid } from '../../platform/tenancy/context.js';
import { AuthError } from '../auth/auth.errors.js';
import type { PasswordHasher } from '../auth/passwords.js';
import { accountAttemptKeys, type Throttle } from '../auth/throttle.js';
import * as repo from './erasure.repository.js';
import * as lifecycle from '../organization-lifecycle/lifecycle.repository.js';
import * as identity from './erasure.identity.js';
import { ErasureError, lastOwner } from './erasure.errors.js';
import { sql } from 'kysely';
import { eraseDirectoryRecord, queueTenantDirectoryErasure } from './erasure-tenant-directories.js';

/** What the caller learns: whether this call erased the account (false: it already was). */
export interface ErasureResult {
  erased: boolean;
  /** Organizations the user left. */
  organizationsLeft: number;
  /** Organizations the user was alone in, scheduled for deletion. */
  organizationsMarkedForDeletion: number;
}

export interface ErasureService {
  /**
   * Erases the signed-in user after re-authentication: the current password and, with two-factor
   * authentication on, a TOTP or recovery code.
   * @throws AUTH_PASSWORD_INCORRECT (403), AUTH_THROTTLED (429), ACCOUNT_SECOND_FACTOR_REQUIRED (400),
   *   TWO_FACTOR_CODE_INVALID (400), ACCOUNT_LAST_OWNER (409)
   */
  eraseSelf(
    who: { userId: string; requestId: string; proof: UserProof; ip: string },
    input: { password: string; code?: string },
  ): Promise<ErasureResult>;
  /**
   * A platform administrator erases a user (audited in the platform chain).
   * @throws ACCOUNT_NOT_FOUND (404), ACCOUNT_LAST_OWNER (409), ACCOUNT_ERASURE_SELF (409)
   */
  eraseByAdmin(who: PlatformActor, userId: string): Promise<ErasureResult>;
}

export interface ErasureDeps {
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  /** The user's organizations (self path: the privileged lookup proven by the request's credential). */
  readonly userOrganizations: (userId: string, proof: UserProof) => Promise<string[]>;
  readonly hasher: PasswordHasher;
  /** Wrong passwords count here (per account and per client). */
  readonly throttle: Throttle;
  readonly twoFactor: {
    verify(userId: string, code: string): Promise<unknown>;
  };
  readonly userKeys: UserKeyStore;
  /** Drops every cached state of the user (sessions, tokens, key) here and on other instances. */
  readonly userChanged: (userId: string) => void;
  readonly membershipChanged: (orgId: string, userId: string) => void;
  readonly organizationChanged: (orgId: string) => void;
  readonly apiKeyRevoked: (keyId: string) => void;
  /** ORG_DELETION_GRACE_DAYS: when the deletion of an organization left with no member is due. */
  readonly deletionGraceDays: number;
  /** The deployment's tenant databases (`database` placements), by key: when there are any, the
   *  anonymization's transaction also queues the search of their SCIM directory records, naming them
   *  (erasure-tenant-directories.ts). */
  readonly tenantDatabases?: readonly string[];
  readonly log?: Logger;
}

/** The actor of what erasure records in each organization's chain. */
const ERASURE_ACTOR = { kind: 'system', name: 'account-erasure' } as const;

/** Users erased by a GDPR erasure request (issue 12): see README.md here and docs/erasure.md. */
export function createErasureService(deps: ErasureDeps): ErasureService {
  const tenantDatabases = deps.tenantDatabases ?? [];
  const { db, withTenant } = deps;

  /** What erasure will do in each organization; refuses (409) while the user is a blocking last owner. */
  async function plan(userId: string, orgIds: string[]) {
    const blocking: { id: string; slug: string; name: string }[] = [];
    const steps: { orgId: string; alone: boolean }[] = [];
    for (const orgId of orgIds) {
      const found = await withTenant(
        orgId,
        async (tdb) => ({
          members: await repo.memberships(tdb, orgId),
          org: await repo.organizationName(tdb, orgId),
        }),
        { mode: 'read' },
      );
      const me = found.members.find((m) => m.user_id === userId);
      if (!me || !found.org) continue;
      const others = found.members.filter((m) => m.user_id !== userId);
      const owners = found.members.filter((m) => m.role === 'owner' && m.status === 'active');
      if (me.role === 'owner' && owners.length === 1 && others.length > 0) {
        blocking.push({ id: orgId, slug: found.org.slug, name: found.org.name });
      }
      steps.push({ orgId, alone: others.length === 0 });
    }
    if (blocking.length > 0) throw lastOwner(blocking);
    return steps;
  }

  /**
   * Erases `userId` from `orgIds` and everywhere else, in an order that can be resumed: tenant rows first
   * (each organization in its own transaction with its audit events), then the identity rows, the key
   * last. Each step is idempotent, so a call after a crash finishes the work. `directoryOrgIds`: the
   * organizations holding a SCIM directory record of the user, member or not.
   */
  async function erase(
    userId: string,
    orgIds: string[],
    directoryOrgIds: string[],
    requestId: string,
  ): Promise<ErasureResult> {
    const subject = await identity.findSubject(db, userId);
    if (!subject) throw new ErasureError('ACCOUNT_NOT_FOUND', 'user not found');
    if (subject.erased_at) {
      // Finished before, possibly except the key (a crash after anonymizing): destroy it again. The tenant
      // databases' search is queued again (a platform administrator's way to re-run one given up).
      if (tenantDatabases.length > 0) await queueTenantDirectoryErasure(db, userId, tenantDatabases);
      await deps.userKeys.destroy({ kind: 'user', userId });
      deps.userChanged(userId);
      return { erased: false, organizationsLeft: 0, organizationsMarkedForDeletion: 0 };
    }
    const steps = await plan(userId, orgIds);
    const tomb = identity.tombstoneEmail(userId);
    let left = 0;
    let marked = 0;
    for (const step of steps) {
      // System events carry no request's client address: their request id is not the request's.
      const ctx: TenantCtx = {
        tenantId: step.orgId,
        actor: ERASURE_ACTOR,
        requestId: `erasure:${requestId}`,
      };
      const done = await withTenant(step.orgId, async (tdb) => {
        await repo.lockOrganization(tdb, step.orgId);
        // Again under the lock: an owner may have left since the plan was made.
        const members = await repo.memberships(tdb, step.orgId);
        const me = members.find((m) => m.user_id === userId);
        const others = members.filter((m) => m.user_id !== userId);
        const owners = members.filter((m) => m.role === 'owner' && m.status === 'active');
        if (me?.role === 'owner' && owners.length === 1 && others.length > 0) {
          const org = await repo.organizationName(tdb, step.orgId);
          throw lastOwner([{ id: step.orgId, slug: org?.slug ?? '', name: org?.name ?? '' }]);
        }
        const keys = await repo.revokeKeysCreatedBy(tdb, step.orgId, userId);
        for (const keyId of keys) {
          await recordAudit(tdb, ctx, {
            action: 'api_key.revoked',
            target: { type: 'api_key', id: keyId },
            metadata: { reason: 'creator_erased' },
          });
        }
        await repo.forgetInvitationsTo(tdb, step.orgId, subject.email_normalized, tomb);
        await repo.deleteDirectoryRecord(tdb, step.orgId, userId);
        const removed = await repo.deleteMembership(tdb, step.orgId, userId);
        if (removed) {
          await recordAudit(tdb, ctx, {
            action: 'member.removed',
            target: { type: 'member', id: userId },
            metadata: { reason: 'account_erased' },
          });
        }
        let deletion = false;
        if (others.length === 0) {
          // Nobody is left: the organization's deletion is scheduled as an owner's request would
          // (pending_deletion, due after the grace period; the deletion workflow takes it from there).
          const now = new Date();
          const due = new Date(now.getTime() + deps.deletionGraceDays * 86_400_000);
          const before = await lifecycle.lockLifecycle(tdb, step.orgId);
          if (before?.lifecycle_state === 'active') {
            deletion = await lifecycle.scheduleDeletion(tdb, step.orgId, now, due);
            if (deletion) {
              await recordAudit(tdb, ctx, {
                action: 'organization.deletion_scheduled',
                target: { type: 'organization', id: step.orgId },
                changes: {
                  before: { lifecycle_state: 'active', deletion_due_at: null },
                  after: { lifecycle_state: 'pending_deletion', deletion_due_at: due.toISOString() },
                },
                metadata: { reason: 'last_member_erased' },
              });
            }
          }
        }
        return { keys, removed, deletion };
      });
      for (const keyId of done.keys) deps.apiKeyRevoked(keyId);
      deps.membershipChanged(step.orgId, userId);
      if (done.deletion) deps.organizationChanged(step.orgId);
      if (done.removed) left += 1;
      if (done.deletion) marked += 1;
    }
    // Directory records of organizations the user is not a member of (created or deprovisioned with
    // `active: false`, or linked without a membership): deleted under the organization's lock, which every
    // SCIM change takes, as in a membership's step (which has deleted those of the organizations above).
    let records = 0;
    for (const orgId of directoryOrgIds) {
      if (steps.some((s) => s.orgId === orgId)) continue;
      if (await eraseDirectoryRecord(withTenant, orgId, userId)) records += 1;
    }
    // The key of the address (invitations sent to it before it had an account) while the address is
    // still known; the row is anonymized next.
    await deps.userKeys.destroy({ kind: 'email', email: subject.email_normalized });
    // The records tenant databases hold are the worker's (queued with the anonymization: both or neither).
    await identity.anonymize(
      db,
      userId,
      tenantDatabases.length > 0
        ? (trx) => queueTenantDirectoryErasure(trx, userId, tenantDatabases)
        : undefined,
    );
    deps.userChanged(userId);
    // Last: once it is gone, nothing sealed under it opens again.
    await deps.userKeys.destroy({ kind: 'user', userId });
    deps.userChanged(userId);
    deps.log?.info(
      {
        user: userId,
        organizations_left: left,
        organizations_marked: marked,
        directory_records_of_non_members: records,
      },
      'account erased',
    );
    return { erased: true, organizationsLeft: left, organizationsMarkedForDeletion: marked };
  }

  return {
    async eraseSelf(who, input) {
      const subject = await identity.findSubject(db, who.userId);
      if (!subject || subject.erased_at) throw new ErasureError('ACCOUNT_NOT_FOUND', 'user not found');
      // Wrong passwords count per account from this client address (and, higher, from all of them).
      const account = accountAttemptKeys(subject.id, who.ip, { exists: true });
      deps.throttle.acquire([account.fromAddress, account.total]);
      const ok = subject.password_hash
        ? await deps.hasher.verify(subject.password_hash, input.password)
        : await deps.hasher.verifyDummy(input.password);
      if (!ok) throw new AuthError('AUTH_PASSWORD_INCORRECT', 'the current password is incorrect');
      deps.throttle.release([account.total]);
      deps.throttle.reset(account.fromAddress);
      if (subject.totp_enabled_at) {
        if (!input.code) {
          throw new ErasureError(
            'ACCOUNT_SECOND_FACTOR_REQUIRED',
            'two-factor authentication is on: give a code from your app or a recovery code',
          );
        }
        await deps.twoFactor.verify(who.userId, input.code);
      }
      const orgIds = await deps.userOrganizations(who.userId, who.proof);
      // Proven by the same credential, while it is still live (erasure deletes it).
      const directoryOrgIds = await erasureDirectoryOrganizations(db, who.userId, who.proof, deps.log);
      return erase(who.userId, orgIds, directoryOrgIds, who.requestId);
    },

    async eraseByAdmin(who, userId) {
      if (!isUuid(userId)) throw new ErasureError('ACCOUNT_NOT_FOUND', 'user not found');
      if (who.actor.kind === 'user' && who.actor.userId === userId) {
        throw new ErasureError(
          'ACCOUNT_ERASURE_SELF',
          'erase your own account from your account page (it asks for your password)',
        );
      }
      const token = platformSessionToken(who);
      const subject = await identity.findSubject(db, userId);
      if (!subject) throw new ErasureError('ACCOUNT_NOT_FOUND', 'user not found');
      const found = await withPlatformScope(db, token, async (scope) => {
        const res = await sql<{ organization_id: string }>`select organization_id
          from app_platform_user_memberships(${userId})`.execute(scope);
        return {
          orgIds: res.rows.map((r) => r.organization_id),
          directoryOrgIds: await erasureDirectoryOrganizations(scope, userId, null, deps.log),
        };
      });
      const result = await erase(userId, found.orgIds, found.directoryOrgIds, who.requestId);
      if (result.erased) {
        await withPlatformScope(db, token, (scope) =>
          recordPlatformAudit(scope, who, {
            action: 'user.erased',
            target: { type: 'user', id: userId },
            metadata: {
              organizations_left: result.organizationsLeft,
              organizations_marked_for_deletion: result.organizationsMarkedForDeletion,
            },
          }),
        );
      }
      return result;
    },
  };
}
