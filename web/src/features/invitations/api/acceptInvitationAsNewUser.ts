import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { notTheLookup } from './lookupInvitation';

/**
 * `POST /v1/invitations/accept-new`: creates the account with the invited address (the server takes it
 * from the invitation, never from the browser), joins, and signs in.
 */
export function useAcceptInvitationAsNewUser() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { token: string; password: string }) =>
      unwrap(api.POST('/v1/invitations/accept-new', { body })),
    onSuccess: () => qc.invalidateQueries({ refetchType: 'all', predicate: notTheLookup }),
  });
}
