import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const organizationKey = (org: string) => ['org', org, 'organization'] as const;

/**
 * `GET /v1/orgs/{org}/organization`: the organization as its members see it. It is also the console's
 * gate into `/o/:org`: a suspended organization or one whose two-factor requirement the user does not
 * meet answers here first.
 */
export const organizationQueryOptions = (org: string) =>
  queryOptions({
    queryKey: organizationKey(org),
    queryFn: () => unwrap(api.GET('/v1/orgs/{org}/organization', { params: { path: { org } } })),
    // Read by the gate, the navigation and the pages of one visit: once, not once per component mounting.
    staleTime: 10_000,
  });

export const useOrganization = (org: string) => useQuery(organizationQueryOptions(org));
