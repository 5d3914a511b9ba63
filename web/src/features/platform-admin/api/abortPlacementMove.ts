import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { placementMovesKey } from './listPlacementMoves';

/** `POST /v1/platform/placement-moves/{moveId}/abort`: before the switch the copy goes, after it the
 *  organization moves back. */
export function useAbortPlacementMove() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (moveId: string) =>
      unwrap(api.POST('/v1/platform/placement-moves/{moveId}/abort', { params: { path: { moveId } } })),
    onSettled: () => qc.invalidateQueries({ queryKey: placementMovesKey }),
  });
}
