import { createHash } from 'node:crypto';
import type { Permission } from '../../platform/authz/permissions.js';
import { isUniqueViolation } from '../../platform/db/pg-errors.js';
import { recordAudit } from '../../platform/audit/record.js';
import { fieldChanges } from '../../platform/audit/changes.js';
import { uuidv7 } from '../../platform/ids.js';
import { IdempotencyError, requestHash, withIdempotency } from '../../platform/idempotency.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { PrivilegedOps, UserOrganizationRow, UserProof } from '../../platform/tenancy/privileged.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { loadActor } from '../memberships/actor.js';
import { insertMembership } from '../memberships/memberships.repository.js';
import { AuthError } from '../auth/auth.errors.js';
import { createThrottle, type Throttle, type ThrottleRule } from '../auth/throttle.js';
import * as repo from './organizations.repository.js';
import {
  cancelDeletionIn,
  scheduleDeletionIn,
  type DeletionRequestOutcome,
} from '../organization-lifecycle/deletion-requests.js';
import { normalizeSlug } from './organization-records.js';
import { organizationNotFound, OrganizationsError, slugTaken } from './organizations.errors.js';

export { SLUG_RE } from './organization-slug.js';

/** Who acts on a route without a tenant (`auth: { kind: 'user' }`): a verified user. */
export interface UserCtx {
  readonly userId: string;
  readonly requestId: string;
}

/** An organization as the API shows it. */
export interface Organization {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  /** The region it was created in (REGIONS: its data lives only there), or null (the control database). */
  region: string | null;
  settings: Record<string, unknown>;
  requireTwoFactor: boolean;
  /** `active`, `suspended` or `pending_deletion` (docs/organization-lifecycle.md). */
  lifecycleState: 'active' | 'suspended' | 'pending_deletion';
  /** When the deletion was scheduled (null unless pending deletion). */
  deletionRequestedAt: string | null;
  /** When the hard delete may start (null unless pending deletion). */
  deletionDueAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One of the caller's organizations, with the caller's role in it. */
export interface MyOrganization {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  role: string;
}

export interface OrganizationsService {
  /** The configured regions (REGIONS), in name order, and DEFAULT_REGION (null: the control database). */
  regions(): { data: { name: string }[]; default: string | null };
  /**
   * Creates an organization owned by the caller: the organization, its placement and the caller's ACTIVE
   * owner membership, in one transaction of the new tenant. With an idempotency key a retry (same user,
   * same key) answers the first result with `replayed: true`. ORGANIZATION_SLUG_TAKEN when the slug is used.
   * Audited `organization.created` in the new organization's chain (a replay writes nothing).
   */
  create(
    ctx: UserCtx,
    input: { slug: string; name: string; region?: string },
    opts?: { idempotencyKey?: string },
  ): Promise<{ organization: Organization; replayed: boolean }>;
  /** The current organization. */
  get(ctx: TenantCtx): Promise<Organization>;
  /**
   * Changes name, slug and/or settings (replaced as a whole). Needs `org:update`. Audited
   * `organization.updated` with before/after of the changed fields (settings key by key).
   */
  update(
    ctx: TenantCtx,
    patch: { name?: string; slug?: string; settings?: Record<string, unknown> },
  ): Promise<Organization>;
  /** The user's organizations with their role, by name, cursor-paginated (a named privileged read, only
   *  with `proof`, a live credential of that user the request presented). */
  listMine(
    userId: string,
    proof: UserProof,
    opts?: { limit?: number; cursor?: string },
  ): Promise<Page<MyOrganization>>;
  /**
   * Schedules the organization's deletion (needs `org:delete`, the owner's): `pending_deletion`, due in
   * `deletionGraceDays`. From then on it is read-only for its members until an owner cancels or the
   * deletion job deletes it for good. Every owner is mailed; audited `organization.deletion_scheduled`
   * (once: a repeated request changes nothing and writes nothing). 409 ORGANIZATION_NOT_ACTIVE while
   * suspended.
   */
  requestDeletion(ctx: TenantCtx): Promise<Organization>;
  /**
   * Cancels a scheduled deletion (needs `org:delete`): back to `active`, every owner mailed, audited
   * `organization.deletion_cancelled`. 409 ORGANIZATION_NOT_PENDING_DELETION when none is scheduled.
   */
  cancelDeletion(ctx: TenantCtx): Promise<Organization>;
}

export interface OrganizationsDeps {
  readonly withTenant: WithTenant;
  readonly privileged: Pick<PrivilegedOps, 'userOrganizations'>;
  /** Called once a change that decides who may enter the organization has committed (deletion
   *  requested, renamed): drop the organization from the membership lookup, organization policy and slug caches. */
  readonly invalidateOrganization: (orgId: string) => void;
  /** Called once an organization has committed with a slug it did not have before (created, renamed):
   *  a cached slug → id mapping of that slug, on any instance, names another organization. */
  readonly slugClaimed?: (slug: string) => void;
  /** Organization creations per user (rule `user`); defaults to ORGANIZATION_CREATE_THROTTLE_RULES. */
  readonly createThrottle?: Throttle;
  /** ORG_DELETION_GRACE_DAYS: how long a scheduled deletion waits (default 30). */
  readonly deletionGraceDays?: number;
  /** The console link of an organization's settings (mails). */
  readonly settingsLink?: (slug: string) => string;
  /** Whether billing forbids scheduling the deletion (a Stripe subscription still billing it). */
  readonly deletionBlockedByBilling?: (db: TenantDb, orgId: string) => Promise<boolean>;
  /** The clock (tests). */
  readonly now?: () => Date;
  /** REGIONS: region → its tenant database's key, and DEFAULT_REGION (data residency). */
  readonly regions?: {
    readonly databases: Readonly<Record<string, string>>;
    readonly defaultRegion?: string;
  };
}

/**
 * Organization creation: 10 per user per hour (in process, per instance), so one account cannot mint
 * organizations in bulk (each of which may send its own invitation mails). A keyed replay gives its
 * attempt back.
 */
export const ORGANIZATION_CREATE_THROTTLE_RULES = {
  user: { limit: 10, windowMs: 60 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/** Settings are a JSON object of at most this many bytes. */
export const MAX_SETTINGS_BYTES = 16 * 1024;

export const toOrganization = (r: repo.OrganizationRow): Organization => ({
  id: r.id,
  slug: r.slug,
  name: r.name,
  personal: r.personal,
  region: r.region,
  settings: r.settings,
  requireTwoFactor: r.require_two_factor,
  lifecycleState: r.lifecycle_state,
  deletionRequestedAt: r.deletion_requested_at?.toISOString() ?? null,
  deletionDueAt: r.deletion_due_at?.toISOString() ?? null,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const toMine = (r: UserOrganizationRow): MyOrganization => ({
  id: r.organizationId,
  slug: r.slug,
  name: r.name,
  personal: r.personal,
  role: r.role,
});

/**
 * The id a keyed create gets: derived from (user, key), so a retry lands in the same tenant and finds
 * the idempotency record there. A UUID of version 8 (custom).
 */
export function organizationIdForKey(userId: string, key: string): string {
  const b = createHash('sha256').update(`organizations.create\0${userId}\0${key}`).digest().subarray(0, 16);
  b[6] = 0x80 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `(name, id)` cursors of the "my organizations" list. */
const encodeMineKey = (r: UserOrganizationRow) => JSON.stringify([r.name, r.organizationId]);
function decodeMineKey(cursor: string | undefined): { name: string; id: string } | undefined {
  const parse = (k: string): unknown => {
    try {
      return JSON.parse(k);
    } catch {
      return undefined;
    }
  };
  const valid = (k: string) => {
    const v = parse(k);
    return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isTenantId(v[1]);
  };
  const key = decodeCursor(cursor, valid);
  if (key === undefined) return undefined;
  const [name, id] = JSON.parse(key) as [string, string];
  return { name, id };
}

/** Re-checks a user actor's permission in the transaction; other actors were authorized by the route guard
 *  (API keys) or are the platform's own code (system). */
async function authorize(db: TenantDb, ctx: TenantCtx, permission: Permission): Promise<void> {
  if (ctx.actor.kind === 'user') await loadActor(db, ctx, permission);
  else if (ctx.actor.kind === 'anonymous') {
    throw new OrganizationsError('ORGANIZATION_FORBIDDEN', 'authentication required');
  }
}

function validSettings(settings: Record<string, unknown>): Record<string, unknown> {
  const ok =
    typeof settings === 'object' &&
    settings !== null &&
    !Array.isArray(settings) &&
    Buffer.byteLength(JSON.stringify(settings)) <= MAX_SETTINGS_BYTES;
  if (!ok) {
    throw new OrganizationsError(
      'ORGANIZATION_SETTINGS_INVALID',
      `settings must be a JSON object of at most ${MAX_SETTINGS_BYTES} bytes`,
    );
  }
  return settings;
}

/** Organizations: creation by a user, the current organization, "my organizations", deletion requests. */
export function createOrganizationsService(deps: OrganizationsDeps): OrganizationsService {
  const { withTenant, privileged } = deps;
  const settingsLink = deps.settingsLink ?? ((slug: string) => `/o/${slug}/settings`);
  const creations =
    deps.createThrottle ?? createThrottle('organizations.create', ORGANIZATION_CREATE_THROTTLE_RULES);
  return {
    regions() {
      const names = Object.keys(deps.regions?.databases ?? {}).sort();
      return { data: names.map((name) => ({ name })), default: deps.regions?.defaultRegion ?? null };
    },

    async create(ctx, input, opts) {
      const slug = normalizeSlug(input.slug);
      const attempt = { kind: 'user', value: ctx.userId };
      try {
        creations.acquire([attempt]);
      } catch (err) {
        if (!(err instanceof AuthError) || err.code !== 'AUTH_THROTTLED') throw err;
        throw new OrganizationsError(
          'ORGANIZATION_CREATE_THROTTLED',
          'too many organizations created this hour; try again later',
          { retryAfterSeconds: err.retryAfterSeconds ?? 3600 },
        );
      }
      const where = regionPlacement(deps.regions, input.region);
      const key = opts?.idempotencyKey;
      const id = key ? organizationIdForKey(ctx.userId, key) : uuidv7();
      const hash = requestHash(
        input.region === undefined
          ? { slug, name: input.name }
          : { slug, name: input.name, region: input.region },
      );
      const scope = 'organizations.create';
      /** A keyed create that already committed: its record answers (in the organization's own placement). */
      const replay = async (db: TenantDb) => {
        if (!key || !(await repo.findOrganization(db, id))) throw slugTaken(slug);
        const prior = await withIdempotency<Organization>(db, id, { scope, key, hash }, () => {
          throw new IdempotencyError(
            'IDEMPOTENCY_KEY_REUSED',
            'this Idempotency-Key already created an organization and has expired',
            422,
          );
        });
        return { organization: prior.result, replayed: prior.replayed };
      };
      const created = await withTenant(
        id,
        async (db) => {
          const org = { id, slug, name: input.name, personal: false, region: where?.region ?? null };
          const row = await repo.insertOrganizationIfFree(db, org, { anyConflict: Boolean(key) });
          if (!row) {
            // Either the slug is taken, or (keyed) this very create already committed. A scope opened in a
            // region may not be where that organization is (another region asked, or DEFAULT_REGION
            // changed since): its replay runs in a scope of its own placement, below.
            if (where !== undefined && key && (await repo.findOrganization(db, id))) return REPLAY_ELSEWHERE;
            return replay(db);
          }
          await repo.insertPlacement(db, org, where);
          await insertMembership(db, {
            organization_id: id,
            user_id: ctx.userId,
            role: 'owner',
            status: 'active',
          });
          await recordAudit(
            db,
            { tenantId: id, actor: { kind: 'user', userId: ctx.userId }, requestId: ctx.requestId },
            {
              action: 'organization.created',
              target: { type: 'organization', id },
              metadata: { slug, name: input.name, personal: false, owner: ctx.userId },
            },
          );
          const organization = toOrganization(row);
          if (key) await withIdempotency(db, id, { scope, key, hash }, async () => organization);
          return { organization, replayed: false };
        },
        where ? { creatingIn: where.databaseKey } : undefined,
      );
      const result = created === REPLAY_ELSEWHERE ? await withTenant(id, replay) : created;
      // A replay of a keyed create that already committed created nothing.
      if (result.replayed) creations.release([attempt]);
      else deps.slugClaimed?.(slug);
      return result;
    },

    async get(ctx) {
      const row = await withTenant(ctx.tenantId, (db) => repo.findOrganization(db, ctx.tenantId), {
        mode: 'read',
      });
      if (!row) throw organizationNotFound();
      return toOrganization(row);
    },

    async update(ctx, patch) {
      const slug = patch.slug !== undefined ? normalizeSlug(patch.slug) : undefined;
      const settings = patch.settings !== undefined ? validSettings(patch.settings) : undefined;
      try {
        const updated = await withTenant(ctx.tenantId, async (db) => {
          await authorize(db, ctx, 'org:update');
          const before = await repo.findOrganization(db, ctx.tenantId, { forUpdate: true });
          if (!before) return undefined;
          const after = await repo.updateOrganization(db, ctx.tenantId, { name: patch.name, slug, settings });
          if (!after) return undefined;
          await recordAudit(db, ctx, {
            action: 'organization.updated',
            target: { type: 'organization', id: ctx.tenantId },
            changes: fieldChanges(before, after, ['name', 'slug', 'settings']),
          });
          return { after, renamed: before.slug !== after.slug };
        });
        if (!updated) throw organizationNotFound();
        if (updated.renamed) {
          // The old slug must stop resolving to this organization on every instance, and the new one
          // must resolve to it.
          deps.invalidateOrganization(ctx.tenantId);
          deps.slugClaimed?.(updated.after.slug);
        }
        return toOrganization(updated.after);
      } catch (err) {
        if (slug !== undefined && isUniqueViolation(err, 'organizations_slug_key')) throw slugTaken(slug);
        throw err;
      }
    },

    async listMine(userId, proof, opts) {
      const limit = pageLimit(opts?.limit);
      const after = decodeMineKey(opts?.cursor);
      if (!isTenantId(userId)) return { data: [], nextCursor: null };
      const rows = await privileged.userOrganizations(userId, proof, { after, limit: limit + 1 });
      return toPage(rows, limit, encodeMineKey, toMine);
    },

    async requestDeletion(ctx) {
      const now = (deps.now ?? (() => new Date()))();
      const graceDays = deps.deletionGraceDays ?? 30;
      return deletionStep(
        ctx,
        async (db) => {
          if (await deps.deletionBlockedByBilling?.(db, ctx.tenantId)) {
            throw new OrganizationsError(
              'ORGANIZATION_SUBSCRIPTION_ACTIVE',
              'the organization still has a Stripe subscription: cancel it in the billing portal first',
            );
          }
          return scheduleDeletionIn(db, ctx, { now, graceDays, settingsLink });
        },
        () =>
          new OrganizationsError(
            'ORGANIZATION_NOT_ACTIVE',
            'a suspended organization cannot be scheduled for deletion: it must be reactivated first',
          ),
      );
    },

    async cancelDeletion(ctx) {
      const now = (deps.now ?? (() => new Date()))();
      return deletionStep(
        ctx,
        (db) => cancelDeletionIn(db, ctx, { now, settingsLink }),
        () =>
          new OrganizationsError(
            'ORGANIZATION_NOT_PENDING_DELETION',
            'this organization is not scheduled for deletion',
          ),
      );
    },
  };

  /** A deletion request or cancel (`org:delete`) in one transaction; the organization as it is after it. */
  async function deletionStep(
    ctx: TenantCtx,
    step: (db: TenantDb) => Promise<DeletionRequestOutcome>,
    wrongState: () => OrganizationsError,
  ): Promise<Organization> {
    try {
      const row = await withTenant(ctx.tenantId, async (db) => {
        await authorize(db, ctx, 'org:delete');
        const outcome = await step(db);
        if (outcome === 'wrong_state') throw wrongState();
        return outcome === 'missing' ? undefined : repo.findOrganization(db, ctx.tenantId);
      });
      if (!row) throw organizationNotFound();
      return toOrganization(row);
    } finally {
      deps.invalidateOrganization(ctx.tenantId);
    }
  }
}

/** The answer of a creating scope whose keyed create already committed in another placement. */
const REPLAY_ELSEWHERE = Symbol('replay elsewhere');

/**
 * Where an organization is created: the region asked for, else DEFAULT_REGION, else nowhere (the control
 * database). ORGANIZATION_REGION_UNKNOWN for a region this server does not have.
 */
export function regionPlacement(
  regions: OrganizationsDeps['regions'],
  asked: string | undefined,
): repo.RegionPlacement | undefined {
  const region = asked ?? regions?.defaultRegion;
  if (region === undefined) return undefined;
  const databaseKey =
    regions && Object.hasOwn(regions.databases, region) ? regions.databases[region] : undefined;
  if (databaseKey === undefined) {
    throw new OrganizationsError(
      'ORGANIZATION_REGION_UNKNOWN',
      `no region "${region.slice(0, 63)}" is configured`,
    );
  }
  return { region, databaseKey };
}
