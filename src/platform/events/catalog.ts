import type { AuditEntry } from '../audit/chain.js';

/**
 * The domain events an organization's webhooks can receive, and the ONE table that derives them from the
 * audit log: every change the product makes in an organization is audited in its transaction
 * (`recordAudit`), so an audited action listed in {@link AUDIT_EVENTS} emits its domain event in that same
 * transaction without any code in the module that made the change (src/platform/events/outbox.ts).
 * Adding an event type = adding a row here (and a line to docs/webhooks.md).
 */
export const EVENT_TYPES = [
  'organization.created',
  'organization.updated',
  'organization.suspended',
  'organization.reactivated',
  'organization.deletion_scheduled',
  'organization.deletion_cancelled',
  'organization.deleted',
  'organization.plan_changed',
  'member.added',
  'member.removed',
  'member.role_changed',
  'member.ownership_transferred',
  'invitation.created',
  'invitation.accepted',
  'invitation.revoked',
  'invitation.resent',
  'api_key.created',
  'api_key.revoked',
  'invoice.finalized',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** How one audited action becomes a domain event: its type, and extra `data` fields if any. */
export interface EventMapping {
  readonly type: EventType;
  readonly extra?: (entry: AuditEntry) => Record<string, unknown>;
}

/**
 * Audit action → domain event. Several actions may give the same type (`member.joined` is how an invitation
 * adds a member; `organization.unsuspended` is the reactivation the lifecycle states call `reactivated`).
 */
export const AUDIT_EVENTS: Readonly<Record<string, EventMapping>> = {
  'organization.created': { type: 'organization.created' },
  'organization.updated': { type: 'organization.updated' },
  'organization.suspended': { type: 'organization.suspended' },
  'organization.unsuspended': { type: 'organization.reactivated' },
  'organization.reactivated': { type: 'organization.reactivated' },
  'organization.deletion_requested': { type: 'organization.deletion_scheduled' },
  'organization.deletion_scheduled': { type: 'organization.deletion_scheduled' },
  'organization.deletion_cancelled': { type: 'organization.deletion_cancelled' },
  // `organization.deleted` has no audit action here: the organization's chain is purged with it, so the
  // deletion job writes the event itself (src/modules/webhooks/deletion-event.ts, docs/webhooks.md).
  'organization.plan_changed': { type: 'organization.plan_changed' },
  'member.joined': { type: 'member.added' },
  'member.added': { type: 'member.added' },
  'member.removed': { type: 'member.removed', extra: () => ({ reason: 'removed' }) },
  'member.left': { type: 'member.removed', extra: () => ({ reason: 'left' }) },
  'member.role_changed': { type: 'member.role_changed' },
  'ownership.transferred': { type: 'member.ownership_transferred' },
  'member.invited': { type: 'invitation.created' },
  'invitation.accepted': { type: 'invitation.accepted' },
  'invitation.revoked': { type: 'invitation.revoked' },
  'invitation.resent': { type: 'invitation.resent' },
  'api_key.created': { type: 'api_key.created' },
  'api_key.revoked': { type: 'api_key.revoked' },
  'invoice.finalized': { type: 'invoice.finalized' },
};

/** The body every webhook of an event carries (Standard Webhooks: `type`, `timestamp`, `data`). */
export interface EventPayload {
  readonly id: string;
  readonly type: EventType;
  readonly timestamp: string;
  readonly organization_id: string;
  readonly actor: { readonly type: string; readonly id: string | null };
  readonly data: Record<string, unknown>;
}

/**
 * The event of an audit entry, or null when its action is not mapped. `data` is the audited object
 * (`object`, `id`), the entry's metadata and, for a change, `previous` and `current` (the audit log's
 * before/after, already redacted of anything that looks like a secret by the audit recorder).
 */
export function eventOf(entry: AuditEntry): EventPayload | null {
  const mapping = Object.hasOwn(AUDIT_EVENTS, entry.action) ? AUDIT_EVENTS[entry.action] : undefined;
  if (!mapping) return null;
  const changes = entry.changes as { before?: unknown; after?: unknown } | null;
  const metadata =
    entry.metadata && typeof entry.metadata === 'object' ? (entry.metadata as Record<string, unknown>) : {};
  return {
    id: entry.id,
    type: mapping.type,
    timestamp: entry.occurred_at,
    organization_id: entry.organization_id!,
    actor: entry.actor,
    data: {
      object: entry.target.type,
      id: entry.target.id,
      ...metadata,
      ...(changes ? { previous: changes.before ?? null, current: changes.after ?? null } : {}),
      ...mapping.extra?.(entry),
    },
  };
}

const PATTERN = /^(\*|[a-z][a-z0-9_]*\.\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/;

/** True when `pattern` (`*`, `member.*` or an exact type) is one an endpoint may filter on: a known type,
 *  or a prefix some known type has. */
export function isEventPattern(pattern: string): boolean {
  if (!PATTERN.test(pattern)) return false;
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return EVENT_TYPES.some((t) => t.startsWith(pattern.slice(0, -1)));
  return (EVENT_TYPES as readonly string[]).includes(pattern);
}

/** True when an endpoint filtering on `patterns` receives events of `type`. */
export function matchesEventFilter(patterns: readonly string[], type: string): boolean {
  return patterns.some(
    (p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))),
  );
}
