import { canonicalJson } from '../../platform/audit/canonical-json.js';
import {
  platformSessionToken,
  recordPlatformAudit,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import { compileFlagSet, type CompiledFlagSet } from './flag-evaluation.js';
import {
  applyPatch,
  checkFlagSpec,
  FLAG_KEY_RE,
  specFromInput,
  type FlagDefinition,
  type FlagInput,
  type FlagPatch,
  type FlagSpec,
} from './flag-model.js';
import { flagNotFound, FlagsError, invalidDefinition } from './flags.errors.js';
import * as repo from './flag-definitions.repository.js';

export type { PlatformActor };

export interface FlagDefinitionsService {
  /** Definitions by key, cursor-paginated. */
  list(opts?: { limit?: number; cursor?: string }): Promise<Page<FlagDefinition>>;
  /** One definition; FLAG_NOT_FOUND. */
  get(key: string): Promise<FlagDefinition>;
  /** Creates a definition (audited `flag.created`); FLAG_KEY_TAKEN (409), FLAG_DEFINITION_INVALID (400). */
  create(by: PlatformActor, input: FlagInput): Promise<FlagDefinition>;
  /**
   * Changes a definition (given fields replace the stored ones) and bumps its version; a patch that
   * changes nothing writes nothing. Audited `flag.killed` / `flag.revived` when only the kill switch
   * moved, else `flag.updated`, with the changed fields before and after. FLAG_VERSION_CONFLICT (409)
   * when `version` is given and is not the current one.
   */
  update(by: PlatformActor, key: string, patch: FlagPatch): Promise<FlagDefinition>;
  /** Deletes a definition and, with it, every organization's override of it (audited `flag.deleted`). */
  remove(by: PlatformActor, key: string): Promise<void>;
}

const SPEC_FIELDS = [
  'kind',
  'description',
  'variants',
  'defaultValue',
  'offValue',
  'killed',
  'allowOrgOverride',
  'rules',
  'rollout',
] as const satisfies readonly (keyof FlagSpec)[];

/** The fields that differ between two specs, before and after. */
function changedFields(
  a: FlagSpec,
  b: FlagSpec,
): { before: Record<string, unknown>; after: Record<string, unknown> } {
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

const specOf = (d: FlagDefinition): FlagSpec =>
  Object.fromEntries(SPEC_FIELDS.map((f) => [f, d[f]])) as unknown as FlagSpec;

/**
 * Platform administration of flag definitions (the platform route guard is the authorization; the
 * database checks again that the actor is a platform administrator). Every change is written with its
 * platform audit event in one transaction, the actor's platform scope, then `definitionsChanged` drops
 * the evaluation cache on every instance.
 */
export function createFlagDefinitionsService(deps: {
  db: PlatformDb;
  /** After commit: `deleted` also drops every organization's cached overrides (the cascade took them). */
  definitionsChanged: (how: 'changed' | 'deleted') => void;
}): FlagDefinitionsService {
  const { db } = deps;
  const target = (key: string) => ({ type: 'feature_flag', id: key });

  return {
    async list(opts) {
      const limit = pageLimit(opts?.limit);
      const after = decodeCursor(opts?.cursor, (k) => FLAG_KEY_RE.test(k));
      const rows = await repo.listFlagRows(db, { after, limit: limit + 1 });
      return toPage(rows, limit, (r) => r.key, repo.toDefinition);
    },

    async get(key) {
      if (!FLAG_KEY_RE.test(key)) throw flagNotFound();
      const row = await repo.findFlagRow(db, key);
      if (!row) throw flagNotFound();
      return repo.toDefinition(row);
    },

    async create(by, input) {
      if (typeof input.key !== 'string' || !FLAG_KEY_RE.test(input.key)) {
        throw invalidDefinition(`key must match ${String(FLAG_KEY_RE)}`);
      }
      const spec = checkFlagSpec(specFromInput(input));
      const row = await withPlatformScope(db, platformSessionToken(by), async (trx) => {
        const inserted = await repo.insertFlagRow(trx, input.key, spec);
        if (!inserted) throw new FlagsError('FLAG_KEY_TAKEN', `a flag "${input.key}" already exists`);
        await recordPlatformAudit(trx, by, {
          action: 'flag.created',
          target: target(input.key),
          changes: { before: null, after: spec },
        });
        return inserted;
      });
      deps.definitionsChanged('changed');
      return repo.toDefinition(row);
    },

    async update(by, key, patch) {
      if (!FLAG_KEY_RE.test(key)) throw flagNotFound();
      const { row, changed } = await withPlatformScope(db, platformSessionToken(by), async (trx) => {
        const current = await repo.findFlagRow(trx, key, { forUpdate: true });
        if (!current) throw flagNotFound();
        if (patch.version !== undefined && patch.version !== current.version) {
          throw new FlagsError(
            'FLAG_VERSION_CONFLICT',
            `flag "${key}" is at version ${current.version}, not ${patch.version}`,
          );
        }
        const before = specOf(repo.toDefinition(current));
        const spec = checkFlagSpec(applyPatch(before, patch));
        const diff = changedFields(before, spec);
        const fields = Object.keys(diff.after);
        if (fields.length === 0) return { row: current, changed: false };
        const updated = await repo.updateFlagRow(trx, key, spec);
        const onlyKillSwitch = fields.length === 1 && fields[0] === 'killed';
        await recordPlatformAudit(trx, by, {
          action: onlyKillSwitch ? (spec.killed ? 'flag.killed' : 'flag.revived') : 'flag.updated',
          target: target(key),
          changes: diff,
          metadata: { version: updated.version },
        });
        return { row: updated, changed: true };
      });
      if (changed) deps.definitionsChanged('changed');
      return repo.toDefinition(row);
    },

    async remove(by, key) {
      if (!FLAG_KEY_RE.test(key)) throw flagNotFound();
      await withPlatformScope(db, platformSessionToken(by), async (trx) => {
        const deleted = await repo.deleteFlagRow(trx, key);
        if (!deleted) throw flagNotFound();
        await recordPlatformAudit(trx, by, {
          action: 'flag.deleted',
          target: target(key),
          changes: { before: specOf(repo.toDefinition(deleted)), after: null },
        });
      });
      deps.definitionsChanged('deleted');
    },
  };
}

/** Every definition, compiled for evaluation (the loader of the flag cache's definitions entry). */
export async function loadCompiledFlags(db: PlatformDb): Promise<CompiledFlagSet> {
  const rows = await repo.allFlagRows(db);
  return compileFlagSet(
    rows.map((r) => ({
      key: r.key,
      spec: specOf(repo.toDefinition(r)),
      identity: { id: r.id },
    })),
  );
}
