import type { AuditFilters } from '../api/listAuditLogs';

export const FILTER_FIELDS = [
  'actor',
  'actorType',
  'action',
  'targetType',
  'targetId',
  'from',
  'to',
] as const;
type Field = (typeof FILTER_FIELDS)[number];

export const ACTOR_TYPES = ['user', 'api_key', 'system', 'anonymous'] as const;
type ActorType = (typeof ACTOR_TYPES)[number];
const isActorType = (v: string): v is ActorType => (ACTOR_TYPES as readonly string[]).includes(v);

/**
 * The filters of a shared view, from the page's search params (the URL is the filters' one home, so a
 * filtered view can be bookmarked and sent). Values go to the API as written: one it refuses comes back
 * as a validation error drawn next to its field.
 */
export function filtersFromParams(params: URLSearchParams): AuditFilters {
  const get = (f: Field) => params.get(f)?.trim() || undefined;
  const actorType = get('actorType');
  const filters: AuditFilters = {
    actor: get('actor'),
    actorType: actorType !== undefined && isActorType(actorType) ? actorType : undefined,
    action: get('action'),
    targetType: get('targetType'),
    targetId: get('targetId'),
    from: get('from'),
    to: get('to'),
  };
  // Only the filters set: the query key and the API's query string carry no undefined entries.
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined));
}

/** The search params of a set of filters (empty ones left out). */
export function paramsOf(filters: Readonly<Partial<Record<Field, string>>>): URLSearchParams {
  const q = new URLSearchParams();
  for (const f of FILTER_FIELDS) {
    const v = filters[f]?.trim();
    if (v) q.set(f, v);
  }
  return q;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An ISO date-time as the value of a `datetime-local` input (local time), '' when it is not one. */
export function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (local time) as the API's ISO date-time; '' stays ''. */
export function fromLocalInput(local: string): string {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

/** Suggestions for the action filter: every prefix and the actions the server writes today. */
export const ACTION_SUGGESTIONS = [
  'api_key.*',
  'api_key.created',
  'api_key.revoked',
  'flag.*',
  'flag_override.*',
  'invitation.*',
  'member.*',
  'member.invited',
  'member.joined',
  'member.left',
  'member.removed',
  'member.role_changed',
  'organization.*',
  'organization.updated',
  'ownership.*',
  'project.*',
  'project.created',
  'project.updated',
  'project.deleted',
  'role.*',
];
