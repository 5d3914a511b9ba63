import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { placementMovesKey } from './listPlacementMoves';
import { platformOrganizationsKey } from './listPlatformOrganizations';

/** A fresh Idempotency-Key (getRandomValues works outside secure contexts too): one per confirmed dialog,
 *  so a retry of the same confirmation answers the move it started. */
export function newMoveKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-move-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Where a move goes: the pooled schema, the organization's own schema, or a tenant database by key. */
export type MoveTo = 'pooled' | 'schema' | `database:${string}`;

/** `POST /v1/platform/organizations/{id}/placement-moves`: the move then runs on the server. */
export function useStartPlacementMove() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { id: string; to: MoveTo; key: string }) =>
      unwrap(
        api.POST('/v1/platform/organizations/{id}/placement-moves', {
          params: { path: { id: v.id }, header: { 'idempotency-key': v.key } },
          body: { to: v.to },
        }),
      ),
    // The organization's placement state (moving) is in the organization list.
    onSettled: () =>
      Promise.all([
        qc.invalidateQueries({ queryKey: placementMovesKey }),
        qc.invalidateQueries({ queryKey: platformOrganizationsKey }),
      ]),
  });
}
