import { sql } from 'kysely';
import { recordAudit } from '../../platform/audit/record.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { uuidv7 } from '../../platform/ids.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import * as members from '../memberships/memberships.repository.js';
import * as repo from './scim-directory.repository.js';
import { applyMappedRoles, isMappableRole } from './scim-group-roles.js';
import { groupNotFound, scimNotFound, ScimError, ScimGroupRoleError } from './scim.errors.js';
import {
  applyPatch,
  checkIfMatch,
  etagOf,
  filterToSql,
  GROUP_SCHEMA,
  LIST_SCHEMA,
  listWindow,
  printable,
  type FilterColumns,
} from './scim-resources.js';
import type { ListQuery, ScimList, ScimResource } from './scim-users.service.js';

export interface ScimGroupsService {
  get(ctx: TenantCtx, id: string): Promise<ScimResource>;
  list(ctx: TenantCtx, q: ListQuery): Promise<ScimList>;
  create(ctx: TenantCtx, body: unknown): Promise<ScimResource>;
  replace(ctx: TenantCtx, id: string, body: unknown, ifMatch?: string): Promise<ScimResource>;
  patch(ctx: TenantCtx, id: string, body: unknown, ifMatch?: string): Promise<ScimResource>;
  remove(ctx: TenantCtx, id: string, ifMatch?: string): Promise<void>;
  /**
   * Maps a group to a role (a built-in role other than owner), or unmaps it (null): its members get the
   * highest role of their mapped groups. GROUP_ROLE_INVALID (400) for another role; 404 for no such group.
   */
  setRole(
    ctx: TenantCtx,
    id: string,
    role: string | null,
  ): Promise<{ id: string; displayName: string; role: string | null }>;
}

const GROUP_FILTERS: FilterColumns = {
  displayname: (v) => sql<boolean>`lower(display_name) = lower(${String(v)})`,
  externalid: (v) => sql<boolean>`external_id = ${String(v)}`,
  id: (v) => (isTenantId(v) ? sql<boolean>`id = ${v}` : sql<boolean>`false`),
};

interface GroupFields {
  display_name: string;
  external_id: string | null;
  members: string[];
}

function groupFields(body: unknown): GroupFields {
  const b = (body ?? {}) as Record<string, unknown>;
  const displayName = typeof b.displayName === 'string' ? printable(b.displayName) : '';
  if (displayName.length === 0 || displayName.length > 400) {
    throw new ScimError(400, 'displayName is required', 'invalidValue');
  }
  const list = Array.isArray(b.members) ? (b.members as Record<string, unknown>[]) : [];
  const members = [...new Set(list.map((m) => (m && typeof m.value === 'string' ? m.value : '')))];
  return {
    display_name: displayName,
    external_id: typeof b.externalId === 'string' ? b.externalId.slice(0, 512) : null,
    members,
  };
}

/**
 * SCIM Groups of an organization and their members. A member must be a SCIM user of the same organization:
 * any other id (unknown, or another organization's) is refused with 400 invalidValue, naming nothing.
 */
export function createScimGroupsService(deps: {
  withTenant: WithTenant;
  baseUrl: string;
  membershipChanged: (orgId: string, userId: string) => void;
}): ScimGroupsService {
  /** A change under the organization lock (roles may change); changed members' lookups invalidated after. */
  async function change<T>(ctx: TenantCtx, fn: (db: TenantDb, changed: string[]) => Promise<T>): Promise<T> {
    const changed: string[] = [];
    try {
      return await deps.withTenant(ctx.tenantId, async (db) => {
        await members.lockOrganization(db, ctx.tenantId);
        return fn(db, changed);
      });
    } finally {
      for (const id of changed) deps.membershipChanged(ctx.tenantId, id);
    }
  }
  const reapply = async (ctx: TenantCtx, db: TenantDb, changed: string[], userIds: Iterable<string>) => {
    changed.push(...(await applyMappedRoles(ctx, db, userIds)));
  };
  const memberIds = async (db: TenantDb, orgId: string, id: string) =>
    (await repo.groupMembers(db, orgId, [id])).map((m) => m.user_id);

  async function toResource(db: TenantDb, orgId: string, g: repo.ScimGroupRow): Promise<ScimResource> {
    const m = await repo.groupMembers(db, orgId, [g.id]);
    return {
      schemas: [GROUP_SCHEMA],
      id: g.id,
      ...(g.external_id ? { externalId: g.external_id } : {}),
      displayName: g.display_name,
      members: m.map((x) => ({
        value: x.user_id,
        display: x.user_name,
        $ref: `${deps.baseUrl}/scim/v2/Users/${x.user_id}`,
      })),
      meta: {
        resourceType: 'Group',
        created: g.created_at.toISOString(),
        lastModified: g.updated_at.toISOString(),
        location: `${deps.baseUrl}/scim/v2/Groups/${g.id}`,
        version: etagOf(g.version),
      },
    };
  }

  async function checkMembers(db: TenantDb, orgId: string, ids: string[]) {
    const valid = ids.filter(isTenantId);
    const known = await repo.knownUsers(db, orgId, valid);
    if (valid.length !== ids.length || known.size !== ids.length) {
      throw new ScimError(400, 'members must be users of this directory', 'invalidValue');
    }
  }

  async function save(
    ctx: TenantCtx,
    db: TenantDb,
    changed: string[],
    id: string,
    f: GroupFields,
    create: boolean,
  ) {
    await checkMembers(db, ctx.tenantId, f.members);
    const before = create ? [] : await memberIds(db, ctx.tenantId, id);
    try {
      if (create) {
        await db
          .insertInto('scim_groups')
          .values({
            organization_id: ctx.tenantId,
            id,
            display_name: f.display_name,
            external_id: f.external_id,
          })
          .execute();
      } else {
        await db
          .updateTable('scim_groups')
          .set((eb) => ({
            display_name: f.display_name,
            external_id: f.external_id,
            version: eb('version', '+', 1),
            updated_at: new Date(),
          }))
          .where('organization_id', '=', ctx.tenantId)
          .where('id', '=', id)
          .execute();
      }
    } catch (err) {
      if (isUniqueViolation(err, 'scim_groups_display_name_key')) {
        throw new ScimError(409, 'a group with this displayName exists', 'uniqueness');
      }
      throw err;
    }
    await repo.setGroupMembers(db, ctx.tenantId, id, f.members);
    await reapply(ctx, db, changed, [...before, ...f.members]);
    await recordAudit(db, ctx, {
      action: create ? 'scim.group_created' : 'scim.group_changed',
      target: { type: 'scim_group', id },
      metadata: { display_name: f.display_name, members: f.members.length },
    });
    const row = await repo.findGroup(db, ctx.tenantId, id);
    return toResource(db, ctx.tenantId, row!);
  }

  async function load(db: TenantDb, orgId: string, id: string, ifMatch: string | undefined) {
    const row = isTenantId(id) ? await repo.findGroup(db, orgId, id, true) : undefined;
    if (!row) throw scimNotFound('Group');
    checkIfMatch(ifMatch, row.version);
    return row;
  }

  return {
    async get(ctx, id) {
      if (!isTenantId(id)) throw scimNotFound('Group');
      return deps.withTenant(
        ctx.tenantId,
        async (db) => {
          const row = await repo.findGroup(db, ctx.tenantId, id);
          if (!row) throw scimNotFound('Group');
          return toResource(db, ctx.tenantId, row);
        },
        { mode: 'read' },
      );
    },

    async list(ctx, q) {
      const where = q.filter ? filterToSql(q.filter, GROUP_FILTERS) : sql<boolean>`true`;
      const window = listWindow(q);
      return deps.withTenant(
        ctx.tenantId,
        async (db) => {
          const { rows, total } = await repo.listGroups(db, ctx.tenantId, where, window);
          const resources: ScimResource[] = [];
          for (const r of rows) resources.push(await toResource(db, ctx.tenantId, r));
          return {
            schemas: [LIST_SCHEMA],
            totalResults: total,
            startIndex: window.offset + 1,
            itemsPerPage: rows.length,
            Resources: resources,
          };
        },
        { mode: 'read' },
      );
    },

    async create(ctx, body) {
      const f = groupFields(body);
      return change(ctx, (db, changed) => save(ctx, db, changed, uuidv7(), f, true));
    },

    async replace(ctx, id, body, ifMatch) {
      const f = groupFields(body);
      return change(ctx, async (db, changed) => {
        await load(db, ctx.tenantId, id, ifMatch);
        return save(ctx, db, changed, id, f, false);
      });
    },

    async patch(ctx, id, body, ifMatch) {
      return change(ctx, async (db, changed) => {
        const row = await load(db, ctx.tenantId, id, ifMatch);
        const patched = await applyPatch('Group', await toResource(db, ctx.tenantId, row), body);
        return save(ctx, db, changed, id, groupFields(patched), false);
      });
    },

    async remove(ctx, id, ifMatch) {
      await change(ctx, async (db, changed) => {
        await load(db, ctx.tenantId, id, ifMatch);
        const before = await memberIds(db, ctx.tenantId, id);
        await db
          .deleteFrom('scim_groups')
          .where('organization_id', '=', ctx.tenantId)
          .where('id', '=', id)
          .execute();
        await recordAudit(db, ctx, { action: 'scim.group_deleted', target: { type: 'scim_group', id } });
        await reapply(ctx, db, changed, before);
      });
    },

    async setRole(ctx, id, role) {
      if (role !== null && !isMappableRole(role)) {
        throw new ScimGroupRoleError(
          'GROUP_ROLE_INVALID',
          'a group maps to a built-in role other than owner',
        );
      }
      if (!isTenantId(id)) throw groupNotFound();
      return change(ctx, async (db, changed) => {
        const row = await repo.findGroup(db, ctx.tenantId, id, true);
        if (!row) throw groupNotFound();
        if (row.role !== role) {
          await db
            .updateTable('scim_groups')
            .set({ role, updated_at: new Date() })
            .where('organization_id', '=', ctx.tenantId)
            .where('id', '=', id)
            .execute();
          await recordAudit(db, ctx, {
            action: 'scim.group_role_changed',
            target: { type: 'scim_group', id },
            changes: { before: { role: row.role }, after: { role } },
          });
          // Every active member may change: a new mapping can raise or lower anyone's highest mapped role.
          const everyone = await db
            .selectFrom('scim_users')
            .select('user_id')
            .where('organization_id', '=', ctx.tenantId)
            .where('active', '=', true)
            .execute();
          await reapply(
            ctx,
            db,
            changed,
            everyone.map((u) => u.user_id),
          );
        }
        return { id, displayName: row.display_name, role };
      });
    },
  };
}
