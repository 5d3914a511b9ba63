import { createHash } from 'node:crypto';
import type { Principal } from '../tenancy/context.js';
import { canonicalJson, isPlainJsonString, jsonSafe, jsonSafeString } from './canonical-json.js';

/** The `prev_hash` of the first entry of every chain. */
export const GENESIS_HASH = Buffer.alloc(32);

/** What a module says happened. Who, where from and when are filled in by the recorder. */
export interface AuditEventInput {
  /** `<resource>.<past-tense verb>`, e.g. `member.invited`, `api_key.created`. */
  readonly action: string;
  readonly target: { readonly type: string; readonly id?: string | null };
  /** Before/after of a settings change (only the fields that changed, ideally). */
  readonly changes?: { readonly before: unknown; readonly after: unknown } | null;
  /** Anything else worth keeping. Never secrets: keys that look like one are redacted anyway. */
  readonly metadata?: Record<string, unknown> | null;
  /**
   * Top-level `metadata` keys holding personal data of one person (e.g. an invitee's `email`): sealed under
   * that person's key — a user's, or an e-mail address's when there may be no account yet — like the
   * actor's ip and user agent (personal-fields.ts), so erasing them makes these values unreadable without
   * breaking the chain.
   */
  readonly personal?: {
    readonly subject:
      { readonly kind: 'user'; readonly userId: string } | { readonly kind: 'email'; readonly email: string };
    readonly keys: readonly string[];
  } | null;
}

export type ActorType = 'user' | 'api_key' | 'system' | 'anonymous';

/**
 * The hashed content of one chain entry. Its canonical JSON, prefixed by the previous entry's hash, is
 * what `hash` is the SHA-256 of. An export line is exactly this object plus `prev_hash` and `hash` (hex).
 */
export interface AuditEntry {
  readonly v: 1;
  /** Null for the platform chain. */
  readonly organization_id: string | null;
  readonly seq: number;
  readonly id: string;
  /** ISO 8601 with milliseconds, UTC. */
  readonly occurred_at: string;
  readonly actor: { readonly type: ActorType; readonly id: string | null };
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string | null };
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly request_id: string | null;
  readonly changes: unknown;
  readonly metadata: unknown;
}

/** `hash = SHA-256(prev_hash ‖ canonical JSON of the entry)`. */
export function entryHash(prevHash: Buffer, entry: AuditEntry): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalJson(entry), 'utf8').digest();
}

/** Actor type and id of a principal. */
export function actorOf(p: Principal): { type: ActorType; id: string | null } {
  switch (p.kind) {
    case 'user':
      return { type: 'user', id: p.userId };
    case 'api_key':
      return { type: 'api_key', id: p.keyId };
    case 'system':
      return { type: 'system', id: p.name };
    default:
      return { type: 'anonymous', id: null };
  }
}

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const SECRET_KEY =
  /pass(word|phrase)?|secret|token|totp|otp|recovery|hash|signature|private|credential|cookie|^code$|api_?key$/i;
export const REDACTED = '[REDACTED]';

/** Replaces the value of every key that looks like it holds a secret, at any depth. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? REDACTED : redactSecrets(v);
    return out;
  }
  return value;
}

/** What `plainCopy` answers for a value it does not handle. */
const NOT_PLAIN: unique symbol = Symbol('not plain');
/** JSON leaves these out of an object and writes null for them in an array. */
const omitted = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * `redactSecrets(jsonSafe(value))` without the JSON round trip, for plain data: plain objects (prototype
 * `Object.prototype` or null, no `toJSON`), arrays, strings with no NUL and no surrogate, finite numbers,
 * booleans and null, at most 64 levels deep. Anything else (a Date, a Map, a class instance, a non-finite
 * number, a bigint, a `__proto__` key, a cycle, ...) answers NOT_PLAIN and takes the general path, so the
 * result is always the same value (a property test holds the two equal).
 */
function plainCopy(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      return isPlainJsonString(v) ? v : NOT_PLAIN;
    case 'number':
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : NOT_PLAIN; // -0 is written 0
    case 'boolean':
      return v;
    case 'object': {
      if (v === null) return null;
      if (depth > 64 || typeof (v as { toJSON?: unknown }).toJSON === 'function') return NOT_PLAIN;
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return NOT_PLAIN;
        const out: unknown[] = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i];
          const c = omitted(e) ? null : plainCopy(e, depth + 1);
          if (c === NOT_PLAIN) return NOT_PLAIN;
          out[i] = c;
        }
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
      const obj = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(obj)) {
        const e = obj[k];
        if (omitted(e)) continue;
        if (k === '__proto__' || !isPlainJsonString(k)) return NOT_PLAIN;
        const c = plainCopy(e, depth + 1);
        if (c === NOT_PLAIN) return NOT_PLAIN;
        out[k] = SECRET_KEY.test(k) ? REDACTED : c;
      }
      return out;
    }
    default:
      return NOT_PLAIN;
  }
}

/** `redactSecrets(jsonSafe(value))`: the changes or metadata of an entry, safe to store and hash. */
export function safeRedacted(value: unknown): unknown {
  const c = plainCopy(value, 0);
  return c === NOT_PLAIN ? redactSecrets(jsonSafe(value)) : c;
}

const clip = (s: string | null | undefined, max: number): string | null =>
  s == null ? null : jsonSafeString(s.slice(0, max));

/** Builds the entry for `seq` (everything but the hashes), validated and sanitized. */
export function buildEntry(args: {
  organizationId: string | null;
  seq: number;
  id: string;
  occurredAt: Date;
  actor: Principal;
  requestId: string | null;
  ip?: string | null;
  userAgent?: string | null;
  event: AuditEventInput;
}): AuditEntry {
  const { event } = args;
  // 200: well under the 256 octets `audit_pending` accepts (migration 0015; the action is ASCII).
  if (event.action.length > 200 || !ACTION.test(event.action))
    throw new TypeError(`invalid audit action "${event.action}"`);
  return {
    v: 1,
    organization_id: args.organizationId,
    seq: args.seq,
    id: args.id,
    occurred_at: args.occurredAt.toISOString(),
    actor: actorOf(args.actor),
    action: event.action,
    target: { type: clip(event.target.type, 100) ?? 'unknown', id: clip(event.target.id, 200) },
    ip: clip(args.ip, 100),
    user_agent: clip(args.userAgent, 500),
    request_id: clip(args.requestId, 200),
    changes: event.changes ? safeRedacted(event.changes) : null,
    metadata: event.metadata ? safeRedacted(event.metadata) : null,
  };
}
