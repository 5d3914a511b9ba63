import { recordAudit } from '../../platform/audit/record.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { mailOwnersAboutDeletion } from './lifecycle-mail.js';
import * as lifecycle from './lifecycle.repository.js';

/** What a deletion request or cancel found: done (or nothing to do), no organization, or the wrong state. */
export type DeletionRequestOutcome = 'done' | 'missing' | 'wrong_state';

/**
 * The owner's deletion request, inside the caller's transaction (permission already checked): an active
 * organization becomes `pending_deletion`, due `graceDays` from `now`, audited
 * `organization.deletion_scheduled`, every owner mailed. One pending already: nothing changes or is written.
 * A suspended one: `wrong_state`.
 */
export async function scheduleDeletionIn(
  db: TenantDb,
  ctx: TenantCtx,
  opts: { now: Date; graceDays: number; settingsLink: (slug: string) => string },
): Promise<DeletionRequestOutcome> {
  const before = await lifecycle.lockLifecycle(db, ctx.tenantId);
  if (!before) return 'missing';
  if (before.lifecycle_state === 'suspended') return 'wrong_state';
  if (before.lifecycle_state === 'pending_deletion') return 'done';
  const due = new Date(opts.now.getTime() + opts.graceDays * 86_400_000);
  await lifecycle.scheduleDeletion(db, ctx.tenantId, opts.now, due);
  await recordAudit(db, ctx, {
    action: 'organization.deletion_scheduled',
    target: { type: 'organization', id: ctx.tenantId },
    changes: {
      before: { lifecycle_state: 'active', deletion_due_at: null },
      after: { lifecycle_state: 'pending_deletion', deletion_due_at: due.toISOString() },
    },
  });
  const key = opts.now.toISOString();
  await mailOwnersAboutDeletion(db, ctx.tenantId, before, 'deletion_scheduled', key, opts.settingsLink, due);
  return 'done';
}

/**
 * An owner's cancel, inside the caller's transaction (permission already checked): `pending_deletion` →
 * `active`, audited `organization.deletion_cancelled`, every owner mailed. Any other state: `wrong_state`.
 */
export async function cancelDeletionIn(
  db: TenantDb,
  ctx: TenantCtx,
  opts: { now: Date; settingsLink: (slug: string) => string },
): Promise<DeletionRequestOutcome> {
  const before = await lifecycle.lockLifecycle(db, ctx.tenantId);
  if (!before) return 'missing';
  if (before.lifecycle_state !== 'pending_deletion') return 'wrong_state';
  await lifecycle.cancelDeletion(db, ctx.tenantId, opts.now);
  await recordAudit(db, ctx, {
    action: 'organization.deletion_cancelled',
    target: { type: 'organization', id: ctx.tenantId },
    changes: {
      before: {
        lifecycle_state: 'pending_deletion',
        deletion_due_at: before.deletion_due_at?.toISOString() ?? null,
      },
      after: { lifecycle_state: 'active', deletion_due_at: null },
    },
  });
  const key = opts.now.toISOString();
  await mailOwnersAboutDeletion(db, ctx.tenantId, before, 'deletion_cancelled', key, opts.settingsLink, null);
  return 'done';
}
