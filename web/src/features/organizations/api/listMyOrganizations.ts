import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const myOrganizationsKey = ['organizations', 'mine'] as const;

/** One organization of the user, with the user's role in it. */
export type MyOrganization = Awaited<ReturnType<typeof fetchPage>>['data'][number];

const fetchPage = (cursor?: string) =>
  unwrap(api.GET('/v1/organizations', { params: { query: { limit: 200, ...(cursor ? { cursor } : {}) } } }));

/** Past this many the switcher stops fetching pages (its search narrows what it has). */
const MAX_PAGES = 10;

/**
 * `GET /v1/organizations`, every page: the organizations the user is an ACTIVE member of, with the
 * role, Personal Organization first.
 */
export const myOrganizationsQueryOptions = () =>
  queryOptions({
    queryKey: myOrganizationsKey,
    queryFn: async () => {
      const all: MyOrganization[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const { data, nextCursor } = await fetchPage(cursor);
        all.push(...data);
        if (!nextCursor) break;
        cursor = nextCursor;
      }
      return all.sort((a, b) => Number(b.personal) - Number(a.personal) || a.name.localeCompare(b.name));
    },
    // Short: it carries the member's role, which the /o/:org layout re-reads on the next page after this.
    staleTime: 5_000,
  });

export const useMyOrganizations = () => useQuery(myOrganizationsQueryOptions());
