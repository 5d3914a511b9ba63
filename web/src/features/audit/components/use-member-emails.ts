import { useMemo } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import { membersQueryOptions } from '../../members/api/listMembers';

/**
 * Member emails by user id, to name the people in the log (the loaded pages of the member list, read
 * only when the role may list members; anyone else is shown by id).
 */
export function useMemberEmails(org: string, enabled: boolean): ReadonlyMap<string, string> {
  const members = useInfiniteQuery({ ...membersQueryOptions(org), enabled });
  return useMemo(
    () =>
      new Map((members.data?.pages ?? []).flatMap((p) => p.data.map((m) => [m.userId, m.email] as const))),
    [members.data],
  );
}
