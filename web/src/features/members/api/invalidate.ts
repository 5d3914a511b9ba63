import { useQueryClient } from '@tanstack/react-query';
import { meKey } from '../../auth/api/me';
import { myOrganizationsKey } from '../../organizations/api/listMyOrganizations';
import { membersKey } from './listMembers';

/**
 * After a membership change: the member list, and, when the change concerns the signed-in user, their
 * organizations (the role there, hence the navigation and the buttons) and the session's organization.
 */
export function useAfterMembershipChange(org: string) {
  const qc = useQueryClient();
  return async (concernsMe: boolean) => {
    await Promise.all([
      qc.invalidateQueries({ queryKey: membersKey(org) }),
      ...(concernsMe
        ? [qc.invalidateQueries({ queryKey: myOrganizationsKey }), qc.invalidateQueries({ queryKey: meKey })]
        : []),
    ]);
  };
}
