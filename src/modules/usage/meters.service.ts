import {
  platformSessionToken,
  recordPlatformAudit,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import * as repo from './meters.repository.js';
import { meterNotFound, UsageError } from './usage.errors.js';
import { METER_KEY_RE, PROPERTY_RE, type Aggregation } from './usage-model.js';

/** A meter as the API shows it. */
export interface Meter {
  key: string;
  aggregation: Aggregation;
  property: string | null;
  unit: string;
  description: string;
  createdAt: string;
  updatedAt: string;
  archivedAt: string | null;
}

export interface MeterInput {
  key: string;
  aggregation: Aggregation;
  property?: string | null;
  unit?: string;
  description?: string;
}

export interface MetersService {
  list(opts: { limit?: number; cursor?: string }): Promise<Page<Meter>>;
  get(key: string): Promise<Meter>;
  /**
   * Creates a meter (platform chain: `meter.created`). Idempotent by key: the same definition again
   * answers the stored meter with `replayed` (nothing written); a different one is METER_EXISTS.
   */
  create(by: PlatformActor, input: MeterInput): Promise<{ meter: Meter; replayed: boolean }>;
  /** Unit and description only: aggregation and property are fixed once events exist (`meter.updated`). */
  update(by: PlatformActor, key: string, patch: { unit?: string; description?: string }): Promise<Meter>;
  /** Archives a meter: new events for it are refused; its history stays readable (`meter.archived`). */
  archive(by: PlatformActor, key: string): Promise<Meter>;
}

const toMeter = (r: repo.MeterRow): Meter => ({
  key: r.key,
  aggregation: r.aggregation,
  property: r.property,
  unit: r.unit,
  description: r.description,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  archivedAt: r.archived_at?.toISOString() ?? null,
});

function checkInput(input: MeterInput): void {
  const invalid = (m: string) => new UsageError('METER_INVALID', m);
  if (!METER_KEY_RE.test(input.key)) throw invalid(`key must match ${String(METER_KEY_RE)}`);
  const p = input.property ?? null;
  if (p !== null && !PROPERTY_RE.test(p)) throw invalid(`property must match ${String(PROPERTY_RE)}`);
  if (input.aggregation === 'unique_count' && p === null) throw invalid('unique_count needs a property');
  if (input.aggregation === 'count' && p !== null) throw invalid('a count meter has no property');
}

/** The meter catalog (platform administrators write it; every tenant's ingestion reads it). */
export function createMetersService(deps: { db: PlatformDb; changed: () => void }): MetersService {
  const { db } = deps;
  const target = (key: string) => ({ type: 'meter', id: key });
  return {
    async list(opts) {
      const limit = pageLimit(opts.limit);
      const after = decodeCursor(opts.cursor, (k) => METER_KEY_RE.test(k)) ?? null;
      const rows = await repo.listMeters(db, after, limit + 1);
      return toPage(rows, limit, (r) => r.key, toMeter);
    },

    async get(key) {
      if (!METER_KEY_RE.test(key)) throw meterNotFound();
      const row = await repo.findMeter(db, key);
      if (!row) throw meterNotFound();
      return toMeter(row);
    },

    async create(by, input) {
      checkInput(input);
      const def = {
        key: input.key,
        aggregation: input.aggregation,
        property: input.property ?? null,
        unit: input.unit ?? '',
        description: input.description ?? '',
      };
      const result = await withPlatformScope(db, platformSessionToken(by), async (scope) => {
        const inserted = await repo.insertMeter(scope, def);
        if (inserted) {
          await recordPlatformAudit(scope, by, {
            action: 'meter.created',
            target: target(def.key),
            changes: { before: null, after: def },
          });
          return { row: inserted, replayed: false };
        }
        const existing = await repo.findMeter(scope, def.key);
        const same =
          existing &&
          existing.aggregation === def.aggregation &&
          existing.property === def.property &&
          existing.unit === def.unit &&
          existing.description === def.description;
        if (!existing || !same) {
          throw new UsageError('METER_EXISTS', `a different meter "${def.key}" already exists`);
        }
        return { row: existing, replayed: true };
      });
      if (!result.replayed) deps.changed();
      return { meter: toMeter(result.row), replayed: result.replayed };
    },

    async update(by, key, patch) {
      if (!METER_KEY_RE.test(key)) throw meterNotFound();
      const row = await withPlatformScope(db, platformSessionToken(by), async (scope) => {
        const before = await repo.findMeter(scope, key);
        if (!before) throw meterNotFound();
        const after = await repo.updateMeter(scope, key, {
          unit: patch.unit ?? null,
          description: patch.description ?? null,
          archive: false,
        });
        if (!after) throw meterNotFound();
        await recordPlatformAudit(scope, by, {
          action: 'meter.updated',
          target: target(key),
          changes: {
            before: { unit: before.unit, description: before.description },
            after: { unit: after.unit, description: after.description },
          },
        });
        return after;
      });
      deps.changed();
      return toMeter(row);
    },

    async archive(by, key) {
      if (!METER_KEY_RE.test(key)) throw meterNotFound();
      const row = await withPlatformScope(db, platformSessionToken(by), async (scope) => {
        const before = await repo.findMeter(scope, key);
        if (!before) throw meterNotFound();
        if (before.archived_at) return before;
        const after = await repo.updateMeter(scope, key, { unit: null, description: null, archive: true });
        if (!after) throw meterNotFound();
        await recordPlatformAudit(scope, by, {
          action: 'meter.archived',
          target: target(key),
          changes: {
            before: { archived_at: null },
            after: { archived_at: after.archived_at?.toISOString() },
          },
        });
        return after;
      });
      deps.changed();
      return toMeter(row);
    },
  };
}
