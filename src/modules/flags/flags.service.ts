import { canonicalJson } from '../../platform/audit/canonical-json.js';
import { recordAudit } from '../../platform/audit/record.js';
import { isForeignKeyViolation } from '../../platform/db/pg-errors.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import type { Principal, TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { evaluateAll, type FlagEvaluation, type SubjectOverride } from './flag-evaluation.js';
import { isOverrideOf } from './flag-identity.js';
import type { FlagCache, OrganizationFlagContext } from './flag-cache.js';
import { FLAG_KEY_RE, valueCheckerFor, type FlagVariant } from './flag-model.js';
import { flagNotFound, FlagsError, overrideNotFound } from './flags.errors.js';
import * as repo from './flags.repository.js';
import { entitlementSet } from '../plans/entitlements.js';

/** An organization's override of one flag, as the API shows it. */
export interface FlagOverride {
  flagKey: string;
  value: unknown;
  /** False while the flag does not allow overrides (the override is kept but not applied). */
  applied: boolean;
  updatedByUserId: string | null;
  updatedAt: string;
}

/**
 * A flag as an organization's flag managers see it: what they may set it to, and their override. Listed
 * when the flag allows overrides, or when the organization still has an override of it.
 */
export interface OverridableFlag {
  key: string;
  kind: 'boolean' | 'multivariate';
  description: string;
  /** Multivariate: the values an override may take (none for a boolean flag). */
  variants: FlagVariant[];
  allowOrgOverride: boolean;
  /** The organization's override; `applied` is false while the flag does not allow overrides. */
  override: { value: unknown; applied: boolean; updatedAt: string } | null;
}

/** Every flag's value for the caller, and why. */
export interface FlagsAnswer {
  flags: Record<string, unknown>;
  details: FlagEvaluation[];
}

export interface FlagsService {
  /**
   * Evaluates every flag for the current organization and the acting user, from the in-process cache
   * (a database read only after a change or expiry). User rollouts of a principal without a user (an API
   * key) use the organization id.
   */
  evaluate(ctx: TenantCtx): Promise<FlagsAnswer>;
  /**
   * The flags the organization may override (kind, description, variants) and those it has overridden,
   * with its override, by key, cursor-paginated.
   */
  listOverridable(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<OverridableFlag>>;
  /** The organization's overrides by flag key, cursor-paginated. */
  listOverrides(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<FlagOverride>>;
  /**
   * Sets the organization's value of a flag that allows overrides (audited `flag_override.set`).
   * FLAG_NOT_FOUND, FLAG_OVERRIDE_NOT_ALLOWED (409), FLAG_OVERRIDE_VALUE_INVALID (400: not a boolean /
   * not one of the variants' values).
   */
  setOverride(ctx: TenantCtx, flagKey: string, value: unknown): Promise<FlagOverride>;
  /** Removes the organization's override (audited `flag_override.removed`); FLAG_OVERRIDE_NOT_FOUND if none. */
  removeOverride(ctx: TenantCtx, flagKey: string): Promise<void>;
}

const userOf = (p: Principal): string | null =>
  p.kind === 'user' ? p.userId : p.kind === 'api_key' ? (p.userId ?? null) : null;

/** The organization-side of feature flags: evaluation and overrides. */
export function createFlagsService(deps: {
  withTenant: WithTenant;
  cache: FlagCache;
  /** Called after an override changed (invalidates the organization's cache entry on every instance). */
  overridesChanged: (orgId: string) => void;
}): FlagsService {
  const { withTenant, cache } = deps;

  const toOverride = (r: repo.OverrideRow, applied: boolean): FlagOverride => ({
    flagKey: r.flag_key,
    value: r.value,
    applied,
    updatedByUserId: r.updated_by_user_id,
    updatedAt: r.updated_at.toISOString(),
  });

  return {
    async evaluate(ctx) {
      const [set, org] = await Promise.all([cache.definitions(), cache.organization(ctx.tenantId)]);
      const details = evaluateAll(set, {
        organizationId: ctx.tenantId,
        userId: userOf(ctx.actor),
        plan: org.plan,
        attributes: org.attributes,
        overrides: org.overrides,
        entitlements: org.entitlements,
      });
      const values: Record<string, unknown> = {};
      for (const d of details) values[d.key] = d.value;
      return { flags: values, details };
    },

    async listOverridable(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const after = decodeCursor(opts?.cursor, (k) => FLAG_KEY_RE.test(k));
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listOverridableFlags(db, ctx.tenantId, { after, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(
        rows,
        limit,
        (r) => r.key,
        (r) => ({
          key: r.key,
          kind: r.kind,
          description: r.description,
          variants: r.kind === 'multivariate' ? (r.variants as FlagVariant[]) : [],
          allowOrgOverride: r.allow_org_override,
          override: r.override_updated_at
            ? {
                value: r.override_value,
                applied: r.allow_org_override,
                updatedAt: r.override_updated_at.toISOString(),
              }
            : null,
        }),
      );
    },

    async listOverrides(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const after = decodeCursor(opts?.cursor, (k) => FLAG_KEY_RE.test(k));
      // The flags as this process knows them: an override of a flag deleted since (one a tenant database
      // keeps) is not listed, nor taken for an override of a flag created again under its key.
      const flags = await cache.definitions();
      const refs = flags.flags.flatMap((f) => (f.identity ? [{ key: f.key, ...f.identity }] : []));
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listOverrides(db, ctx.tenantId, { after, limit: limit + 1, flags: refs }),
        { mode: 'read' },
      );
      const allowed = new Set(flags.flags.filter((f) => f.allowOrgOverride).map((f) => f.key));
      return toPage(
        rows,
        limit,
        (r) => r.flag_key,
        (r) => toOverride(r, allowed.has(r.flag_key)),
      );
    },

    async setOverride(ctx, flagKey, value) {
      if (!FLAG_KEY_RE.test(flagKey)) throw flagNotFound();
      let row: repo.OverrideRow;
      try {
        row = await withTenant(ctx.tenantId, async (db) => {
          const flag = await repo.findFlagForOverride(db, flagKey);
          if (!flag) throw flagNotFound();
          if (!flag.allow_org_override) {
            throw new FlagsError(
              'FLAG_OVERRIDE_NOT_ALLOWED',
              `flag "${flagKey}" does not allow organizations to override it`,
            );
          }
          try {
            valueCheckerFor({ kind: flag.kind, variants: flag.variants as FlagVariant[] })(value, 'value');
          } catch (err) {
            throw new FlagsError('FLAG_OVERRIDE_VALUE_INVALID', (err as Error).message);
          }
          // An override its key kept of an earlier flag (deleted since, in a tenant database) is replaced,
          // not shown as this flag's value before.
          const stored = await repo.findOverride(db, ctx.tenantId, flagKey);
          const before = stored && isOverrideOf(repo.refOf(flag), repo.originOf(stored)) ? stored : undefined;
          const saved = await repo.upsertOverride(db, {
            organization_id: ctx.tenantId,
            flag_key: flagKey,
            flag_id: flag.id,
            value,
            // A signed-in user; an API key is named by the audit event instead.
            updated_by_user_id: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
          });
          // A tenant database has no foreign key to the control database's flags: a flag deleted and
          // created again since the read above would leave this row naming the dead one, never applied.
          // Read again after the write: still that flag, or nothing is written (a deletion after this
          // read is the flag's deletion after the override was set).
          if ((await repo.findFlagForOverride(db, flagKey))?.id !== flag.id) throw flagNotFound();
          await recordAudit(db, ctx, {
            action: 'flag_override.set',
            target: { type: 'feature_flag', id: flagKey },
            changes: { before: before ? { value: before.value } : null, after: { value: saved.value } },
          });
          return saved;
        });
      } catch (err) {
        // The definition was deleted (and maybe created again) between the check and the insert.
        if (
          isForeignKeyViolation(err, 'feature_flag_overrides_flag_key_fkey') ||
          isForeignKeyViolation(err, 'feature_flag_overrides_flag_fkey')
        ) {
          throw flagNotFound();
        }
        throw err;
      }
      deps.overridesChanged(ctx.tenantId);
      return toOverride(row, true);
    },

    async removeOverride(ctx, flagKey) {
      if (!FLAG_KEY_RE.test(flagKey)) throw overrideNotFound();
      await withTenant(ctx.tenantId, async (db) => {
        // Only an override of the flag the key names now: one kept of a deleted flag is none.
        const flag = await repo.findFlagForOverride(db, flagKey);
        const removed = flag && (await repo.deleteOverride(db, ctx.tenantId, repo.refOf(flag)));
        if (!removed) throw overrideNotFound();
        await recordAudit(db, ctx, {
          action: 'flag_override.removed',
          target: { type: 'feature_flag', id: flagKey },
          changes: { before: { value: removed.value }, after: null },
        });
      });
      deps.overridesChanged(ctx.tenantId);
    },
  };
}

/** Loads an organization's flag context (the loader of its flag cache entry); overrides canonicalized once. */
export async function loadOrganizationFlagContext(
  withTenant: WithTenant,
  orgId: string,
): Promise<OrganizationFlagContext> {
  const row = await withTenant(orgId, (db) => repo.findOrganizationFlagContext(db, orgId), { mode: 'read' });
  const overrides = new Map<string, Required<SubjectOverride>>();
  for (const [key, o] of Object.entries(row?.overrides ?? {})) {
    overrides.set(key, { value: o.v, canon: canonicalJson(o.v), origin: { flagId: o.f } });
  }
  return {
    plan: row?.plan ?? 'free',
    attributes: row?.attributes ?? {},
    overrides,
    entitlements: entitlementSet(row?.entitlements),
  };
}
