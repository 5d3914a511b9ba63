import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 25;

export const invitationsKey = (org: string) => ['org', org, 'invitations'] as const;

/** A pending invitation as the API lists it (never its token). */
export type Invitation = Awaited<ReturnType<typeof fetchPage>>['data'][number];

const fetchPage = (org: string, cursor?: string) =>
  unwrap(
    api.GET('/v1/orgs/{org}/invitations', {
      params: { path: { org }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** `GET /v1/orgs/{org}/invitations`: pending invitations (expired ones included), newest first. */
export const invitationsQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: invitationsKey(org),
    queryFn: ({ pageParam }) => fetchPage(org, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useInvitations = (org: string) => useInfiniteQuery(invitationsQueryOptions(org));
