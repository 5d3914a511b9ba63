import type { Schemas } from '../../../api/client';

type AuditEvent = Schemas['AuditEvent'];

/** The end of an id: ids are UUIDv7, whose first characters are a timestamp shared by neighbours. */
const short = (id: string) => (id.length > 13 ? `…${id.slice(-8)}` : id);

/** Who acted, for a person: a member's email when known, else the kind of actor and a short id. */
export function actorLabel(actor: AuditEvent['actor'], emails: ReadonlyMap<string, string>): string {
  const id = actor.id;
  switch (actor.type) {
    case 'user':
      return id ? (emails.get(id) ?? `user ${short(id)}`) : 'user';
    case 'api_key':
      return id ? `API key ${short(id)}` : 'API key';
    case 'system':
      return id ? `system (${id})` : 'system';
    default:
      return 'anonymous';
  }
}

/** What was acted on: its type and the name the entry's metadata gives it, else a short id. */
export function targetLabel(e: Pick<AuditEvent, 'target' | 'metadata'>): string {
  const { type, id } = e.target;
  const meta = e.metadata;
  const name =
    meta && typeof meta === 'object' && 'name' in meta && typeof meta.name === 'string' ? meta.name : null;
  if (name) return `${type} “${name}”`;
  return id ? `${type} ${short(id)}` : type;
}
