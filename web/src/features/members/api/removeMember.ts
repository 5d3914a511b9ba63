import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { useAfterMembershipChange } from './invalidate';

/** `DELETE /v1/orgs/{org}/members/{userId}`: removes a member (active or pending). */
export function useRemoveMember(org: string) {
  const after = useAfterMembershipChange(org);
  return useMutation({
    mutationFn: (userId: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/members/{userId}', { params: { path: { org, userId } } })),
    onSuccess: () => after(false),
  });
}
