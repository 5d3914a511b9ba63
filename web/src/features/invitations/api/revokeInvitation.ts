import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { useAfterInvitationChange } from './invalidate';

/** `DELETE /v1/orgs/{org}/invitations/{id}`: the link stops working; an invited account is unlisted. */
export function useRevokeInvitation(org: string) {
  const after = useAfterInvitationChange(org);
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/invitations/{id}', { params: { path: { org, id } } })),
    onSuccess: () => after(),
  });
}
