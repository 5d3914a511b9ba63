import { allPermissions, type Permission } from '../../platform/authz/permissions.js';
import { builtInRoles, isBuiltInRole, isPermission, type BuiltInRole } from '../../platform/authz/roles.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { recordAudit } from '../../platform/audit/record.js';
import { fieldChanges } from '../../platform/audit/changes.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import { loadActor, type Actor } from './actor.js';
import type { MembershipLookup } from './membership-lookup.js';
import { lockOrganization } from './memberships.repository.js';
import { MembershipsError, roleNotFound } from './memberships.errors.js';
import * as repo from './roles.repository.js';
import { missingPermissions, permissionsOf, ROLE_KEY_RE } from './role-permissions.js';

/** A role as the API shows it: built-in (fixed) or custom to the organization. */
export interface Role {
  key: string;
  name: string;
  permissions: Permission[];
  builtIn: boolean;
  createdAt: string | null;
}

export interface RolesService {
  /** Built-in roles first (owner, admin, member, viewer), then custom roles by key; cursor-paginated. */
  list(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<Role>>;
  /**
   * Creates a custom role. Needs `members:update_role` and every permission it grants
   * (MEMBERSHIP_ESCALATION otherwise). ROLE_KEY_RESERVED for a built-in key, ROLE_KEY_TAKEN for a used one.
   * Audited `role.created`.
   */
  create(ctx: TenantCtx, input: { key: string; name: string; permissions: string[] }): Promise<Role>;
  /**
   * Renames a custom role and/or replaces its permissions (the caller must hold the old and new ones).
   * Audited `role.updated` with before/after of the changed fields (name, permissions).
   */
  update(ctx: TenantCtx, key: string, patch: { name?: string; permissions?: string[] }): Promise<Role>;
  /** Deletes a custom role nobody holds (ROLE_IN_USE otherwise). Audited `role.deleted`. */
  remove(ctx: TenantCtx, key: string): Promise<void>;
}

const BUILT_IN_KEYS = Object.keys(builtInRoles) as BuiltInRole[];
const ORDER = new Map(allPermissions.map((p, i) => [p, i]));

const builtInRole = (key: BuiltInRole): Role => ({
  key,
  name: key.charAt(0).toUpperCase() + key.slice(1),
  permissions: [...builtInRoles[key]],
  builtIn: true,
  createdAt: null,
});

const toRole = (r: repo.RoleRow): Role => ({
  key: r.key,
  name: r.name,
  permissions: [...permissionsOf(r.key, r.permissions)].sort((a, b) => ORDER.get(a)! - ORDER.get(b)!),
  builtIn: false,
  createdAt: r.created_at.toISOString(),
});

/** Known permissions, deduplicated, in the canonical order; ROLE_PERMISSIONS_INVALID names the others. */
function validPermissions(list: readonly string[]): Permission[] {
  const invalid = list.filter((p) => !isPermission(p));
  if (invalid.length > 0) {
    throw new MembershipsError('ROLE_PERMISSIONS_INVALID', `unknown permission "${invalid[0]}"`, { invalid });
  }
  return [...new Set(list as Permission[])].sort((a, b) => ORDER.get(a)! - ORDER.get(b)!);
}

function refuseBuiltIn(key: string): void {
  if (isBuiltInRole(key)) {
    throw new MembershipsError('ROLE_KEY_RESERVED', `"${key}" is a built-in role and cannot be changed`);
  }
}

function requireCovered(actor: Actor, permissions: Iterable<Permission>, what: 'grant' | 'hold'): void {
  const missing = missingPermissions(actor.permissions, permissions);
  if (missing.length === 0) return;
  throw what === 'grant'
    ? new MembershipsError('MEMBERSHIP_ESCALATION', 'a role cannot grant permissions you do not hold', {
        missing,
      })
    : new MembershipsError('MEMBERSHIP_OUTRANKED', 'this role exceeds your own permissions', { missing });
}

/** Built-in and custom roles of an organization. Changes follow the memberships rules (see README). */
export function createRolesService(deps: {
  withTenant: WithTenant;
  lookup: Pick<MembershipLookup, 'invalidateOrganization'>;
}): RolesService {
  const { withTenant, lookup } = deps;

  /** A role change: organization locked, caller loaded; every cached membership of the org dropped after. */
  async function change<T>(ctx: TenantCtx, fn: (db: TenantDb, actor: Actor) => Promise<T>): Promise<T> {
    try {
      return await withTenant(ctx.tenantId, async (db) => {
        await lockOrganization(db, ctx.tenantId);
        return fn(db, await loadActor(db, ctx, 'members:update_role'));
      });
    } finally {
      lookup.invalidateOrganization(ctx.tenantId);
    }
  }

  return {
    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const cursor = decodeCursor(opts?.cursor, (k) => ROLE_KEY_RE.test(k));
      const start = cursor === undefined ? 0 : BUILT_IN_KEYS.indexOf(cursor as BuiltInRole) + 1;
      const builtIns = cursor === undefined || isBuiltInRole(cursor) ? BUILT_IN_KEYS.slice(start) : [];
      const after = cursor !== undefined && !isBuiltInRole(cursor) ? cursor : undefined;
      const custom = await withTenant(
        ctx.tenantId,
        async (db) => {
          await loadActor(db, ctx, 'members:read');
          return repo.listCustomRoles(db, ctx.tenantId, { after, limit: limit + 1 });
        },
        { mode: 'read' },
      );
      const roles = [...builtIns.map(builtInRole), ...custom.map(toRole)];
      return toPage(
        roles,
        limit,
        (r) => r.key,
        (r) => r,
      );
    },

    async create(ctx, input) {
      if (!ROLE_KEY_RE.test(input.key)) {
        throw new MembershipsError(
          'ROLE_KEY_INVALID',
          'key must be 2-40 lowercase letters, digits or underscores, starting with a letter',
        );
      }
      refuseBuiltIn(input.key);
      const permissions = validPermissions(input.permissions);
      return change(ctx, async (db, actor) => {
        requireCovered(actor, permissions, 'grant');
        const row = await repo.insertCustomRole(db, {
          organization_id: ctx.tenantId,
          key: input.key,
          name: input.name,
          permissions,
        });
        if (!row) throw new MembershipsError('ROLE_KEY_TAKEN', `a role "${input.key}" already exists`);
        // Memberships naming the key before it existed (held nothing) now hold its permissions.
        await repo.bumpHolders(db, ctx.tenantId, input.key);
        const role = toRole(row);
        await recordAudit(db, ctx, {
          action: 'role.created',
          target: { type: 'role', id: role.key },
          metadata: { name: role.name, permissions: role.permissions },
        });
        return role;
      });
    },

    async update(ctx, key, patch) {
      refuseBuiltIn(key);
      if (!ROLE_KEY_RE.test(key)) throw roleNotFound();
      const permissions = patch.permissions ? validPermissions(patch.permissions) : undefined;
      return change(ctx, async (db, actor) => {
        const current = await repo.findCustomRole(db, ctx.tenantId, key, { lock: 'update' });
        if (!current) throw roleNotFound();
        requireCovered(actor, permissionsOf(key, current.permissions), 'hold');
        if (permissions) requireCovered(actor, permissions, 'grant');
        const row = await repo.updateCustomRole(db, ctx.tenantId, key, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(permissions ? { permissions } : {}),
        });
        if (!row) throw roleNotFound();
        const before = validPermissions(current.permissions.filter(isPermission));
        if (permissions && before.join() !== permissions.join())
          await repo.bumpHolders(db, ctx.tenantId, key);
        const role = toRole(row);
        await recordAudit(db, ctx, {
          action: 'role.updated',
          target: { type: 'role', id: key },
          changes: fieldChanges(
            { name: current.name, permissions: before },
            { name: role.name, permissions: permissions ?? before },
          ),
        });
        return role;
      });
    },

    async remove(ctx, key) {
      refuseBuiltIn(key);
      if (!ROLE_KEY_RE.test(key)) throw roleNotFound();
      await change(ctx, async (db, actor) => {
        const current = await repo.findCustomRole(db, ctx.tenantId, key, { lock: 'update' });
        if (!current) throw roleNotFound();
        requireCovered(actor, permissionsOf(key, current.permissions), 'hold');
        const holders = await repo.countHolders(db, ctx.tenantId, key);
        if (holders > 0) {
          throw new MembershipsError(
            'ROLE_IN_USE',
            `${holders} member(s) hold this role: give them another first`,
            {
              holders,
            },
          );
        }
        await repo.deleteCustomRole(db, ctx.tenantId, key);
        await recordAudit(db, ctx, {
          action: 'role.deleted',
          target: { type: 'role', id: key },
          metadata: {
            name: current.name,
            permissions: validPermissions(current.permissions.filter(isPermission)),
          },
        });
      });
    },
  };
}
