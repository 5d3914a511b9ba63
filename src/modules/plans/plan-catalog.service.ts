import { canonicalJson } from '../../platform/audit/canonical-json.js';
import {
  platformSessionToken,
  recordPlatformAudit,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import { sql } from 'kysely';
import { withPlatformScope, type PlatformScope } from '../../platform/tenancy/platform-scope.js';
import {
  checkPlanSpec,
  PLAN_KEY_RE,
  specFromInput,
  type Plan,
  type PlanInput,
  type PlanPatch,
  type PlanSpec,
} from './plan-model.js';
import { invalidPlan, planNotFound, PlansError } from './plans.errors.js';
import * as repo from './plan-catalog.repository.js';

export interface PlanCatalogService {
  /** Every plan by key, archived and non-public ones included, cursor-paginated. */
  list(opts?: { limit?: number; cursor?: string }): Promise<Page<Plan>>;
  /** One plan; PLAN_NOT_FOUND. */
  get(key: string): Promise<Plan>;
  /**
   * Creates a plan (audited `plan.created` in the platform chain). Idempotent by key: the same key with
   * the same content answers the stored plan (`created` false) and writes nothing; different content is
   * PLAN_KEY_TAKEN (409). PLAN_INVALID (400).
   */
  create(by: PlatformActor, input: PlanInput): Promise<{ plan: Plan; created: boolean }>;
  /** Replaces the given fields and bumps the version (audited `plan.updated`, changed fields before and
   *  after); a patch that changes nothing writes nothing. */
  update(by: PlatformActor, key: string, patch: PlanPatch): Promise<Plan>;
  /** Archives (no longer offered; organizations on it stay) or restores a plan (audited `plan.archived` /
   *  `plan.unarchived`); already so: no-op. */
  setArchived(by: PlatformActor, key: string, archived: boolean): Promise<Plan>;
}

const SPEC_FIELDS = [
  'name',
  'description',
  'seatLimit',
  'quotas',
  'entitlements',
  'price',
  'public',
  'auditRetentionDays',
] as const satisfies readonly (keyof PlanSpec)[];

export const specOf = (p: Plan): PlanSpec =>
  Object.fromEntries(SPEC_FIELDS.map((f) => [f, p[f]])) as unknown as PlanSpec;

/** Serializes the writes of one plan (the runtime role cannot lock its row: it may only read plans), so
 *  each audit event's "before" is what the write replaced. */
async function lockPlan(scope: PlatformScope, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`plans:${key}`}))`.execute(scope);
}

function changedFields(a: PlanSpec, b: PlanSpec) {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const f of SPEC_FIELDS) {
    if (canonicalJson(a[f]) !== canonicalJson(b[f])) {
      before[f] = a[f];
      after[f] = b[f];
    }
  }
  return { before, after };
}

/**
 * Platform administration of the plan catalog. Each write runs in the administrator's platform scope:
 * the definer function (which checks that scope itself) and the platform audit event in one transaction;
 * then `catalogChanged` drops, on every instance, whatever caches hold plans (organizations' flag
 * contexts carry their plan's entitlements).
 */
export function createPlanCatalogService(deps: {
  db: PlatformDb;
  catalogChanged: () => void;
}): PlanCatalogService {
  const { db } = deps;
  const target = (key: string) => ({ type: 'plan', id: key });

  return {
    async list(opts) {
      const limit = pageLimit(opts?.limit);
      const after = decodeCursor(opts?.cursor, (k) => PLAN_KEY_RE.test(k));
      const rows = await repo.listPlanRows(db, { after, limit: limit + 1, archived: true, hidden: true });
      return toPage(rows, limit, (r) => r.key, repo.toPlan);
    },

    async get(key) {
      if (!PLAN_KEY_RE.test(key)) throw planNotFound();
      const row = await repo.findPlanRow(db, key);
      if (!row) throw planNotFound();
      return repo.toPlan(row);
    },

    async create(by, input) {
      if (typeof input.key !== 'string' || !PLAN_KEY_RE.test(input.key)) {
        throw invalidPlan(`key must match ${String(PLAN_KEY_RE)}`);
      }
      const spec = checkPlanSpec(specFromInput(input));
      const result = await withPlatformScope(db, platformSessionToken(by), async (scope) => {
        const inserted = await repo.savePlanRow(scope, input.key, spec, true);
        if (!inserted) {
          const existing = await repo.findPlanRow(scope, input.key);
          if (existing && canonicalJson(specOf(repo.toPlan(existing))) === canonicalJson(spec)) {
            return { row: existing, created: false };
          }
          throw new PlansError('PLAN_KEY_TAKEN', `a different plan "${input.key}" already exists`);
        }
        await recordPlatformAudit(scope, by, {
          action: 'plan.created',
          target: target(input.key),
          changes: { before: null, after: spec },
        });
        return { row: inserted, created: true };
      });
      if (result.created) deps.catalogChanged();
      return { plan: repo.toPlan(result.row), created: result.created };
    },

    async update(by, key, patch) {
      if (!PLAN_KEY_RE.test(key)) throw planNotFound();
      const { row, changed } = await withPlatformScope(db, platformSessionToken(by), async (scope) => {
        await lockPlan(scope, key);
        const current = await repo.findPlanRow(scope, key);
        if (!current) throw planNotFound();
        const before = specOf(repo.toPlan(current));
        const spec = checkPlanSpec({ ...before, ...patch });
        const diff = changedFields(before, spec);
        if (Object.keys(diff.after).length === 0) return { row: current, changed: false };
        const updated = await repo.savePlanRow(scope, key, spec, false);
        if (!updated) throw planNotFound();
        await recordPlatformAudit(scope, by, {
          action: 'plan.updated',
          target: target(key),
          changes: diff,
          metadata: { version: updated.version },
        });
        return { row: updated, changed: true };
      });
      if (changed) deps.catalogChanged();
      return repo.toPlan(row);
    },

    async setArchived(by, key, archived) {
      if (!PLAN_KEY_RE.test(key)) throw planNotFound();
      const { row, changed } = await withPlatformScope(db, platformSessionToken(by), async (scope) => {
        await lockPlan(scope, key);
        const current = await repo.findPlanRow(scope, key);
        if (!current) throw planNotFound();
        if ((current.archived_at !== null) === archived) return { row: current, changed: false };
        const updated = await repo.archivePlanRow(scope, key, archived);
        if (!updated) throw planNotFound();
        await recordPlatformAudit(scope, by, {
          action: archived ? 'plan.archived' : 'plan.unarchived',
          target: target(key),
          changes: {
            before: { archived_at: current.archived_at?.toISOString() ?? null },
            after: { archived_at: updated.archived_at?.toISOString() ?? null },
          },
        });
        return { row: updated, changed: true };
      });
      if (changed) deps.catalogChanged();
      return repo.toPlan(row);
    },
  };
}
