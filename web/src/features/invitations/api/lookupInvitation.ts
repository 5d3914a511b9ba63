import { queryOptions, useQuery, type Query } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/**
 * `GET /v1/invitations/lookup?token=`: what a mailed link is for (organization, invited address, role,
 * expiry, status), signed in or not. The token stays in memory: never stored by the console.
 */
const LOOKUP = 'invitation-lookup';

/**
 * Every query but the lookups: after accepting, the page leaves for the organization; re-reading the
 * lookup meanwhile would flash "already used" on the way.
 */
export const notTheLookup = (q: Query) => q.queryKey[0] !== LOOKUP;

export const invitationLookupQueryOptions = (token: string) =>
  queryOptions({
    queryKey: [LOOKUP, token] as const,
    queryFn: () => unwrap(api.GET('/v1/invitations/lookup', { params: { query: { token } } })),
    staleTime: 30_000,
    refetchOnWindowFocus: false,
  });

export const useInvitationLookup = (token: string) =>
  useQuery({ ...invitationLookupQueryOptions(token), enabled: token.length > 0 });
