import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { useAfterMembershipChange } from './invalidate';

/** `PATCH /v1/orgs/{org}/members/{userId}`: another role (built-in or custom) for a member. */
export function useChangeMemberRole(org: string, myUserId: string | undefined) {
  const after = useAfterMembershipChange(org);
  return useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: string }) =>
      unwrap(
        api.PATCH('/v1/orgs/{org}/members/{userId}', { params: { path: { org, userId } }, body: { role } }),
      ),
    onSuccess: (_data, { userId }) => after(userId === myUserId),
  });
}
