import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/**
 * `POST /v1/orgs/{org}/members/leave`: the signed-in user leaves. The caller leaves the organization's
 * pages first, then refreshes the user's organizations (see MembersPage), so the `/o/:org` gate never
 * draws "not found" in between.
 */
export function useLeaveOrganization(org: string) {
  return useMutation({
    mutationFn: () => unwrap(api.POST('/v1/orgs/{org}/members/leave', { params: { path: { org } } })),
  });
}
