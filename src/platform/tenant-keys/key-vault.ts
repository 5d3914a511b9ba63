import type pg from 'pg';
import { createPool } from '../db/pool.js';
import { TenantKeyError } from './errors.js';
import { createPersonalKeyVault, PERSONAL_KEYS_SCHEMA, type PersonalKeyVault } from './key-vault-persons.js';

/** One version of an organization's data key as the vault holds it. */
export interface VaultKey {
  readonly organizationId: string;
  readonly version: number;
  readonly state: 'active' | 'retired' | 'destroyed';
  /** The data key wrapped by the KEK `kekId`; null once destroyed. */
  readonly wrapped: Buffer | null;
  readonly kekId: string | null;
  /** When it stopped being the active version (null while active). */
  readonly retiredAt: Date | null;
}

/** Progress of re-wrapping every live data key (organizations' and persons') under the current KEK. */
export interface RewrapProgress {
  readonly total: number;
  readonly done: number;
}

/**
 * The vault's schema, applied idempotently by the vault role at start. One row per key version;
 * at most one active version per organization; destroying a version erases its wrapped key and keeps
 * a tombstone, so an organization whose keys were shredded never silently gets a new key.
 */
const SCHEMA = `
create table if not exists tenant_data_keys (
  organization_id uuid not null,
  version integer not null check (version > 0),
  state text not null check (state in ('active', 'retired', 'destroyed')),
  wrapped_key bytea,
  kek_id text,
  created_at timestamptz not null default now(),
  retired_at timestamptz,
  destroyed_at timestamptz,
  primary key (organization_id, version),
  constraint tenant_data_keys_destroyed_erased check (
    (state = 'destroyed') = (wrapped_key is null) and (wrapped_key is null) = (kek_id is null)
  )
);
create unique index if not exists tenant_data_keys_one_active
  on tenant_data_keys (organization_id) where state = 'active';
create index if not exists tenant_data_keys_kek on tenant_data_keys (kek_id) where wrapped_key is not null;
${PERSONAL_KEYS_SCHEMA}`;

interface KeyRow {
  organization_id: string;
  version: number;
  state: VaultKey['state'];
  wrapped_key: Buffer | null;
  kek_id: string | null;
  retired_at: Date | null;
}

const toKey = (r: KeyRow): VaultKey => ({
  organizationId: r.organization_id,
  version: r.version,
  state: r.state,
  wrapped: r.wrapped_key,
  kekId: r.kek_id,
  retiredAt: r.retired_at,
});

/** The wrapped data keys, in their own database (see docs/encryption.md "Where keys live"). */
export interface KeyVault {
  /** The per-person keys (src/platform/user-keys/), in the same vault. */
  readonly persons: PersonalKeyVault;
  /** Every version of the organization's key, oldest first (empty: it never had one). */
  versions(organizationId: string): Promise<VaultKey[]>;
  key(organizationId: string, version: number): Promise<VaultKey | undefined>;
  /** Stores version 1 as active unless the organization has any key row; concurrent calls agree. */
  insertFirst(organizationId: string, wrapped: Buffer, kekId: string): Promise<void>;
  /**
   * Retires the active version and makes `wrapped` the next one, active at once. Returns its version.
   * @throws TenantKeyError `ORGANIZATION_KEYS_DESTROYED` after a shred.
   */
  addVersion(organizationId: string, wrapped: Buffer, kekId: string): Promise<number>;
  /** Destroys the given retired versions (their wrapped keys erased). Returns how many were destroyed. */
  destroyVersions(organizationId: string, versions: readonly number[]): Promise<number>;
  /** Destroys every version (a tombstone when there was none). Returns how many live versions it erased. */
  destroyAll(organizationId: string): Promise<number>;
  /** Organizations holding retired (not yet destroyed) versions, after `after`, in id order. */
  organizationsWithRetired(after: string | null, limit: number): Promise<string[]>;
  /**
   * Re-wraps up to `limit` live keys not under `currentKekId` with `rewrap` (the organizations' data keys,
   * then the per-person keys), each row locked (SKIP LOCKED: concurrent runs share the work) and updated
   * in its own short transaction. A key `rewrap` fails on (its KEK no longer held, a corrupt row) is left
   * as it is and added to `failed` (`<organization>/<version>`, `person/<subject>`), which later calls
   * skip: one such key never stops the others.
   */
  rewrapBatch(
    currentKekId: string,
    limit: number,
    rewrap: (wrapped: Buffer, kekId: string) => Promise<{ wrapped: Buffer; kekId: string }>,
    failed?: Set<string>,
  ): Promise<number>;
  rewrapProgress(currentKekId: string): Promise<RewrapProgress>;
  close(): Promise<void>;
}

export function createKeyVault(opts: { url: string; pool?: pg.Pool }): KeyVault & {
  /** Creates the schema if missing (the vault role owns it). */
  ensureSchema(): Promise<void>;
} {
  const pool = opts.pool ?? createPool({ url: opts.url, max: 4, applicationName: 'saasready-keyvault' });
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const out = await fn(client);
      await client.query('commit');
      return out;
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  };
  return {
    persons: createPersonalKeyVault(pool),
    async ensureSchema() {
      // Serialized: concurrent starts (several instances, parallel test files) racing on CREATE TABLE IF
      // NOT EXISTS can both pass the check and one fail on the row type's unique name.
      await tx(async (c) => {
        await c.query("select pg_advisory_xact_lock(hashtext('saasready.key_vault.schema'))");
        await c.query(SCHEMA);
      });
    },
    async versions(organizationId) {
      const r = await pool.query<KeyRow>(
        `select organization_id, version, state, wrapped_key, kek_id, retired_at from tenant_data_keys
          where organization_id = $1 order by version`,
        [organizationId],
      );
      return r.rows.map(toKey);
    },
    async key(organizationId, version) {
      const r = await pool.query<KeyRow>(
        `select organization_id, version, state, wrapped_key, kek_id, retired_at from tenant_data_keys
          where organization_id = $1 and version = $2`,
        [organizationId, version],
      );
      return r.rows[0] ? toKey(r.rows[0]) : undefined;
    },
    async insertFirst(organizationId, wrapped, kekId) {
      // Only when the organization has no row at all: never after a shred (its tombstones remain).
      await pool.query(
        `insert into tenant_data_keys (organization_id, version, state, wrapped_key, kek_id)
         select $1::uuid, 1, 'active', $2::bytea, $3::text
          where not exists (select 1 from tenant_data_keys where organization_id = $1::uuid)
         on conflict do nothing`,
        [organizationId, wrapped, kekId],
      );
    },
    async addVersion(organizationId, wrapped, kekId) {
      return tx(async (c) => {
        const rows = await c.query<{ version: number; state: string }>(
          `select version, state from tenant_data_keys where organization_id = $1 order by version for update`,
          [organizationId],
        );
        if (rows.rows.length > 0 && rows.rows.every((r) => r.state === 'destroyed')) {
          // Shredded: a new version would make the organization sealable again.
          throw new TenantKeyError(
            'ORGANIZATION_KEYS_DESTROYED',
            "the organization's keys were destroyed; nothing can be sealed for it",
          );
        }
        const next = (rows.rows.at(-1)?.version ?? 0) + 1;
        await c.query(
          `update tenant_data_keys set state = 'retired', retired_at = now()
            where organization_id = $1 and state = 'active'`,
          [organizationId],
        );
        await c.query(
          `insert into tenant_data_keys (organization_id, version, state, wrapped_key, kek_id)
           values ($1, $2, 'active', $3, $4)`,
          [organizationId, next, wrapped, kekId],
        );
        return next;
      });
    },
    async destroyVersions(organizationId, versions) {
      if (versions.length === 0) return 0;
      const r = await pool.query(
        `update tenant_data_keys
            set state = 'destroyed', wrapped_key = null, kek_id = null, destroyed_at = now()
          where organization_id = $1 and version = any($2::int[]) and state = 'retired'`,
        [organizationId, versions],
      );
      return r.rowCount ?? 0;
    },
    async destroyAll(organizationId) {
      const destroyed = await tx(async (c) => {
        // Order matters (READ COMMITTED): each step waits for what runs beside it, and the UPDATE, a new
        // statement, then sees everything that committed meanwhile. 1. A tombstone for an organization that
        // never sealed anything, so no key is created for it later; it waits for a first key being
        // inserted (same primary key) and yields to it. 2. Lock every row: waits for a rotation in flight
        // (`addVersion` holds them), whose new active version an UPDATE started earlier would not see.
        await c.query(
          `insert into tenant_data_keys (organization_id, version, state, destroyed_at)
           values ($1, 1, 'destroyed', now()) on conflict do nothing`,
          [organizationId],
        );
        await c.query(`select version from tenant_data_keys where organization_id = $1 for update`, [
          organizationId,
        ]);
        const r = await c.query(
          `update tenant_data_keys
              set state = 'destroyed', wrapped_key = null, kek_id = null, destroyed_at = now()
            where organization_id = $1 and state <> 'destroyed'`,
          [organizationId],
        );
        return r.rowCount ?? 0;
      });
      // Best effort: prune the old row versions that still hold the erased keys (docs/encryption.md).
      await pool.query('vacuum tenant_data_keys').catch(() => {});
      return destroyed;
    },
    async organizationsWithRetired(after, limit) {
      const r = await pool.query<{ organization_id: string }>(
        `select distinct organization_id from tenant_data_keys
          where state = 'retired' and ($1::uuid is null or organization_id > $1::uuid)
          order by organization_id limit $2`,
        [after, limit],
      );
      return r.rows.map((x) => x.organization_id);
    },
    async rewrapBatch(currentKekId, limit, rewrap, failed = new Set<string>()) {
      let done = 0;
      // One live key not under the current KEK (skipping the failed ones), locked; its id in `failed`.
      const tables = [
        {
          pick: `select organization_id::text || '/' || version as ref, wrapped_key as wrapped, kek_id
                   from tenant_data_keys
                  where wrapped_key is not null and kek_id <> $1
                    and (organization_id::text || '/' || version) <> all($2::text[])
                  order by organization_id, version limit 1 for update skip locked`,
          update: `update tenant_data_keys set wrapped_key = $2, kek_id = $3
                    where organization_id = split_part($1, '/', 1)::uuid
                      and version = split_part($1, '/', 2)::int`,
        },
        {
          pick: `select 'person/' || subject_id as ref, wrapped, kek_id from personal_keys
                  where wrapped is not null and kek_id <> $1 and ('person/' || subject_id) <> all($2::text[])
                  order by subject_id limit 1 for update skip locked`,
          update: `update personal_keys set wrapped = $2, kek_id = $3
                    where subject_id = split_part($1, '/', 2)::uuid`,
        },
      ];
      for (const table of tables) {
        while (done < limit) {
          const moved = await tx(async (c) => {
            const r = await c.query<{ ref: string; wrapped: Buffer; kek_id: string }>(table.pick, [
              currentKekId,
              [...failed],
            ]);
            const row = r.rows[0];
            if (!row) return 'none' as const;
            let next: { wrapped: Buffer; kekId: string };
            try {
              next = await rewrap(row.wrapped, row.kek_id);
            } catch {
              failed.add(row.ref);
              return 'failed' as const;
            }
            await c.query(table.update, [row.ref, next.wrapped, next.kekId]);
            return 'moved' as const;
          });
          if (moved === 'none') break;
          if (moved === 'moved') done++;
          else return done;
        }
      }
      return done;
    },
    async rewrapProgress(currentKekId) {
      const r = await pool.query<{ total: string; done: string }>(
        `select count(*) as total, count(*) filter (where kek_id = $1) as done from (
           select kek_id from tenant_data_keys where wrapped_key is not null
           union all select kek_id from personal_keys where wrapped is not null) k`,
        [currentKekId],
      );
      return { total: Number(r.rows[0]!.total), done: Number(r.rows[0]!.done) };
    },
    async close() {
      if (!opts.pool) await pool.end();
    },
  };
}
