import { draftEntry } from '../../platform/audit/draft.js';
import type { PlacementMove } from '../../platform/tenancy/privileged-placement.js';

/** `organization.placement_moved` of a move, as the switch admits it to
 *  the organization's chain in the target (app_priv_placement_xmove_switch_target, migration 0076, or
 *  app_priv_placement_xmove_out_switch, 0078). */
export function switchAuditEntry(m: PlacementMove): Record<string, unknown> {
  const { entry, prefix, suffix, changesJson, metadataJson } = draftEntry(
    m.organizationId,
    { kind: 'system', name: 'placement-move' },
    `placement-move-${m.id}`,
    {
      action: 'organization.placement_moved',
      target: { type: 'organization', id: m.organizationId },
      metadata: {
        move_id: m.id,
        from: m.from === 'database' ? `database:${m.fromDatabaseKey}` : m.from,
        to: m.to === 'database' ? `database:${m.databaseKey}` : m.to,
        requested_by: m.requestedBy,
      },
    },
  );
  return {
    id: entry.id,
    occurred_at: entry.occurred_at,
    prefix,
    suffix,
    actor_type: entry.actor.type,
    actor_id: entry.actor.id,
    action: entry.action,
    target_type: entry.target.type,
    target_id: entry.target.id,
    request_id: entry.request_id,
    changes: changesJson === null ? null : (JSON.parse(changesJson) as unknown),
    metadata: metadataJson === null ? null : (JSON.parse(metadataJson) as unknown),
  };
}
