import type pg from 'pg';

/**
 * The per-person data keys (src/platform/user-keys/) in the key vault, beside the organizations' data
 * keys: one row per data subject (a user, the keyed hash of an e-mail address, or an organization for
 * what its API keys' requests leave in its audit chain), the key wrapped by the
 * KEK. Until migration 0032 they were in the application database (`personal_keys` there), where a backup
 * taken before an erasure kept the wrapped key; here, as for the organizations' keys, only the vault's own
 * backups do (docs/encryption.md, docs/erasure.md "Limits").
 */
export const PERSONAL_KEYS_SCHEMA = `
create table if not exists personal_keys (
  subject_id uuid primary key,
  subject_kind text not null,
  wrapped bytea check (octet_length(wrapped) <= 4096),
  kek_id text check (octet_length(kek_id) <= 512),
  created_at timestamptz not null default now(),
  destroyed_at timestamptz,
  check ((wrapped is null) = (kek_id is null)),
  check ((wrapped is null) = (destroyed_at is not null))
);
create index if not exists personal_keys_kek on personal_keys (kek_id) where wrapped is not null;
alter table personal_keys drop constraint if exists personal_keys_subject_kind_check;
do $$ begin
  alter table personal_keys add constraint personal_keys_subject_kind
    check (subject_kind in ('user', 'email', 'organization', 'secret'));
exception when duplicate_object then null;
end $$;
`;

/** One person's key as the vault holds it; `wrapped` and `kekId` are null once destroyed. */
export interface PersonalKeyRow {
  readonly subjectId: string;
  readonly wrapped: Buffer | null;
  readonly kekId: string | null;
}

/** A row of the application database's former `personal_keys`, moved into the vault at start. */
export interface LegacyPersonalKeyRow {
  readonly subject_id: string;
  readonly subject_kind: 'user' | 'email';
  readonly wrapped: Buffer | null;
  readonly kek_id: string | null;
  readonly created_at: Date;
  readonly destroyed_at: Date | null;
}

/**
 * Whose key: a user, an e-mail address, or an organization (its API keys' audit fields); `secret`: the
 * secret keying the ids of address keys (src/platform/user-keys/subject-secret.ts), not a person's.
 */
export type SubjectKind = 'user' | 'email' | 'organization' | 'secret';

export interface PersonalKeyVault {
  /** The rows of these subjects (absent: no key was ever made for it). */
  get(subjectIds: readonly string[]): Promise<PersonalKeyRow[]>;
  /**
   * Stores a key for the subject unless it has a row (live or destroyed); concurrent calls agree on one.
   * Returns the row stored afterwards and whether this call inserted it.
   */
  insertIfAbsent(
    subjectId: string,
    kind: SubjectKind,
    wrapped: Buffer,
    kekId: string,
  ): Promise<{ row: PersonalKeyRow; inserted: boolean }>;
  /**
   * A user's (erasure) or an organization's (crypto-shredding) key erased for good: the row stays with no
   * key (a tombstone: none is made again).
   */
  destroyForGood(subjectId: string, kind: 'user' | 'organization'): Promise<void>;
  /** An address's key replaced by a new one (what the old one sealed no longer opens). */
  replaceEmail(subjectId: string, wrapped: Buffer, kekId: string): Promise<void>;
  /**
   * Copies rows of the former application table; idempotent. A row the vault already has stays, except
   * that a destroyed user row wins over a live one (an erasure is never undone).
   */
  importLegacy(rows: readonly LegacyPersonalKeyRow[]): Promise<void>;
  /** The rows of kind `secret` (subject-secret.ts). */
  secrets(): Promise<PersonalKeyRow[]>;
  /** Whether any address key was ever stored. */
  hasEmailKeys(): Promise<boolean>;
}

interface Row {
  subject_id: string;
  wrapped: Buffer | null;
  kek_id: string | null;
}

const toRow = (r: Row): PersonalKeyRow => ({ subjectId: r.subject_id, wrapped: r.wrapped, kekId: r.kek_id });

export function createPersonalKeyVault(pool: pg.Pool): PersonalKeyVault {
  // Best effort, as for the organizations' keys: prune the old row versions holding an erased key.
  const vacuum = () =>
    pool.query('vacuum personal_keys').then(
      () => {},
      () => {},
    );
  return {
    async get(subjectIds) {
      if (subjectIds.length === 0) return [];
      const r = await pool.query<Row>(
        `select subject_id, wrapped, kek_id from personal_keys where subject_id = any($1::uuid[])`,
        [subjectIds],
      );
      return r.rows.map(toRow);
    },
    async insertIfAbsent(subjectId, kind, wrapped, kekId) {
      const ins = await pool.query<Row>(
        `insert into personal_keys (subject_id, subject_kind, wrapped, kek_id) values ($1, $2, $3, $4)
         on conflict (subject_id) do nothing returning subject_id, wrapped, kek_id`,
        [subjectId, kind, wrapped, kekId],
      );
      if (ins.rows[0]) return { row: toRow(ins.rows[0]), inserted: true };
      const [row] = await this.get([subjectId]);
      if (!row) throw new Error('personal key vanished between insert and read');
      return { row, inserted: false };
    },
    async destroyForGood(subjectId, kind) {
      await pool.query(
        `insert into personal_keys (subject_id, subject_kind, wrapped, kek_id, destroyed_at)
         values ($1, $2, null, null, now())
         on conflict (subject_id) do update set wrapped = null, kek_id = null,
           destroyed_at = coalesce(personal_keys.destroyed_at, now())`,
        [subjectId, kind],
      );
      await vacuum();
    },
    async replaceEmail(subjectId, wrapped, kekId) {
      await pool.query(
        `insert into personal_keys (subject_id, subject_kind, wrapped, kek_id) values ($1, 'email', $2, $3)
         on conflict (subject_id) do update set wrapped = excluded.wrapped, kek_id = excluded.kek_id,
           created_at = now(), destroyed_at = null`,
        [subjectId, wrapped, kekId],
      );
      await vacuum();
    },
    async importLegacy(rows) {
      for (const r of rows) {
        await pool.query(
          `insert into personal_keys (subject_id, subject_kind, wrapped, kek_id, created_at, destroyed_at)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (subject_id) do update set wrapped = null, kek_id = null,
             destroyed_at = coalesce(personal_keys.destroyed_at, excluded.destroyed_at)
           where excluded.destroyed_at is not null and personal_keys.subject_kind = 'user'`,
          [r.subject_id, r.subject_kind, r.wrapped, r.kek_id, r.created_at, r.destroyed_at],
        );
      }
      if (rows.length > 0) await vacuum();
    },
    async secrets() {
      const r = await pool.query<Row>(
        `select subject_id, wrapped, kek_id from personal_keys where subject_kind = 'secret'`,
      );
      return r.rows.map(toRow);
    },
    async hasEmailKeys() {
      const r = await pool.query(`select 1 from personal_keys where subject_kind = 'email' limit 1`);
      return r.rows.length > 0;
    },
  };
}
