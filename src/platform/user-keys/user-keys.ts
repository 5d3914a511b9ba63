import { createHmac } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { KmsProvider } from '../tenant-keys/contract.js';
import type { PersonalKeyRow, PersonalKeyVault } from '../tenant-keys/key-vault-persons.js';
import type { Database } from '../db/schema.js';
import type { SubjectSecrets } from './subject-secret.js';

/** What a key is: a usable key, or destroyed (its user was erased). */
export type UserKeyState = { readonly kind: 'key'; readonly key: Buffer } | { readonly kind: 'destroyed' };

/**
 * Whose personal data a key seals: a user, an e-mail address (before any account has it), or an
 * organization (the address and agent of its API keys' requests: its integrations, no person's).
 */
export type DataSubject =
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'email'; readonly email: string }
  | { readonly kind: 'organization'; readonly organizationId: string };

/**
 * Per-person data keys: AES-256, stored only wrapped by the KMS provider's key-encryption key, in the key
 * vault (`personal_keys` there, beside the organizations' data keys; in the application database before
 * migration 0032), created on first need, one per user and one per e-mail address (its subject id a keyed
 * hash of the address, so the vault does not reveal addresses; the secret keying it is kept in the vault
 * and never changes, subject-secret.ts). They seal the personal fields of audit
 * entries (personal-seal.ts). Destroying one (erasure) makes every value sealed under it unreadable, in the
 * live database and in every backup of the application database. Unwrapped keys are kept in process for a
 * short time (`ttlMs`) and never logged or written.
 */
export interface UserKeyStore {
  /** The subject id of a person: the user id, or the keyed hash of the (normalized) address. */
  subjectId(subject: DataSubject): Promise<string>;
  /**
   * The subject id without waiting: undefined for an address until the secret keying address ids has been
   * loaded from the vault (the first address's event of the process loads it).
   */
  knownSubjectId(subject: DataSubject): string | undefined;
  /** The cached state of a subject's key, if any (no round trip). */
  cached(subjectId: string): UserKeyState | undefined;
  /**
   * The subject's key for sealing, created in the vault when it has none (`db`, the caller's transaction,
   * is only read: whether a user id names a user). `created` keys are not cached: the caller caches them
   * (`remember`) once its transaction committed. Null for a user id that names no user (nothing is
   * created).
   */
  forSealing(
    db: Kysely<Database>,
    subject: DataSubject,
  ): Promise<{ subjectId: string; state: UserKeyState; created: boolean } | null>;
  /**
   * The same store (cache, vault, keys) for a database that holds no users (a tenant database of a
   * `database` placement): when the caller's transaction (`db`) does not see the user, its `forSealing`
   * asks `userExists` (the control database, where users are, read outside the caller's transaction). Users are never deleted (erasure
   * anonymizes the row and leaves a tombstone in the vault), so checking them on another connection gives
   * the same answer; what keeps an erased user from a new key is the vault's tombstone, not the check.
   */
  checkingUsers(userExists: (userId: string) => Promise<boolean>): UserKeyStore;
  /** Caches a key whose row is committed. */
  remember(subjectId: string, state: UserKeyState): void;
  /** The keys of these subjects for opening (never creates one); a subject with no key is absent. */
  forOpening(subjectIds: Iterable<string>): Promise<Map<string, UserKeyState>>;
  /**
   * Destroys the subject's key in the vault; idempotent. A user's or an organization's row stays with no
   * key (none is created again for an erased user or a shredded organization); an address gets a new key
   * (what was sealed before no longer opens; a later invitation to the address is readable again), and so
   * does any key of the address under an id keyed by a legacy secret.
   */
  destroy(subject: DataSubject): Promise<void>;
  /** Drops a cached key (another instance destroyed it). */
  forget(subjectId: string): void;
}

const DESTROYED: UserKeyState = { kind: 'destroyed' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CACHED = 10_000;

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
  /** Where the wrapped keys live: the key vault (src/platform/tenant-keys/key-vault-persons.ts). */
  vault: PersonalKeyVault;
  /**
   * Keys the hash of e-mail subjects (32 bytes or more, secret): loaded once from the key vault in
   * composition (subject-secret.ts `loadSubjectSecrets`, never derived from the KEK: a KEK rotation must
   * not change an address's id), or given as is (tests).
   */
  subjectSecret: Buffer | (() => Promise<SubjectSecrets>);
  /**
   * Called once a subject's key was destroyed or replaced in the vault: the composition broadcasts it so
   * every other instance drops its cached copy at once (an address's key has no other message that would).
   */
  destroyed?: (subjectId: string) => void;
  /** How long an unwrapped key stays in process (default 60 s). */
  ttlMs?: number;
  now?: () => number;
}): UserKeyStore {
  const ttl = deps.ttlMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const given = deps.subjectSecret;
  let loading: Promise<SubjectSecrets> | undefined;
  const secrets = (): Promise<SubjectSecrets> => {
    if (Buffer.isBuffer(given)) return Promise.resolve({ current: given, legacy: [] });
    // Loaded once; a failure (the vault unreachable) is retried by the next call.
    loading ??= given().then(
      (got) => {
        loaded = got.current;
        return got;
      },
      (err: unknown) => {
        loading = undefined;
        throw err;
      },
    );
    return loading;
  };
  let loaded: Buffer | undefined = Buffer.isBuffer(given) ? given : undefined;
  const cache = new Map<string, { state: UserKeyState; expires: number }>();

  const knownSubjectId = (s: DataSubject): string | undefined =>
    s.kind === 'user'
      ? s.userId
      : s.kind === 'organization'
        ? s.organizationId
        : loaded && emailSubjectId(loaded, s.email);
  const subjectId = async (s: DataSubject): Promise<string> =>
    s.kind === 'user'
      ? s.userId
      : s.kind === 'organization'
        ? s.organizationId
        : emailSubjectId((await secrets()).current, s.email);
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
  const stateOf = async (row: PersonalKeyRow): Promise<UserKeyState> =>
    row.wrapped && row.kekId
      ? { kind: 'key', key: await deps.kms.decrypt(row.wrapped, row.kekId) }
      : DESTROYED;

  /** A stored row as a key for sealing (cached: its row is committed in the vault). */
  async function opened(id: string, row: PersonalKeyRow) {
    let state: UserKeyState;
    try {
      state = await stateOf(row);
    } catch {
      // A key the KMS cannot unwrap (a KEK replaced without re-wrapping): the write goes on, with no
      // personal field (sealed under nothing, written null), rather than failing for it.
      return { subjectId: id, state: DESTROYED, created: false };
    }
    remember(id, state);
    return { subjectId: id, state, created: false };
  }

  /**
   * The subject's key for sealing, created when it has none. A user's is created only if `userExists`
   * says the user is one; an erased user's row in the vault is a tombstone (no key), which
   * `insertIfAbsent` never replaces: an erasure committed before or during this call always wins.
   */
  type Sealing = { subjectId: string; state: UserKeyState; created: boolean } | null;
  async function sealingKey(
    subject: DataSubject,
    userExists: (userId: string) => Promise<boolean>,
  ): Promise<Sealing> {
    // Not a user id (a test's made-up actor): no key, nothing sealed, no failing statement.
    const id = await subjectId(subject);
    if (subject.kind !== 'email' && !UUID.test(id)) return null;
    const hit = cached(id);
    if (hit) return { subjectId: id, state: hit, created: false };
    const row = (await deps.vault.get([id]))[0];
    if (!row) {
      // No key yet (a person's first event ever): a user's only if the user exists. Generated, then
      // stored unless a concurrent writer stored one first (then that one is kept and used).
      if (subject.kind === 'user' && !(await userExists(id))) return null;
      const fresh = await deps.kms.generateDataKey();
      const stored = await deps.vault.insertIfAbsent(id, subject.kind, fresh.wrapped, fresh.kekId);
      if (stored.inserted)
        return { subjectId: id, state: { kind: 'key', key: fresh.plaintext }, created: true };
      fresh.plaintext.fill(0);
      return opened(id, stored.row);
    }
    return opened(id, row);
  }

  const userIn = async (db: Kysely<Database>, id: string): Promise<boolean> =>
    (await sql`select 1 from users where id = ${id}`.execute(db)).rows.length > 0;

  const store: UserKeyStore = {
    subjectId,
    knownSubjectId,
    cached,
    remember,
    forget: (id) => void cache.delete(id),

    // The caller's transaction, on the database holding the users (a user created in it counts).
    forSealing: (db, subject) => sealingKey(subject, (id) => userIn(db, id)),

    checkingUsers: (userExists) => ({
      ...store,
      // The caller's transaction first (a user row written in it counts, as on the control database),
      // then `userExists`.
      forSealing: (db, subject) =>
        sealingKey(subject, async (id) => (await userIn(db, id)) || (await userExists(id))),
    }),

    async forOpening(ids) {
      const out = new Map<string, UserKeyState>();
      const missing: string[] = [];
      for (const id of new Set(ids)) {
        const hit = cached(id);
        if (hit) out.set(id, hit);
        else missing.push(id);
      }
      if (missing.length === 0) return out;
      for (const row of await deps.vault.get(missing)) {
        // A key the KMS cannot unwrap opens nothing (its fields show as erased); not cached.
        const state = await stateOf(row).catch(() => undefined);
        if (!state) continue;
        remember(row.subjectId, state);
        out.set(row.subjectId, state);
      }
      return out;
    },

    async destroy(subject) {
      const id = await subjectId(subject);
      cache.delete(id);
      if (subject.kind !== 'email') {
        await deps.vault.destroyForGood(id, subject.kind);
      } else {
        const replace = async (at: string) => {
          const fresh = await deps.kms.generateDataKey();
          fresh.plaintext.fill(0);
          await deps.vault.replaceEmail(at, fresh.wrapped, fresh.kekId);
        };
        await replace(id);
        // Keys an older version made for the address under an id keyed by a KEK-derived secret.
        const legacy = (await secrets()).legacy.map((s) => emailSubjectId(s, subject.email));
        for (const row of await deps.vault.get(legacy.filter((l) => l !== id))) {
          cache.delete(row.subjectId);
          if (row.wrapped) await replace(row.subjectId);
          deps.destroyed?.(row.subjectId);
        }
      }
      cache.delete(id);
      deps.destroyed?.(id);
    },
  };
  return store;
}
