import { sql } from 'kysely';
import type { PlatformScope } from '../tenancy/platform-scope.js';
import type { Principal } from '../tenancy/context.js';
import type { AuditEntry, AuditEventInput } from './chain.js';
import { draftAudit } from './draft.js';
import { personalKeysFor, platformPersonalDataKeys, sealEntry } from './personal-fields.js';

/** Who acts on the platform (no organization). */
export interface PlatformActor {
  readonly actor: Principal;
  readonly requestId: string;
  /** The RAW token of the administrator's browser session (platform routes are session-only): what opens
   *  the platform scope (`withPlatformScope`). Absent where no platform definer function is called. */
  readonly sessionToken?: string;
}

/** The session token that opens `who`'s platform scope (`withPlatformScope(platformDb, it, …)`). */
export function platformSessionToken(who: PlatformActor): string {
  if (who.actor.kind !== 'user' || !who.sessionToken) {
    throw new Error('platform actions are taken by a platform administrator, in a browser session');
  }
  return who.sessionToken;
}

/**
 * Appends one event to the platform chain (actions with no organization, e.g. feature flag definitions),
 * in the caller's platform scope: `withPlatformScope(platformDb, platformSessionToken(who), scope => …)`.
 * Same entry shape, hashing and locking as an organization's chain (`recordAudit`), through the one
 * function allowed to append (`app_platform_audit_append`), which refuses outside the platform scope (a live session
 * of a platform administrator) and unless the event's actor is that administrator.
 */
export async function recordPlatformAudit(
  scope: PlatformScope,
  who: PlatformActor,
  event: AuditEventInput,
): Promise<AuditEntry> {
  // Not cached until committed: a key created in this scope is used for this event only (platform events
  // are rare; the next one reads it).
  const store = platformPersonalDataKeys();
  const keys = store ? await personalKeysFor(store, scope, who.actor, event) : null;
  const { entry: draft, args } = draftAudit(
    null,
    who.actor,
    who.requestId,
    event,
    keys ? (e) => sealEntry(e, keys, event) : undefined,
  );
  const res = await sql<{ seq: string }>`select seq from app_platform_audit_append(${args})`.execute(scope);
  const row = res.rows[0];
  if (!row) throw new Error('platform audit append returned no row');
  const entry = { ...draft, seq: Number(row.seq) };
  return entry;
}
