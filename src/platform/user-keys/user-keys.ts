import { createHmac } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { KmsProvider } from '../tenant-keys/contract.js';
import type { Database } from '../db/schema.js';

/** What a key is: a usable key, or destroyed (its user was erased). */
export type UserKeyState = { readonly kind: 'key'; readonly key: Buffer } | { readonly kind: 'destroyed' };

/** Whose personal data a key seals: a user, or an e-mail address (before any account has it). */
export type DataSubject =
  { readonly kind: 'user'; readonly userId: string } | { readonly kind: 'email'; readonly email: string };

/**
 * Per-person data keys (migration 0028, `personal_keys`): AES-256, stored only wrapped by the KMS
 * provider's key-encryption key, created on first need, one per user and one per e-mail address (its
 * subject id a keyed hash of the address, so the table does not reveal addresses). They seal the personal
 * fields of audit entries (personal-seal.ts). Destroying one (erasure) makes every value sealed under it
 * unreadable. Unwrapped keys are kept in process for a short time (`ttlMs`) and never logged or written.
 */
export interface UserKeyStore {
  /** The subject id of a person: the user id, or the keyed hash of the (normalized) address. */
  subjectId(subject: DataSubject): string;
  /** The cached state of a subject's key, if any (no round trip). */
  cached(subjectId: string): UserKeyState | undefined;
  /**
   * The subject's key for sealing, created in `db`'s transaction when it has none. `created` keys are not
   * cached: the caller caches them (`remember`) once its transaction committed. Null for a user id that
   * names no user (nothing is created).
   */
  forSealing(
    db: Kysely<Database>,
    subject: DataSubject,
  ): Promise<{ subjectId: string; state: UserKeyState; created: boolean } | null>;
  /** Caches a key whose row is committed. */
  remember(subjectId: string, state: UserKeyState): void;
  /** The keys of these subjects for opening (never creates one); a subject with no key is absent. */
  forOpening(db: Kysely<Database>, subjectIds: Iterable<string>): Promise<Map<string, UserKeyState>>;
  /**
   * Destroys the subject's key; idempotent. A user's row stays with no key (none is created again for an
   * erased user); an address gets a new key (what was sealed before no longer opens; a later invitation
   * to the address is readable again).
   */
  destroy(db: Kysely<Database>, subject: DataSubject): Promise<void>;
  /** Drops a cached key (another instance destroyed it). */
  forget(subjectId: string): void;
}

const DESTROYED: UserKeyState = { kind: 'destroyed' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CACHED = 10_000;

interface KeyRow {
  subject_id: string;
  wrapped: Buffer | null;
  kek_id: string | null;
}

/** A keyed hash of an address as a UUID (version 8): the same address always gives the same id. */
function emailSubjectId(secret: Buffer, email: string): string {
  const h = createHmac('sha256', secret).update(`email:${email.trim().toLowerCase()}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function createUserKeyStore(deps: {
  kms: KmsProvider;
  /** Keys the hash of e-mail subjects (32 bytes or more, secret; derived from the KEK in composition). */
  subjectSecret: Buffer;
  /** How long an unwrapped key stays in process (default 60 s). */
  ttlMs?: number;
  now?: () => number;
}): UserKeyStore {
  const ttl = deps.ttlMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const secret = Buffer.from(deps.subjectSecret);
  const cache = new Map<string, { state: UserKeyState; expires: number }>();

  const subjectId = (s: DataSubject) => (s.kind === 'user' ? s.userId : emailSubjectId(secret, s.email));
  const remember = (id: string, state: UserKeyState) => {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(id, { state, expires: now() + ttl });
  };
  const cached = (id: string) => {
    const hit = cache.get(id);
    if (!hit) return undefined;
    if (hit.expires <= now()) {
      cache.delete(id);
      return undefined;
    }
    return hit.state;
  };
  const stateOf = async (row: KeyRow): Promise<UserKeyState> =>
    row.wrapped && row.kek_id
      ? { kind: 'key', key: await deps.kms.decrypt(row.wrapped, row.kek_id) }
      : DESTROYED;
  const read = (db: Kysely<Database>, id: string) =>
    sql<KeyRow>`select subject_id, wrapped, kek_id from personal_keys where subject_id = ${id}`.execute(db);

  return {
    subjectId,
    cached,
    remember,
    forget: (id) => void cache.delete(id),

    async forSealing(db, subject) {
      // Not a user id (a test's made-up actor): no key, nothing sealed, no failing statement.
      if (subject.kind === 'user' && !UUID.test(subject.userId)) return null;
      const id = subjectId(subject);
      const hit = cached(id);
      if (hit) return { subjectId: id, state: hit, created: false };
      let res = await read(db, id);
      let created = false;
      if (res.rows.length === 0) {
        // No key yet: generate one and insert it unless a concurrent transaction did (this one then waits
        // for that one and keeps its key). A user's only if the user exists: a failed statement would
        // abort the caller's transaction.
        const fresh = await deps.kms.generateDataKey();
        const ins =
          subject.kind === 'user'
            ? await sql<KeyRow>`insert into personal_keys (subject_id, subject_kind, wrapped, kek_id)
                select u.id, 'user', ${fresh.wrapped}, ${fresh.kekId} from users u where u.id = ${id}
                on conflict (subject_id) do nothing
                returning subject_id, wrapped, kek_id`.execute(db)
            : await sql<KeyRow>`insert into personal_keys (subject_id, subject_kind, wrapped, kek_id)
                values (${id}, 'email', ${fresh.wrapped}, ${fresh.kekId})
                on conflict (subject_id) do nothing
                returning subject_id, wrapped, kek_id`.execute(db);
        created = ins.rows.length > 0;
        res = created ? ins : await read(db, id);
        if (res.rows.length === 0) return null;
      }
      let state: UserKeyState;
      try {
        state = await stateOf(res.rows[0]!);
      } catch {
        // A key the KMS cannot unwrap (a KEK replaced without re-wrapping): the write goes on, with no
        // personal field (sealed under nothing, written null), rather than failing for it.
        return { subjectId: id, state: DESTROYED, created: false };
      }
      if (!created) remember(id, state);
      return { subjectId: id, state, created };
    },

    async forOpening(db, ids) {
      const out = new Map<string, UserKeyState>();
      const missing: string[] = [];
      for (const id of new Set(ids)) {
        const hit = cached(id);
        if (hit) out.set(id, hit);
        else missing.push(id);
      }
      if (missing.length === 0) return out;
      const res = await sql<KeyRow>`select subject_id, wrapped, kek_id from personal_keys
        where subject_id = any(${missing}::uuid[])`.execute(db);
      for (const row of res.rows) {
        // A key the KMS cannot unwrap opens nothing (its fields show as erased); not cached.
        const state = await stateOf(row).catch(() => undefined);
        if (!state) continue;
        remember(row.subject_id, state);
        out.set(row.subject_id, state);
      }
      return out;
    },

    async destroy(db, subject) {
      const id = subjectId(subject);
      cache.delete(id);
      if (subject.kind === 'user') {
        await sql`insert into personal_keys (subject_id, subject_kind, wrapped, kek_id, destroyed_at)
          values (${id}, 'user', null, null, now())
          on conflict (subject_id) do update set wrapped = null, kek_id = null,
            destroyed_at = coalesce(personal_keys.destroyed_at, now())`.execute(db);
      } else {
        const fresh = await deps.kms.generateDataKey();
        await sql`insert into personal_keys (subject_id, subject_kind, wrapped, kek_id)
          values (${id}, 'email', ${fresh.wrapped}, ${fresh.kekId})
          on conflict (subject_id) do update set wrapped = excluded.wrapped, kek_id = excluded.kek_id,
            created_at = now(), destroyed_at = null`.execute(db);
      }
      cache.delete(id);
    },
  };
}
