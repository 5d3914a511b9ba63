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
  /**
   * Values this run found unreadable under the key version they name (recorded in
   * `tenant_key_unreadable_values`, skipped from then on; `unreadableValues` lists them).
   */
  readonly unreadable: number;
  /** Versions destroyed by this run (every value of theirs re-encrypted, every instance past them). */
  readonly destroyedVersions: number[];
  /** Retired versions still kept; when set, run again at `retryAt` (or after more values were re-encrypted). */
  readonly pendingVersions: number[];
  readonly retryAt?: Date;
}

/** Sealed values a rotation could not open under the key version they name (never the values). */
export interface UnreadableValues {
  readonly count: number;
  readonly values: {
    table: string;
    column: string;
    rowId: string;
    /** Null when the stored text is not a well-formed sealed value. */
    keyVersion: number | null;
    firstSeenAt: Date;
    lastSeenAt: Date;
  }[];
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
  /**
   * Opens a sealed value for its re-encryption (default: the sealer's `openForTenant`; tests substitute
   * one that fails for a value, as an altered or corrupted one would).
   */
  readonly open?: TenantSealerWithKeys['openForTenant'];
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

  const open =
    deps.open ??
    ((...a: Parameters<TenantSealerWithKeys['openForTenant']>) => deps.sealer.openForTenant(...a));

  /** Values of `col` recorded as unreadable whose row still holds a value of the recorded version. */
  const notRecorded = (organizationId: string, col: SealedColumn) => sql`not exists (
    select 1 from tenant_key_unreadable_values u
     where u.organization_id = ${organizationId} and u.table_name = ${col.table}
       and u.column_name = ${col.column} and u.row_id = t.${sql.id(col.idColumn)}::text
       and u.value_digest = sha256(convert_to(t.${sql.id(col.column)}, 'UTF8')))`;

  /**
   * Re-encrypts up to one batch of one column; returns how many values it took (re-sealed, or found
   * unreadable: recorded in `tenant_key_unreadable_values`, logged at error level and skipped from then on,
   * so one bad value never holds up the rotation).
   */
  async function reencryptBatch(
    organizationId: string,
    col: SealedColumn,
    active: number,
  ): Promise<{ taken: number; resealed: number; unreadable: number }> {
    return deps.withTenant(organizationId, async (db) => {
      const value = sql.id(col.column);
      const rows = await sql<{ id: string; value: string }>`
        select t.${sql.id(col.idColumn)}::text as id, t.${value} as value from ${sql.id(col.table)} t
         where t.organization_id = ${organizationId} and t.${value} like 't1.%'
           and split_part(t.${value}, '.', 2) <> ${String(active)}
           and ${notRecorded(organizationId, col)}
         limit ${BATCH} for update of t skip locked`.execute(db);
      let unreadable = 0;
      for (const row of rows.rows) {
        const binding = { table: col.table, column: col.column, rowId: row.id };
        let plaintext: Buffer;
        try {
          plaintext = await open(db, organizationId, binding, row.value);
        } catch (err) {
          if (!(err instanceof TenantKeyError) || err.code !== 'SEALED_VALUE_UNREADABLE') throw err;
          const version = deps.sealer.versionOf(row.value) ?? null;
          await sql`insert into tenant_key_unreadable_values
              (organization_id, table_name, column_name, row_id, key_version, value_digest)
            values (${organizationId}, ${col.table}, ${col.column}, ${row.id}, ${version},
              sha256(convert_to(${row.value}, 'UTF8')))
            on conflict (organization_id, table_name, column_name, row_id) do update
              set key_version = excluded.key_version, value_digest = excluded.value_digest,
                last_seen_at = now()`.execute(db);
          deps.log?.error(
            {
              tenant_id: organizationId,
              table: col.table,
              column: col.column,
              row_id: row.id,
              key_version: version,
            },
            'organization data key rotation: a sealed value does not open under the key version it names; recorded and skipped',
          );
          unreadable++;
          continue;
        }
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
      return { taken: rows.rows.length, resealed: rows.rows.length - unreadable, unreadable };
    });
  }

  /** Forgets recorded unreadable values whose row is gone or now holds another value version. */
  async function pruneUnreadable(organizationId: string): Promise<void> {
    await deps.withTenant(organizationId, async (db) => {
      for (const col of columns()) {
        await sql`delete from tenant_key_unreadable_values u
          where u.organization_id = ${organizationId} and u.table_name = ${col.table}
            and u.column_name = ${col.column}
            and not exists (select 1 from ${sql.id(col.table)} t
              where t.organization_id = ${organizationId} and t.${sql.id(col.idColumn)}::text = u.row_id
                and sha256(convert_to(t.${sql.id(col.column)}, 'UTF8')) = u.value_digest)`.execute(db);
      }
    });
  }

  /** How many values of the organization are sealed with another version than `active` (unreadable ones aside). */
  async function remaining(organizationId: string, active: number): Promise<number> {
    let total = 0;
    for (const col of columns()) {
      const value = sql.id(col.column);
      total += await deps.withTenant(
        organizationId,
        async (db) =>
          Number(
            (
              await sql<{ n: string }>`select count(*) as n from ${sql.id(col.table)} t
                where t.organization_id = ${organizationId} and t.${value} like 't1.%'
                  and split_part(t.${value}, '.', 2) <> ${String(active)}
                  and ${notRecorded(organizationId, col)}`.execute(db)
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
      return { reencrypted: 0, unreadable: 0, destroyedVersions: [], pendingVersions: [] };
    }
    await pruneUnreadable(organizationId);
    let reencrypted = 0;
    let unreadable = 0;
    for (const col of columns()) {
      for (;;) {
        const n = await reencryptBatch(organizationId, col, active.version);
        if (n.taken === 0) break;
        reencrypted += n.resealed;
        unreadable += n.unreadable;
        deps.afterBatch?.({ organizationId, table: col.table, rows: n.taken });
      }
    }
    const settledAt = Math.max(...retired.map((v) => (v.retiredAt?.getTime() ?? 0) + ttl));
    if (settledAt > now()) {
      return {
        reencrypted,
        unreadable,
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
        unreadable,
        destroyedVersions: [],
        pendingVersions: retired.map((v) => v.version),
        retryAt: new Date(now() + REMAINING_RETRY_MS),
      };
    }
    const destroyedVersions = retired.map((v) => v.version);
    await deps.vault.destroyVersions(organizationId, destroyedVersions);
    deps.keysChanged(organizationId);
    deps.log?.info(
      { tenant_id: organizationId, reencrypted, unreadable, destroyed_versions: destroyedVersions },
      'organization data key rotation finished',
    );
    return { reencrypted, unreadable, destroyedVersions, pendingVersions: [] };
  }

  return {
    reencryptOrganization,

    /** The organization's recorded unreadable values (the most recently seen first, at most `limit`). */
    async unreadableValues(organizationId: string, limit = 50): Promise<UnreadableValues> {
      return deps.withTenant(
        organizationId,
        async (db) => {
          const count = await sql<{ n: string }>`select count(*) as n from tenant_key_unreadable_values
            where organization_id = ${organizationId}`.execute(db);
          const rows = await sql<{
            table_name: string;
            column_name: string;
            row_id: string;
            key_version: number | null;
            first_seen_at: Date;
            last_seen_at: Date;
          }>`select table_name, column_name, row_id, key_version, first_seen_at, last_seen_at
              from tenant_key_unreadable_values where organization_id = ${organizationId}
             order by last_seen_at desc, table_name, column_name, row_id limit ${limit}`.execute(db);
          return {
            count: Number(count.rows[0]!.n),
            values: rows.rows.map((r) => ({
              table: r.table_name,
              column: r.column_name,
              rowId: r.row_id,
              keyVersion: r.key_version,
              firstSeenAt: r.first_seen_at,
              lastSeenAt: r.last_seen_at,
            })),
          };
        },
        { mode: 'read' },
      );
    },

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
