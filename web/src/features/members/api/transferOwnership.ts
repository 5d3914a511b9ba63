import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { useAfterMembershipChange } from './invalidate';

/** `POST /v1/orgs/{org}/members/transfer-ownership`: an active member becomes owner, the caller admin. */
export function useTransferOwnership(org: string) {
  const after = useAfterMembershipChange(org);
  return useMutation({
    mutationFn: (userId: string) =>
      unwrap(
        api.POST('/v1/orgs/{org}/members/transfer-ownership', {
          params: { path: { org } },
          body: { userId },
        }),
      ),
    onSuccess: () => after(true),
  });
}
