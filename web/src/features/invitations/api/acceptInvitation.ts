import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { notTheLookup } from './lookupInvitation';

/** `POST /v1/invitations/accept`: the signed-in user (same address as invited) joins the organization. */
export function useAcceptInvitation() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (token: string) => unwrap(api.POST('/v1/invitations/accept', { body: { token } })),
    onSuccess: () => qc.invalidateQueries({ refetchType: 'all', predicate: notTheLookup }),
  });
}
