import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { WithTenant } from '../tenancy/with-tenant.js';
import type { SealedColumn } from './contract.js';
import type { KeyVault, RewrapProgress } from './key-vault.js';
import type { Kms } from './kms.js';
import { sealedColumns as registeredColumns } from './sealed-columns.js';
import type { TenantSealerWithKeys } from './tenant-sealer.js';
import { DEFAULT_KEY_CACHE_TTL_MS } from './tenant-sealer.js';
import { TenantKeyError } from './errors.js';

/** Where an organization's data key rotation stands. */
export interface OrganizationRotationResult {
  /** Values re-encrypted by this run. */
  readonly reencrypted: number;
  /** Versions destroyed by this run (every value of theirs re-encrypted, every instance past them). */
  readonly destroyedVersions: number[];
  /** Retired versions still kept; when set, run again at `retryAt` (or after more values were re-encrypted). */
  readonly pendingVersions: number[];
  readonly retryAt?: Date;
}

export interface KeyRotationDeps {
  readonly vault: KeyVault;
  readonly kms: Kms;
  readonly sealer: TenantSealerWithKeys;
  readonly withTenant: WithTenant;
  /** Publishes the change to every instance (the invalidation bus): they drop their cached keys. */
  readonly keysChanged: (organizationId: string) => void;
  /** The sealed columns to re-encrypt (default: the registry, sealed-columns.ts). */
  readonly columns?: readonly SealedColumn[];
  /** The sealer's key cache lifetime: a retired version is destroyed only once every cache has let go. */
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
  readonly log?: Logger;
  /** Called after each committed batch (tests stop a run here, as a crash would). */
  readonly afterBatch?: (info: { organizationId: string; table: string; rows: number }) => void;
}

const BATCH = 100;
/** When values of an older version remain after a pass (locked rows, late seals): the next run's delay. */
const REMAINING_RETRY_MS = 10_000;

/**
 * Key rotation. An organization's data key: a new version is active at once; `reencryptOrganization`
 * (the job) re-seals every registered sealed column's values of older versions in batches, each its own
 * transaction, so a crash loses at most one batch and the next run starts where the values say (their
 * version prefix: no cursor to lose). Retired versions are destroyed only when no value of theirs
 * remains and the key cache TTL has passed since they were retired (an instance that had not yet heard
 * of the rotation may have sealed with one until then; the run after that finds and re-seals it).
 * The KEK: `rewrapAll` re-wraps every live data key under the KMS's current KEK, row by row (resumable
 * the same way: a row's kek_id says whether it is done); old KEKs keep unwrapping until it is done.
 */
export function createKeyRotation(deps: KeyRotationDeps) {
  const now = deps.now ?? Date.now;
  const ttl = deps.cacheTtlMs ?? DEFAULT_KEY_CACHE_TTL_MS;
  const columns = () => deps.columns ?? registeredColumns;

  /** Re-encrypts up to one batch of one column; returns how many values it re-sealed. */
  async function reencryptBatch(organizationId: string, col: SealedColumn, active: number): Promise<number> {
    return deps.withTenant(organizationId, async (db) => {
      const value = sql.id(col.column);
      const rows = await sql<{ id: string; value: string }>`
        select ${sql.id(col.idColumn)}::text as id, ${value} as value from ${sql.id(col.table)}
         where organization_id = ${organizationId} and ${value} like 't1.%'
           and split_part(${value}, '.', 2) <> ${String(active)}
         limit ${BATCH} for update skip locked`.execute(db);
      for (const row of rows.rows) {
        const binding = { table: col.table, column: col.column, rowId: row.id };
        const plaintext = await deps.sealer.openForTenant(db, organizationId, binding, row.value);
        const resealed = await deps.sealer.sealForTenant(db, organizationId, binding, plaintext);
        plaintext.fill(0);
        if (deps.sealer.versionOf(resealed) !== active) {
          // Another rotation made a newer version active meanwhile: this run ends, the next one resumes.
          deps.sealer.forget(organizationId);
          throw new TenantKeyError(
            'ROTATION_IN_PROGRESS',
            'the active data key changed during re-encryption',
          );
        }
        await sql`update ${sql.id(col.table)} set ${value} = ${resealed}
          where organization_id = ${organizationId} and ${sql.id(col.idColumn)}::text = ${row.id}
            and ${value} = ${row.value}`.execute(db);
      }
      return rows.rows.length;
    });
  }

  /** How many values of the organization are sealed with another version than `active`. */
  async function remaining(organizationId: string, active: number): Promise<number> {
    let total = 0;
    for (const col of columns()) {
      const value = sql.id(col.column);
      total += await deps.withTenant(
        organizationId,
        async (db) =>
          Number(
            (
              await sql<{ n: string }>`select count(*) as n from ${sql.id(col.table)}
                where organization_id = ${organizationId} and ${value} like 't1.%'
                  and split_part(${value}, '.', 2) <> ${String(active)}`.execute(db)
            ).rows[0]!.n,
          ),
        { mode: 'read' },
      );
    }
    return total;
  }

  /** One run of the organization's re-encryption (the job's body); resumable, idempotent. */
  async function reencryptOrganization(organizationId: string): Promise<OrganizationRotationResult> {
    // This process's sealer must seal with the new version, whatever its cache held.
    deps.sealer.forget(organizationId);
    const versions = await deps.vault.versions(organizationId);
    const active = versions.find((v) => v.state === 'active');
    const retired = versions.filter((v) => v.state === 'retired');
    if (!active || retired.length === 0) {
      return { reencrypted: 0, destroyedVersions: [], pendingVersions: [] };
    }
    let reencrypted = 0;
    for (const col of columns()) {
      for (;;) {
        const n = await reencryptBatch(organizationId, col, active.version);
        if (n === 0) break;
        reencrypted += n;
        deps.afterBatch?.({ organizationId, table: col.table, rows: n });
      }
    }
    const settledAt = Math.max(...retired.map((v) => (v.retiredAt?.getTime() ?? 0) + ttl));
    if (settledAt > now()) {
      return {
        reencrypted,
        destroyedVersions: [],
        pendingVersions: retired.map((v) => v.version),
        retryAt: new Date(settledAt + 1000),
      };
    }
    // Every instance has dropped the old active version by now: a last look, then destroy. Values still
    // of an older version were sealed by an instance late to hear of the rotation, or sit in rows another
    // transaction holds (SKIP LOCKED passed them): a run shortly after takes them, rather than this one
    // spinning on a lock it cannot wait for.
    if ((await remaining(organizationId, active.version)) > 0) {
      return {
        reencrypted,
        destroyedVersions: [],
        pendingVersions: retired.map((v) => v.version),
        retryAt: new Date(now() + REMAINING_RETRY_MS),
      };
    }
    const destroyedVersions = retired.map((v) => v.version);
    await deps.vault.destroyVersions(organizationId, destroyedVersions);
    deps.keysChanged(organizationId);
    deps.log?.info(
      { tenant_id: organizationId, reencrypted, destroyed_versions: destroyedVersions },
      'organization data key rotation finished',
    );
    return { reencrypted, destroyedVersions, pendingVersions: [] };
  }

  return {
    reencryptOrganization,

    /** Makes a new data key version active now (old ones retired, still opening). Returns its version. */
    async rotateOrganizationKey(organizationId: string): Promise<{ version: number }> {
      const created = await deps.kms.generateDataKey();
      created.plaintext.fill(0);
      const version = await deps.vault.addVersion(organizationId, created.wrapped, created.kekId);
      deps.keysChanged(organizationId);
      return { version };
    },

    /**
     * Re-wraps every live data key under the current KEK (the KEK rotation job's body). A key that cannot
     * be re-wrapped (its KEK no longer held) is skipped and counted in `failed`, so it never holds up the
     * others; it stays under its old KEK (`done` < `total`) and a later run tries it again.
     */
    async rewrapAll(
      opts: { maxKeys?: number } = {},
    ): Promise<{ rewrapped: number; failed: number } & RewrapProgress> {
      let rewrapped = 0;
      const failed = new Set<string>();
      const max = opts.maxKeys ?? Number.POSITIVE_INFINITY;
      while (rewrapped < max) {
        const before = failed.size;
        const n = await deps.vault.rewrapBatch(
          deps.kms.currentKekId,
          Math.min(50, max - rewrapped),
          (w, k) => deps.kms.reEncrypt(w, k),
          failed,
        );
        if (n === 0 && failed.size === before) break;
        rewrapped += n;
      }
      if (failed.size > 0) {
        deps.log?.error(
          { failed: failed.size },
          'KEK rotation: data keys that could not be re-wrapped (is their KEK still in KEK_PREVIOUS?)',
        );
      }
      return {
        rewrapped,
        failed: failed.size,
        ...(await deps.vault.rewrapProgress(deps.kms.currentKekId)),
      };
    },

    /** KEK rotation progress: live keys, and how many are wrapped by the current KEK. */
    async kekProgress(): Promise<RewrapProgress & { provider: string; currentKekId: string }> {
      return {
        provider: deps.kms.name,
        currentKekId: deps.kms.currentKekId,
        ...(await deps.vault.rewrapProgress(deps.kms.currentKekId)),
      };
    },
  };
}

export type KeyRotation = ReturnType<typeof createKeyRotation>;
