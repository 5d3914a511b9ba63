import { useQueryClient } from '@tanstack/react-query';
import { membersKey } from '../../members/api/listMembers';
import { invitationsKey } from './listInvitations';

/** After an invitation change: the pending list, and the members (an existing account is listed invited). */
export function useAfterInvitationChange(org: string) {
  const qc = useQueryClient();
  return () =>
    Promise.all([
      qc.invalidateQueries({ queryKey: invitationsKey(org) }),
      qc.invalidateQueries({ queryKey: membersKey(org) }),
    ]);
}
