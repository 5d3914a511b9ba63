import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Principal } from '../tenancy/context.js';
import { databaseOf } from '../tenancy/tenant-database.js';
import type { DataSubject, UserKeyState, UserKeyStore } from '../user-keys/user-keys.js';
import {
  clipUtf8,
  isSealedPersonal,
  openPersonal,
  sealedFor,
  sealPersonal,
  type PersonalBinding,
} from '../user-keys/personal-seal.js';
import type { AuditEntry, AuditEventInput } from './chain.js';

/**
 * Personal fields of audit entries, sealed under the acting user's key (issue 12, erasure).
 *
 * The entry keeps its shape and its hashing rule: `ip`, `user_agent` and the metadata keys an event
 * names in `personal` hold the SEALED text (personal-seal.ts) instead of the plaintext, and the chain's
 * hash covers that sealed text. Destroying the user's key (erasure) therefore changes no hashed byte:
 * every chain keeps verifying while the fields no longer open. Readers open them (`openPersonalFields`)
 * and show them as erased once the key is gone.
 */

/** Key stores per database (`databaseOf`: compose registers the control database's). */
const stores = new WeakMap<object, UserKeyStore>();
/** Stores of the platform chain, the newest composition last (several in one process in tests). */
const platformStores: UserKeyStore[] = [];

/**
 * Seals the personal fields of every event recorded on `db`'s database (a TenantDb) under user keys:
 * through `db` and through every handle on the same database (the control database's schema-placed
 * and moving organizations, placement.ts).
 */
export function usePersonalDataKeys(db: object, store: UserKeyStore): void {
  stores.set(databaseOf(db), store);
}

/**
 * Seals the personal fields of every event recorded in the tenant databases of `database` placements
 * (TENANT_DATABASES) with the same store: same keys, same sealed text, same erasure. Those databases hold
 * no users (users are rows of the control database), so a user's first key is created only once `users`
 * (the runtime role on the control database, no tenant set) says the user exists, read outside the
 * writing transaction. Users are never deleted, and an erased user's tombstone in the vault is never
 * replaced by a key (user-keys.ts), so the check gives the guarantee the control database's in-transaction
 * one gives.
 */
export function usePersonalDataKeysInTenantDatabases(
  databases: { readonly keys: readonly string[]; get(key: string): { readonly db: object } | undefined },
  store: UserKeyStore,
  users: Kysely<Database>,
): void {
  const elsewhere = store.checkingUsers(
    async (id) =>
      (await users.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst()) !== undefined,
  );
  for (const key of databases.keys) {
    const database = databases.get(key);
    if (database) usePersonalDataKeys(database.db, elsewhere);
  }
}

/** The store of `db`'s database, if one was registered. */
export const personalDataKeysOf = (db: object): UserKeyStore | undefined => stores.get(databaseOf(db));

/**
 * Seals the personal fields of platform-chain events: the store of the newest composition still open in
 * the process. The returned function unregisters it (on close), so a closed composition's store, whose key
 * vault pool has ended, is never used by another one.
 */
export function usePlatformPersonalDataKeys(store: UserKeyStore): () => void {
  platformStores.push(store);
  return () => {
    const at = platformStores.lastIndexOf(store);
    if (at >= 0) platformStores.splice(at, 1);
  };
}
export const platformPersonalDataKeys = (): UserKeyStore | undefined => platformStores.at(-1);

/**
 * Whose key seals an actor's ip and user agent: the user's; for an API key, its organization's (the
 * requests of an integration are the organization's, not its creator's: docs/erasure.md).
 */
export function personalSubjectOf(actor: Principal): DataSubject | null {
  if (actor.kind === 'user') return { kind: 'user', userId: actor.userId };
  if (actor.kind === 'api_key' && actor.organizationId) {
    return { kind: 'organization', organizationId: actor.organizationId };
  }
  return null;
}

/** A key fetched for an event, with the subject id its sealed values name. */
export interface SubjectKey {
  readonly subjectId: string;
  readonly state: UserKeyState;
}

/** Keys fetched for one event: the actor's and, when the event names one, the subject's. */
export interface PersonalKeys {
  readonly actor: SubjectKey | null;
  readonly subject: SubjectKey | null;
  /** Keys created in the caller's transaction: cache them once it committed. */
  readonly created: ReadonlyArray<readonly [string, UserKeyState]>;
}

const NO_KEYS_CREATED: PersonalKeys['created'] = [];

/**
 * The keys an event needs when every one is cached (no round trip, no promise: the common case of an
 * audited write); null when nothing of the event is sealed, undefined when one must be read
 * (`personalKeysFor`).
 */
export function cachedPersonalKeys(
  store: UserKeyStore,
  actor: Principal,
  event: AuditEventInput,
): PersonalKeys | null | undefined {
  const actorSubject = personalSubjectOf(actor);
  const subject = event.personal?.subject ?? null;
  if (!actorSubject && !subject) return null;
  let a: SubjectKey | null = null;
  if (actorSubject) {
    const id = store.knownSubjectId(actorSubject);
    const hit = id === undefined ? undefined : store.cached(id);
    if (id === undefined || !hit) return undefined;
    a = { subjectId: id, state: hit };
  }
  let s: SubjectKey | null = null;
  if (subject) {
    if (subject.kind === 'user' && actorSubject?.kind === 'user' && subject.userId === actorSubject.userId) {
      s = a;
    } else {
      const id = store.knownSubjectId(subject);
      const hit = id === undefined ? undefined : store.cached(id);
      if (id === undefined || !hit) return undefined;
      s = { subjectId: id, state: hit };
    }
  }
  return { actor: a, subject: s, created: NO_KEYS_CREATED };
}

/**
 * The keys an event needs, from the cache (no round trip) or the key vault (created there on first need).
 * Null when nothing of the event is sealed (no user or API key behind the actor, no subject).
 */
export async function personalKeysFor(
  store: UserKeyStore,
  db: Kysely<Database>,
  actor: Principal,
  event: AuditEventInput,
): Promise<PersonalKeys | null> {
  const actorSubject = personalSubjectOf(actor);
  const actorId = actorSubject?.kind === 'user' ? actorSubject.userId : null;
  const subject = event.personal?.subject ?? null;
  if (!actorSubject && !subject) return null;
  const created: [string, UserKeyState][] = [];
  const get = async (who: DataSubject): Promise<SubjectKey | null> => {
    const id = await store.subjectId(who);
    const hit = store.cached(id);
    if (hit) return { subjectId: id, state: hit };
    const got = await store.forSealing(db, who);
    if (!got) return null;
    if (got.created) created.push([got.subjectId, got.state]);
    return { subjectId: got.subjectId, state: got.state };
  };
  const a = actorSubject ? await get(actorSubject) : null;
  const s = subject ? (subject.kind === 'user' && subject.userId === actorId ? a : await get(subject)) : null;
  return { actor: a, subject: s, created };
}

/** The longest user agent sealed (octets of UTF-8): its sealed text stays under the 2,048 octets
 *  `audit_pending` accepts. */
const UA_SEALED_MAX = 1400;

/**
 * The entry with its personal fields sealed: ip and user agent under the actor's key, the metadata keys
 * of `event.personal` under the subject's. A destroyed key (an erased user) seals nothing: the field is
 * written as null.
 */
export function sealEntry(entry: AuditEntry, keys: PersonalKeys, event: AuditEventInput): AuditEntry {
  let metadata = entry.metadata;
  const names = event.personal?.keys ?? NO_NAMES;
  if (
    names.length > 0 &&
    keys.subject &&
    metadata &&
    typeof metadata === 'object' &&
    !Array.isArray(metadata)
  ) {
    const m = { ...(metadata as Record<string, unknown>) };
    for (const k of names) {
      const v = m[k];
      if (typeof v === 'string') m[k] = sealField(entry, keys.subject, `metadata.${k}`, v);
    }
    metadata = m;
  }
  return {
    ...entry,
    ip: sealField(entry, keys.actor, 'ip', entry.ip),
    user_agent: sealField(
      entry,
      keys.actor,
      'user_agent',
      entry.user_agent && clipUtf8(entry.user_agent, UA_SEALED_MAX),
    ),
    metadata,
  };
}

const NO_NAMES: readonly string[] = [];

/**
 * One field of `entry` sealed under `who`'s key; a destroyed key seals nothing (null). A module-level
 * function, not a closure made per entry: each closure made per call also cost a `__name` call (the
 * names esbuild keeps) on the audited write's path.
 */
function sealField(
  entry: AuditEntry,
  who: SubjectKey | null,
  field: string,
  value: string | null,
): string | null {
  if (value === null || !who) return value;
  if (who.state.kind === 'destroyed') return null;
  const binding: PersonalBinding = { organizationId: entry.organization_id, entryId: entry.id, field };
  return sealPersonal(who.state.key, who.subjectId, binding, value);
}

/** What a reader shows of an entry's personal fields. */
export interface OpenedPersonal {
  readonly ip: string | null;
  readonly userAgent: string | null;
  readonly metadata: unknown;
  /** The sealed fields that no longer open (their user was erased), e.g. `["ip", "metadata.email"]`. */
  readonly erased: string[];
  /** True when the entry holds sealed fields at all. */
  readonly sealed: boolean;
}

interface PersonalRow {
  readonly organization_id?: string | null;
  readonly id: string;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly metadata: unknown;
}

const sealedMetadataKeys = (metadata: unknown): string[] =>
  metadata && typeof metadata === 'object' && !Array.isArray(metadata)
    ? Object.entries(metadata as Record<string, unknown>)
        .filter(([, v]) => isSealedPersonal(v))
        .map(([k]) => k)
    : [];

/**
 * Opens the personal fields of `rows` with the keys of their users (fetched once for the batch through
 * `db`, without creating any). Values that are not sealed (entries written before migration 0028, actors
 * with no user) are shown as they are. A sealed value that does not open shows as null and is listed in
 * `erased`.
 */
export async function openPersonalFields(
  store: UserKeyStore | undefined,
  db: Kysely<Database>,
  rows: readonly PersonalRow[],
): Promise<OpenedPersonal[]> {
  const users = new Set<string>();
  for (const r of rows) {
    for (const v of [r.ip, r.user_agent]) if (isSealedPersonal(v)) users.add(sealedFor(v) ?? '');
    for (const k of sealedMetadataKeys(r.metadata)) {
      users.add(sealedFor((r.metadata as Record<string, string>)[k]!) ?? '');
    }
  }
  users.delete('');
  const keys = store && users.size > 0 ? await store.forOpening(users) : new Map<string, UserKeyState>();
  return rows.map((r) => {
    const erased: string[] = [];
    let sealed = false;
    const open = (field: string, v: string | null): string | null => {
      if (!isSealedPersonal(v)) return v;
      sealed = true;
      const userId = sealedFor(v);
      const state = userId ? keys.get(userId) : undefined;
      const binding = { organizationId: r.organization_id ?? null, entryId: r.id, field };
      const out = state?.kind === 'key' ? openPersonal(state.key, binding, v) : null;
      if (out === null) erased.push(field);
      return out;
    };
    const ip = open('ip', r.ip);
    const userAgent = open('user_agent', r.user_agent);
    let metadata = r.metadata;
    const names = sealedMetadataKeys(metadata);
    if (names.length > 0) {
      const m = { ...(metadata as Record<string, unknown>) };
      for (const k of names) m[k] = open(`metadata.${k}`, m[k] as string);
      metadata = m;
    }
    return { ip, userAgent, metadata: metadata ?? null, erased, sealed };
  });
}
