import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { flagsKey } from './evaluateFlags';

/** A flag the organization may override (or still overrides), with its override. */
export type OverridableFlag = Awaited<ReturnType<typeof fetchPage>>['data'][number];

const fetchPage = (org: string, cursor?: string) =>
  unwrap(
    api.GET('/v1/orgs/{org}/flags/overridable', {
      params: { path: { org }, query: { limit: 200, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** Past this many pages the screen stops (2,000 overridable flags is far past any real catalogue). */
const MAX_PAGES = 10;

/**
 * `GET /v1/orgs/{org}/flags/overridable`, every page, by flag key: what the flags page merges into its
 * table (the flags list itself comes from the evaluation, which has no pages).
 */
export const overridableFlagsQueryOptions = (org: string) =>
  queryOptions({
    queryKey: [...flagsKey(org), 'overridable'] as const,
    queryFn: async () => {
      const byKey = new Map<string, OverridableFlag>();
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const { data, nextCursor } = await fetchPage(org, cursor);
        for (const f of data) byKey.set(f.key, f);
        if (!nextCursor) break;
        cursor = nextCursor;
      }
      return byKey;
    },
  });

export const useOverridableFlags = (org: string, enabled: boolean) =>
  useQuery({ ...overridableFlagsQueryOptions(org), enabled });
