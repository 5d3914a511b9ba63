import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

/** The organization's lifecycle fields, locked for the caller's transaction. */
export interface LifecycleRow {
  slug: string;
  name: string;
  lifecycle_state: 'active' | 'suspended' | 'pending_deletion';
  suspension_reason: 'admin' | 'billing' | 'deletion' | null;
  deletion_requested_at: Date | null;
  deletion_due_at: Date | null;
}

export async function lockLifecycle(db: TenantDb, orgId: string): Promise<LifecycleRow | undefined> {
  return db
    .selectFrom('organizations')
    .select([
      'slug',
      'name',
      'lifecycle_state',
      'suspension_reason',
      'deletion_requested_at',
      'deletion_due_at',
    ])
    .where('id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
}

/** `active` → `pending_deletion`, due at `due`. False when it was not active. */
export async function scheduleDeletion(db: TenantDb, orgId: string, now: Date, due: Date): Promise<boolean> {
  const r = await db
    .updateTable('organizations')
    .set({
      lifecycle_state: 'pending_deletion',
      deletion_requested_at: now,
      deletion_due_at: due,
      updated_at: now,
    })
    .where('id', '=', orgId)
    .where('lifecycle_state', '=', 'active')
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

/** `pending_deletion` → `active`. False when it was not pending deletion (the hard delete has begun). */
export async function cancelDeletion(db: TenantDb, orgId: string, now: Date): Promise<boolean> {
  const r = await db
    .updateTable('organizations')
    .set({ lifecycle_state: 'active', deletion_requested_at: null, deletion_due_at: null, updated_at: now })
    .where('id', '=', orgId)
    .where('lifecycle_state', '=', 'pending_deletion')
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

/** The active owners to mail (at most 100), by id. */
export async function activeOwners(
  db: TenantDb,
  orgId: string,
): Promise<{ userId: string; email: string }[]> {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id as userId', 'users.email as email'])
    .where('memberships.organization_id', '=', orgId)
    .where('memberships.role', '=', 'owner')
    .where('memberships.status', '=', 'active')
    .orderBy('users.id')
    .limit(100)
    .execute();
}
