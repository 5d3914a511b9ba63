import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { useAfterInvitationChange } from './invalidate';

/** `POST /v1/orgs/{org}/invitations/{id}/resend`: a new link and expiry; the old link stops working. */
export function useResendInvitation(org: string) {
  const after = useAfterInvitationChange(org);
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/orgs/{org}/invitations/{id}/resend', { params: { path: { org, id } } })),
    onSuccess: () => after(),
  });
}
