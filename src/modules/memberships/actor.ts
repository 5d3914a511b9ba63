import type { Permission } from '../../platform/authz/permissions.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { findAccess } from './memberships.repository.js';
import { MembershipsError } from './memberships.errors.js';
import { permissionsOf } from './role-permissions.js';

/** The acting member as the database says now, in the caller's transaction. */
export interface Actor {
  readonly userId: string;
  readonly role: string;
  readonly permissions: ReadonlySet<Permission>;
}

const forbidden = (message: string) => new MembershipsError('MEMBERSHIP_FORBIDDEN', message);

/**
 * Loads the acting user's own ACTIVE membership inside the caller's transaction and checks `permission`
 * (null: any active member).
 * Nothing else about the actor is trusted: not the role the request was authorized with (it may have
 * changed since), not a client-supplied id. Only user actors act on memberships; a pending membership, a
 * missing one or an organization being deleted is MEMBERSHIP_FORBIDDEN (one pending deletion is not:
 * its owners may cancel; the tenant path keeps it read-only otherwise).
 */
export async function loadActor(db: TenantDb, ctx: TenantCtx, permission: Permission | null): Promise<Actor> {
  if (ctx.actor.kind !== 'user') throw forbidden('only a signed-in member can do this');
  const userId = ctx.actor.userId;
  const row = await findAccess(db, ctx.tenantId, userId);
  if (!row || row.status !== 'active' || row.suspension_reason === 'deletion') {
    throw forbidden('you are not an active member of this organization');
  }
  const permissions = permissionsOf(row.role, row.custom_permissions);
  if (permission && !permissions.has(permission)) throw forbidden(`missing permission ${permission}`);
  return { userId, role: row.role, permissions };
}
