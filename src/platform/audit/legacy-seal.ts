import { createPrivateKey, sign, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import type { Principal } from '../tenancy/context.js';
import { isTenantId } from '../tenancy/context.js';
import type { DataSubject, UserKeyStore } from '../user-keys/user-keys.js';
import { isSealedPersonal } from '../user-keys/personal-seal.js';
import { canonicalJson } from './canonical-json.js';
import { buildEntry, entryHash, GENESIS_HASH, type AuditEntry, type AuditEventInput } from './chain.js';
import { personalKeysFor, sealEntry } from './personal-fields.js';
import { checkpointStatement, type AuditVerifier, type CheckpointStatement } from './signing.js';
import { storedEntry, type StoredAuditRow, type StoredEntry } from './stored.js';
import { verifyChain, type StoredCheckpoint } from './verify-chain.js';

/**
 * `saasready audit seal-legacy` (docs/erasure.md, "Entries written before migration 0028"): seals the
 * personal fields that entries written before per-person sealing hold in clear (and those earlier versions
 * wrote in clear for schema-placed and moving organizations), exactly as new entries are
 * sealed (personal-fields.ts `sealEntry`: same `pd1.` format, same associated data), then recomputes every
 * hash from the first rewritten entry on, moves the chain head, re-signs the checkpoints covering
 * rewritten entries, and records a signed attestation in the platform chain. One transaction per chain,
 * as the owner role; a chain that does not verify is refused untouched. Everything that reads or writes
 * the audit tables' layout is in this file, so a change of the audit storage adapts it here.
 */

/** Events whose `metadata.email` is the invitee's address (sealed under the address's key since 0028). */
const INVITATION_ACTIONS = new Set([
  'member.invited',
  'invitation.resent',
  'invitation.revoked',
  'invitation.accepted',
]);

/** Single sign-on's just-in-time account: its `metadata.email` is the provisioned user's (their key). */
const PROVISIONED_ACTION = 'user.provisioned';

/** The attestation's action in the platform chain. */
export const LEGACY_SEALED_ACTION = 'audit.legacy_sealed';

export interface LegacySealDeps {
  /** The owner (migration) role: it owns the audit tables. Never the runtime role. */
  readonly pool: pg.Pool;
  /** Reads `users` for key creation (the same database, any role that may read it). */
  readonly db: Kysely<Database>;
  readonly userKeys: UserKeyStore;
  /** The checkpoint signing key (re-signs checkpoints, signs the attestation). */
  readonly signingKey: { kid: string; privateJwk: JWK };
  /** Checks the chain's checkpoints before the rewrite (current and retired keys). */
  readonly verifier: AuditVerifier;
  readonly now?: () => Date;
  /**
   * How long a lock on the audit tables is waited for (default 30 s): past it the run stops with an error
   * (resumable). Bounded so that a long transaction on those tables never leaves the rewrite's request
   * queued, every audit write and read of every organization queued behind it, for as long.
   */
  readonly lockTimeoutMs?: number;
}

/**
 * Puts the organization's own schema first on the transaction's search path when its PLACEMENT is a
 * schema one (migration 0042's `app_migrate_placements()`, the owner's way to read placements) and the
 * schema exists: the path `app_placement_search_path` gives the sealer. Not whenever a schema of its name
 * exists: one synchronized ahead of a move is empty while the chain is still public's.
 */
const ORG_SCHEMA_PATH = `select pg_catalog.set_config('search_path', 'pg_catalog, ' || pg_catalog.quote_ident(p.schema_name) || ', public', true)
   from public.app_migrate_placements() p
  where p.organization_id = $1 and p.kind = 'schema'
    and exists (select 1 from pg_catalog.pg_namespace n where n.nspname = p.schema_name)`;

/** The `lock_timeout` of a rewrite's or a listing's transaction. */
const lockTimeout = (deps: LegacySealDeps) =>
  `set local lock_timeout = '${Math.max(1, Math.floor(deps.lockTimeoutMs ?? 30_000))}ms'`;

export interface LegacySealResult {
  /** The organization id, or `platform`. */
  readonly chain: string;
  readonly status: 'rewritten' | 'nothing_to_do' | 'invalid' | 'moving';
  readonly entriesRewritten: number;
  readonly checkpointsResigned: number;
  readonly oldHead: string | null;
  readonly newHead: string | null;
  /** Why an invalid chain was refused. */
  readonly detail?: string;
}

const hex = (b: Buffer) => b.toString('hex');

/** Tables of one chain. */
interface ChainTables {
  readonly events: string;
  readonly where: string;
  readonly params: unknown[];
  readonly head: string;
}

/** The entry with its clear personal fields sealed, or null when it holds none. */
async function sealedVersion(deps: LegacySealDeps, entry: AuditEntry): Promise<AuditEntry | null> {
  const clear = (v: unknown) => typeof v === 'string' && !isSealedPersonal(v);
  const actorFields =
    (entry.actor.type === 'user' || entry.actor.type === 'api_key') &&
    (clear(entry.ip) || clear(entry.user_agent));
  const m = entry.metadata as Record<string, unknown> | null;
  const email =
    m && typeof m === 'object' && !Array.isArray(m) && clear(m.email) ? (m.email as string) : null;
  // Whose key seals `metadata.email`, as the event names it when recorded today (its `personal`).
  const subject: DataSubject | null =
    email === null
      ? null
      : INVITATION_ACTIONS.has(entry.action)
        ? { kind: 'email', email }
        : entry.action === PROVISIONED_ACTION && entry.target.type === 'user' && entry.target.id
          ? { kind: 'user', userId: entry.target.id }
          : null;
  if (!actorFields && !subject) return null;
  // Whose key seals the actor's fields, as for a new entry: the user's, or the API key's organization's.
  const actor: Principal =
    entry.actor.type === 'user' && entry.actor.id
      ? { kind: 'user', userId: entry.actor.id }
      : entry.actor.type === 'api_key' && entry.actor.id && entry.organization_id
        ? { kind: 'api_key', keyId: entry.actor.id, organizationId: entry.organization_id }
        : { kind: 'anonymous' };
  const event: AuditEventInput = {
    action: entry.action,
    target: entry.target,
    personal: subject ? { subject, keys: ['email'] } : null,
  };
  const keys = await personalKeysFor(deps.userKeys, deps.db, actor, event);
  let out = keys ? sealEntry(entry, keys, event) : entry;
  // No key can be made (the user row is gone): nothing of theirs stays in clear.
  if (actorFields && !keys?.actor) out = { ...out, ip: null, user_agent: null };
  if (subject && !keys?.subject) out = { ...out, metadata: { ...(out.metadata as object), email: null } };
  return out;
}

async function signAttestation(deps: LegacySealDeps, statement: Record<string, unknown>): Promise<string> {
  const key = createPrivateKey({ key: deps.signingKey.privateJwk as JsonWebKey, format: 'jwk' });
  return sign(null, Buffer.from(canonicalJson(statement), 'utf8'), key).toString('base64url');
}

/** Appends the attestation to the platform chain, inside the caller's transaction (its head locked). */
async function attest(
  c: pg.PoolClient,
  deps: LegacySealDeps,
  what: { chain: string; oldHead: string; newHead: string; firstSeq: number; rewritten: number },
): Promise<void> {
  await c.query(
    `insert into platform_audit_head (singleton, seq, hash) values (true, 0, $1)
    on conflict (singleton) do nothing`,
    [GENESIS_HASH],
  );
  const head = (
    await c.query<{ seq: string; hash: Buffer }>(
      'select seq, hash from platform_audit_head where singleton for update',
    )
  ).rows[0]!;
  const at = (deps.now ?? (() => new Date()))();
  const statement = {
    v: 1,
    chain: what.chain,
    old_head: what.oldHead,
    new_head: what.newHead,
    first_seq: what.firstSeq,
    rewritten: what.rewritten,
    at: at.toISOString(),
    key_id: deps.signingKey.kid,
  };
  const entry = buildEntry({
    organizationId: null,
    seq: Number(head.seq) + 1,
    id: uuidv7(),
    occurredAt: at,
    actor: { kind: 'system', name: 'audit.seal-legacy' },
    requestId: null,
    event: {
      action: LEGACY_SEALED_ACTION,
      target: { type: 'audit_chain', id: what.chain },
      metadata: { ...statement, sig: await signAttestation(deps, statement) },
    },
  });
  const hash = entryHash(head.hash, entry);
  await c.query(
    `insert into platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action, target_type,
       target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
     values ($1, $2, $3, $4, $5, $6, $7, $8, null, null, null, null, $9::jsonb, $10, $11)`,
    [
      entry.seq,
      entry.id,
      entry.occurred_at,
      entry.actor.type,
      entry.actor.id,
      entry.action,
      entry.target.type,
      entry.target.id,
      canonicalJson(entry.metadata),
      head.hash,
      hash,
    ],
  );
  await c.query('update platform_audit_head set seq = $1, hash = $2, updated_at = now() where singleton', [
    entry.seq,
    hash,
  ]);
}

/**
 * Seals one chain's legacy fields: `org`'s, or the platform chain's (null). Idempotent: a chain with no
 * clear field left is not touched.
 */
export async function sealLegacyChain(deps: LegacySealDeps, org: string | null): Promise<LegacySealResult> {
  const chain = org ?? 'platform';
  const t: ChainTables = org
    ? { events: 'audit_events', where: 'organization_id = $1', params: [org], head: 'audit_chain_heads' }
    : { events: 'platform_audit_events', where: 'true', params: [], head: 'platform_audit_head' };
  const c = await deps.pool.connect();
  const nothing: LegacySealResult = {
    chain,
    status: 'nothing_to_do',
    entriesRewritten: 0,
    checkpointsResigned: 0,
    oldHead: null,
    newHead: null,
  };
  try {
    await c.query('begin');
    await c.query(lockTimeout(deps));
    // Before the placement is read: only the owner may read it.
    const owner = await c.query<{ ok: boolean }>(
      `select pg_has_role(current_user, relowner, 'USAGE') as ok from pg_class where oid = $1::regclass`,
      [t.events],
    );
    if (!owner.rows[0]?.ok) throw new Error('audit seal-legacy runs as the owner (migration) role');
    // An organization placed in its own schema has its chain there (migration 0039): its audit tables
    // first on the path, the global ones from public, for this transaction.
    if (org) {
      if (!isTenantId(org)) throw new Error('audit seal-legacy: an organization id is a canonical UUID');
      // Not during an online move: the move compares and carries the chain it copied, and its catch-up
      // could not update rows rewritten in the source under it (append-only). A run after the move seals it.
      const move = await c.query<{ step: string }>(
        'select step from app_priv_placement_moves($1, null, null, null, 1)',
        [org],
      );
      const step = move.rows[0]?.step;
      if (step !== undefined && step !== 'done' && step !== 'aborted') {
        await c.query('rollback');
        return { ...nothing, status: 'moving', detail: `its placement move is at step ${step}` };
      }
      // The events still pending (recorded by an instance of an earlier version, say) are chained first,
      // in this transaction, so that they are rewritten too rather than chained in clear afterwards.
      await c.query('select public.app_audit_seal_org($1, 2147483647, true)', [org]);
      await c.query(ORG_SCHEMA_PATH, [org]);
    }
    // The head first (the lock `app_audit_seal` takes, so no sealer appends meanwhile), then the tables:
    // their append-only triggers and forced row security are lifted inside this transaction only. Both
    // modes conflict with the row-share lock of an appender's `select ... for update` of the head, so the
    // rewrite waits for an appender already holding the head instead of deadlocking with its write (a
    // `share row exclusive` lock did not: taken beside the appender's, it then waited for its row while
    // the appender waited for the table).
    const tables = org
      ? ['audit_chain_heads', 'audit_events', 'audit_checkpoints']
      : ['platform_audit_head', 'platform_audit_events'];
    await c.query(`lock table ${tables.join(', ')} in ${org ? 'access exclusive' : 'exclusive'} mode`);
    if (org) {
      for (const x of ['audit_chain_heads', 'audit_events', 'audit_checkpoints']) {
        await c.query(`alter table ${x} no force row level security`);
      }
      await c.query('alter table audit_checkpoints disable trigger audit_checkpoints_append_only');
    }
    await c.query(`alter table ${t.events} disable trigger ${t.events}_append_only`);
    const headRow = (
      await c.query<{ seq: string; hash: Buffer }>(
        `select seq, hash from ${t.head} where ${t.where} for update`,
        t.params,
      )
    ).rows[0];
    const rows = (
      await c.query<StoredAuditRow>(`select * from ${t.events} where ${t.where} order by seq`, t.params)
    ).rows;
    if (!headRow || rows.length === 0) {
      await c.query('rollback');
      return nothing;
    }
    const head = { seq: Number(headRow.seq), hash: headRow.hash };
    const cps = org
      ? (
          await c.query<{
            id: string;
            seq: string;
            head_hash: Buffer;
            signed_at: Date;
            key_id: string;
            signature: Buffer;
            statement_v: number;
            retention_days: number | null;
          }>(
            'select id, seq, head_hash, signed_at, key_id, signature, statement_v, retention_days from audit_checkpoints where organization_id = $1 order by seq',
            [org],
          )
        ).rows
      : [];
    const toCheckpoint = (r: (typeof cps)[number]): StoredCheckpoint => ({
      statement: checkpointStatement({ ...r, organization_id: org }),
      signature: r.signature,
    });
    const entries: StoredEntry[] = rows.map(storedEntry);
    const before = await verifyChain({
      entries,
      head,
      checkpoints: cps.map(toCheckpoint),
      verifier: deps.verifier,
    });
    if (!before.valid) {
      await c.query('rollback');
      return {
        ...nothing,
        status: 'invalid',
        oldHead: hex(head.hash),
        detail: `broken at seq ${before.firstBrokenSeq} (${before.reason}): ${before.detail}`,
      };
    }
    // A checkpoint signed by a key this run does not know is skipped by verification, and a rewrite would
    // re-sign it with the current key: it would bless whatever the entries hold now and overwrite the only
    // signature that could show they were rewritten before. Every checkpoint must verify.
    if (before.checkpointsUnverifiable > 0) {
      await c.query('rollback');
      return {
        ...nothing,
        status: 'invalid',
        oldHead: hex(head.hash),
        detail: `${before.checkpointsUnverifiable} checkpoint(s) signed by a key this run does not know: give its public key in AUDIT_RETIRED_KEYS`,
      };
    }
    const sealed: (AuditEntry | null)[] = [];
    for (const e of entries) sealed.push(await sealedVersion(deps, e.entry));
    const first = sealed.findIndex((s) => s !== null);
    if (first < 0) {
      await c.query('rollback');
      return nothing;
    }
    // Every hash from the first rewritten entry on.
    let prev = entries[first]!.prevHash;
    const rewritten: StoredEntry[] = entries.slice(0, first);
    const newHash = new Map<number, Buffer>();
    for (let i = first; i < entries.length; i++) {
      const entry = sealed[i] ?? entries[i]!.entry;
      const hash = entryHash(prev, entry);
      await c.query(
        `update ${t.events} set ip = $2, user_agent = $3, metadata = $4::jsonb, prev_hash = $5, hash = $6
          where ${org ? 'organization_id = $7 and ' : ''}seq = $1`,
        [
          entry.seq,
          entry.ip,
          entry.user_agent,
          entry.metadata === null ? null : canonicalJson(entry.metadata),
          prev,
          hash,
          ...t.params,
        ],
      );
      rewritten.push({ entry, prevHash: prev, hash });
      newHash.set(entry.seq, hash);
      prev = hash;
    }
    await c.query(
      `update ${t.head} set hash = $${t.params.length + 1}, updated_at = now() where ${org ? 'organization_id = $1' : 'singleton'}`,
      [...t.params, prev],
    );
    // Checkpoints covering rewritten entries: re-signed now, with the current key.
    const at = (deps.now ?? (() => new Date()))();
    const key = createPrivateKey({ key: deps.signingKey.privateJwk as JsonWebKey, format: 'jwk' });
    let resigned = 0;
    for (const r of cps) {
      const h = newHash.get(Number(r.seq));
      if (!h) continue;
      // The same statement version (and stated retention) as before, over the new hash.
      const statement: CheckpointStatement = checkpointStatement({
        ...r,
        organization_id: org,
        head_hash: h,
        signed_at: at,
        key_id: deps.signingKey.kid,
      });
      const signature = sign(null, Buffer.from(canonicalJson(statement), 'utf8'), key);
      await c.query(
        `update audit_checkpoints set head_hash = $3, signed_at = $4, key_id = $5, signature = $6
          where organization_id = $1 and id = $2`,
        [org, r.id, h, statement.signed_at, statement.key_id, signature],
      );
      resigned += 1;
    }
    if (org) {
      await c.query('alter table audit_checkpoints enable trigger audit_checkpoints_append_only');
      for (const x of ['audit_chain_heads', 'audit_events', 'audit_checkpoints']) {
        await c.query(`alter table ${x} force row level security`);
      }
    }
    await c.query(`alter table ${t.events} enable trigger ${t.events}_append_only`);
    const count = entries.length - first;
    const result: LegacySealResult = {
      chain,
      status: 'rewritten',
      entriesRewritten: sealed.filter((s) => s !== null).length,
      checkpointsResigned: resigned,
      oldHead: hex(head.hash),
      newHead: hex(prev),
    };
    await attest(c, deps, {
      chain,
      oldHead: result.oldHead!,
      newHead: result.newHead!,
      firstSeq: entries[first]!.entry.seq,
      rewritten: count,
    });
    await c.query('commit');
    return result;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** Every organization's chain, then the platform chain. Returns one result per chain with entries. */
export async function sealLegacyAll(
  deps: LegacySealDeps,
  onChain?: (r: LegacySealResult) => void,
): Promise<LegacySealResult[]> {
  const out: LegacySealResult[] = [];
  // The chains: the organizations with a head (read with row security lifted in a transaction undone),
  // or with events pending.
  const c = await deps.pool.connect();
  let ids: string[];
  try {
    await c.query('begin');
    await c.query(lockTimeout(deps));
    // public's heads and those of every organization schema (schema placements) the owner owns.
    const schemas = await c.query<{ s: string }>(
      `select n.nspname::text as s from pg_catalog.pg_namespace n
        where n.nspname ~ '^t_[0-9a-f]{32}$' and n.nspowner = current_user::regrole
          and exists (select 1 from pg_catalog.pg_class k where k.relnamespace = n.oid and k.relname = 'audit_chain_heads')
        order by 1`,
    );
    const found = new Set<string>();
    for (const s of ['public', ...schemas.rows.map((r) => r.s)]) {
      await c.query(`alter table "${s}".audit_chain_heads no force row level security`);
      const heads = await c.query<{ organization_id: string }>(
        `select organization_id from "${s}".audit_chain_heads`,
      );
      for (const r of heads.rows) found.add(r.organization_id);
    }
    // And the organizations with pending events but no chain yet (each run chains its pending events
    // first): the seal sweep's list, which looks in every schema.
    for (let after: string | null = null; ;) {
      const page: { rows: { organization_id: string }[] } = await c.query<{ organization_id: string }>(
        'select organization_id from worker_api.app_priv_audit_orgs_pending($1, 500)',
        [after],
      );
      for (const r of page.rows) found.add(r.organization_id);
      if (page.rows.length < 500) break;
      after = page.rows[page.rows.length - 1]!.organization_id;
    }
    ids = [...found].sort();
  } finally {
    await c.query('rollback').catch(() => {});
    c.release();
  }
  for (const id of ids) {
    const r = await sealLegacyChain(deps, id);
    onChain?.(r);
    out.push(r);
  }
  const p = await sealLegacyChain(deps, null);
  onChain?.(p);
  out.push(p);
  return out;
}
