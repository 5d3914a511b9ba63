import { sql } from 'kysely';
import { recordAudit } from '../../platform/audit/record.js';
import type { ScimEmail } from '../../platform/db/schema.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { SeatCheck } from '../plans/seats.js';
import * as members from '../memberships/memberships.repository.js';
import * as repo from './scim-directory.repository.js';
import { assertRelinkable, scimAccount } from './scim-accounts.js';
import { DEFAULT_ROLE, mappedRole } from './scim-group-roles.js';
import { scimLastOwner, scimNotFound, scimOwnerOutranks, scimSeatLimit, ScimError } from './scim.errors.js';
import {
  applyPatch,
  checkIfMatch,
  etagOf,
  filterToSql,
  LIST_SCHEMA,
  listWindow,
  printable,
  USER_SCHEMA,
  type FilterColumns,
} from './scim-resources.js';

export type ScimResource = Record<string, unknown>;
export interface ScimList {
  schemas: string[];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: ScimResource[];
}
export interface ListQuery {
  filter?: string;
  startIndex?: number;
  count?: number;
}

export interface ScimUsersService {
  get(ctx: TenantCtx, id: string): Promise<ScimResource>;
  list(ctx: TenantCtx, q: ListQuery): Promise<ScimList>;
  create(ctx: TenantCtx, body: unknown): Promise<ScimResource>;
  replace(ctx: TenantCtx, id: string, body: unknown, ifMatch?: string): Promise<ScimResource>;
  patch(ctx: TenantCtx, id: string, body: unknown, ifMatch?: string): Promise<ScimResource>;
  remove(ctx: TenantCtx, id: string, ifMatch?: string): Promise<void>;
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const USER_FILTERS: FilterColumns = {
  username: (v) => sql<boolean>`lower(user_name) = lower(${String(v)})`,
  externalid: (v) => sql<boolean>`external_id = ${String(v)}`,
  'emails.value': (v) =>
    sql<boolean>`exists (select 1 from jsonb_array_elements(emails) e
      where lower(e->>'value') = lower(${String(v)}))`,
  active: (v) => sql<boolean>`active = ${v === true || String(v).toLowerCase() === 'true'}`,
  id: (v) => (isTenantId(v) ? sql<boolean>`user_id = ${v}` : sql<boolean>`false`),
  displayname: (v) => sql<boolean>`display_name = ${String(v)}`,
};

const str = (v: unknown, max: number): string | null =>
  typeof v === 'string' && v.length > 0 ? v.slice(0, max) : null;
/** A display name: {@link printable}, then as {@link str}. */
const name = (v: unknown, max: number): string | null => str(typeof v === 'string' ? printable(v) : v, max);

/** The SCIM attributes of a User body this service stores; 400 invalidValue when userName is missing. */
export function userFields(body: unknown): repo.ScimUserFields {
  const b = (body ?? {}) as Record<string, unknown>;
  const userName = str(b.userName, 320);
  if (!userName) throw new ScimError(400, 'userName is required', 'invalidValue');
  const names = (b.name ?? {}) as Record<string, unknown>;
  const emails: ScimEmail[] = Array.isArray(b.emails)
    ? (b.emails as Record<string, unknown>[])
        .filter((e) => e && typeof e.value === 'string')
        .slice(0, 20)
        .map((e) => ({
          value: String(e.value).slice(0, 320),
          ...(typeof e.type === 'string' ? { type: e.type.slice(0, 40) } : {}),
          ...(e.primary === true || e.primary === 'True' || e.primary === 'true' ? { primary: true } : {}),
        }))
    : [];
  const active =
    b.active === undefined ||
    b.active === true ||
    (typeof b.active === 'string' && b.active.toLowerCase() === 'true');
  return {
    user_name: userName,
    external_id: str(b.externalId, 512),
    given_name: name(names.givenName, 200),
    family_name: name(names.familyName, 200),
    display_name: name(b.displayName, 400),
    emails,
    active,
  };
}

/** The address the platform account is found or created by: the primary email, else the first, else userName. */
function accountEmail(f: repo.ScimUserFields): string {
  const email = (f.emails.find((e) => e.primary) ?? f.emails[0])?.value ?? f.user_name;
  if (email.length > 254 || !EMAIL_RE.test(email.trim())) {
    throw new ScimError(400, 'the user needs an email address (emails or userName)', 'invalidValue');
  }
  return email.trim();
}

/**
 * SCIM Users: a user of the platform plus its ACTIVE membership in the token's organization. `active:
 * false` and DELETE remove the membership (the scim_users row stays for `active: false`, so `active:
 * true` restores it); the membership lookups are invalidated on every instance once committed, so the
 * user's sessions and tokens answer 404 for the organization from the next request on.
 */
export function createScimUsersService(deps: {
  withTenant: WithTenant;
  membershipChanged: (orgId: string, userId: string) => void;
  /** After an account's address was first proven by the directory (its sessions ended): drops the
   *  user's cached sessions on every instance. */
  userChanged?: (userId: string) => void;
  baseUrl: string;
  /** The plan's seat limit, checked under the organization lock before a membership is added (as for
   *  invitations and SSO provisioning); none: no limit. */
  seats?: SeatCheck;
}): ScimUsersService {
  const { withTenant } = deps;

  const toResource = (r: repo.ScimUserRow): ScimResource => ({
    schemas: [USER_SCHEMA],
    id: r.user_id,
    ...(r.external_id ? { externalId: r.external_id } : {}),
    userName: r.user_name,
    name: {
      ...(r.given_name ? { givenName: r.given_name } : {}),
      ...(r.family_name ? { familyName: r.family_name } : {}),
    },
    ...(r.display_name ? { displayName: r.display_name } : {}),
    emails: r.emails,
    active: r.active,
    meta: {
      resourceType: 'User',
      created: r.created_at.toISOString(),
      lastModified: r.updated_at.toISOString(),
      location: `${deps.baseUrl}/scim/v2/Users/${r.user_id}`,
      version: etagOf(r.version),
    },
  });

  /** Runs a change under the organization lock; invalidates the user's membership lookup afterwards. */
  async function change<T>(
    ctx: TenantCtx,
    fn: (db: TenantDb, touched: string[], claimed: string[]) => Promise<T>,
  ) {
    const touched: string[] = [];
    const claimed: string[] = [];
    try {
      const out = await withTenant(ctx.tenantId, async (db) => {
        await members.lockOrganization(db, ctx.tenantId);
        return fn(db, touched, claimed);
      });
      for (const id of claimed) deps.userChanged?.(id);
      return out;
    } finally {
      for (const id of touched) deps.membershipChanged(ctx.tenantId, id);
    }
  }

  /** Adds the active membership (audited as `action`) unless the user is a member; true when added. */
  async function grant(
    ctx: TenantCtx,
    db: TenantDb,
    userId: string,
    action: string,
    claimed = false,
  ): Promise<boolean> {
    if (await members.findAccess(db, ctx.tenantId, userId)) return false;
    // A new member takes a seat: 403 naming the limit when none is free, and the transaction (the account
    // and the scim_users row with it) is rolled back.
    await scimSeatLimit(() => deps.seats?.beforeInvite(db, ctx.tenantId));
    const role = (await mappedRole(db, ctx.tenantId, userId)) ?? DEFAULT_ROLE;
    await members.insertMembership(db, {
      organization_id: ctx.tenantId,
      user_id: userId,
      role,
      status: 'active',
    });
    await recordAudit(db, ctx, {
      action,
      target: { type: 'member', id: userId },
      metadata: { role, ...(claimed ? { address_claimed: true } : {}) },
    });
    return true;
  }

  /** Whether the calling token was issued by a member who is an active owner now. */
  async function tokenOfAnOwner(ctx: TenantCtx, db: TenantDb): Promise<boolean> {
    const tokenId =
      ctx.actor.kind === 'system' ? /^scim:([0-9a-f]{16})$/.exec(ctx.actor.name)?.[1] : undefined;
    if (!tokenId) return false;
    const token = await db
      .selectFrom('scim_tokens')
      .select('created_by_user_id')
      .where('organization_id', '=', ctx.tenantId)
      .where('token_id', '=', tokenId)
      .executeTakeFirst();
    if (!token?.created_by_user_id) return false;
    const creator = await members.findAccess(db, ctx.tenantId, token.created_by_user_id);
    return creator?.role === 'owner' && creator.status === 'active';
  }

  async function revoke(ctx: TenantCtx, db: TenantDb, userId: string) {
    const access = await members.findAccess(db, ctx.tenantId, userId);
    if (!access) return;
    // An owner is outranked by everyone else: only a token an owner issued removes one (an admin's token
    // would otherwise remove the owners its admin cannot).
    if (access.role === 'owner' && !(await tokenOfAnOwner(ctx, db))) throw scimOwnerOutranks();
    if (
      access.role === 'owner' &&
      access.status === 'active' &&
      (await members.countActiveOwners(db, ctx.tenantId)) <= 1
    ) {
      throw scimLastOwner();
    }
    await members.deleteMembership(db, ctx.tenantId, userId);
    await recordAudit(db, ctx, {
      action: 'scim.user_deprovisioned',
      target: { type: 'member', id: userId },
      metadata: { role: access.role, status: access.status },
    });
  }

  async function uniqueName(db: TenantDb, orgId: string, userName: string, self?: string) {
    const other = await repo.findScimUserByName(db, orgId, userName);
    if (other && other.user_id !== self) {
      throw new ScimError(409, 'a user with this userName exists', 'uniqueness');
    }
  }

  async function write(ctx: TenantCtx, db: TenantDb, touched: string[], id: string, f: repo.ScimUserFields) {
    const current = await repo.findScimUser(db, ctx.tenantId, id, true);
    if (!current) throw scimNotFound('User');
    await uniqueName(db, ctx.tenantId, f.user_name, id);
    touched.push(id);
    if (current.active && !f.active) await revoke(ctx, db, id);
    if (!current.active && f.active) {
      if (!(await members.findAccess(db, ctx.tenantId, id))) await assertRelinkable(db, ctx.tenantId, id);
      await grant(ctx, db, id, 'scim.user_reactivated');
    }
    return toResource(await repo.updateScimUser(db, ctx.tenantId, id, f));
  }

  async function load(db: TenantDb, orgId: string, id: string, ifMatch: string | undefined) {
    const row = isTenantId(id) ? await repo.findScimUser(db, orgId, id, true) : undefined;
    if (!row) throw scimNotFound('User');
    checkIfMatch(ifMatch, row.version);
    return row;
  }

  return {
    async get(ctx, id) {
      if (!isTenantId(id)) throw scimNotFound('User');
      const row = await withTenant(ctx.tenantId, (db) => repo.findScimUser(db, ctx.tenantId, id), {
        mode: 'read',
      });
      if (!row) throw scimNotFound('User');
      return toResource(row);
    },

    async list(ctx, q) {
      const where = q.filter ? filterToSql(q.filter, USER_FILTERS) : sql<boolean>`true`;
      const window = listWindow(q);
      const { rows, total } = await withTenant(
        ctx.tenantId,
        (db) => repo.listScimUsers(db, ctx.tenantId, where, window),
        { mode: 'read' },
      );
      return {
        schemas: [LIST_SCHEMA],
        totalResults: total,
        startIndex: window.offset + 1,
        itemsPerPage: rows.length,
        Resources: rows.map(toResource),
      };
    },

    async create(ctx, body) {
      const f = userFields(body);
      const email = accountEmail(f);
      return change(ctx, async (db, touched, claimedUsers) => {
        await uniqueName(db, ctx.tenantId, f.user_name);
        const { userId, created, claimed } = await scimAccount(db, ctx.tenantId, email);
        if (!created && (await repo.findScimUser(db, ctx.tenantId, userId))) {
          throw new ScimError(409, 'this account is already provisioned', 'uniqueness');
        }
        touched.push(userId);
        if (claimed) claimedUsers.push(userId);
        const granted = f.active && (await grant(ctx, db, userId, 'scim.user_provisioned', claimed));
        // Every claim is audited: with no membership added (created inactive, or already a member), by
        // an event of its own.
        if (claimed && !granted) {
          await recordAudit(db, ctx, {
            action: 'scim.user_linked',
            target: { type: 'user', id: userId },
            metadata: { active: f.active, address_claimed: true },
          });
        }
        try {
          return toResource(await repo.insertScimUser(db, ctx.tenantId, userId, f));
        } catch (err) {
          if (isUniqueViolation(err))
            throw new ScimError(409, 'this user is already provisioned', 'uniqueness');
          throw err;
        }
      });
    },

    async replace(ctx, id, body, ifMatch) {
      const f = userFields(body);
      return change(ctx, async (db, touched) => {
        await load(db, ctx.tenantId, id, ifMatch);
        return write(ctx, db, touched, id, f);
      });
    },

    async patch(ctx, id, body, ifMatch) {
      return change(ctx, async (db, touched) => {
        const row = await load(db, ctx.tenantId, id, ifMatch);
        const patched = await applyPatch('User', toResource(row), body);
        return write(ctx, db, touched, id, userFields(patched));
      });
    },

    async remove(ctx, id, ifMatch) {
      await change(ctx, async (db, touched) => {
        await load(db, ctx.tenantId, id, ifMatch);
        touched.push(id);
        await revoke(ctx, db, id);
        await repo.deleteScimUser(db, ctx.tenantId, id);
      });
    },
  };
}
