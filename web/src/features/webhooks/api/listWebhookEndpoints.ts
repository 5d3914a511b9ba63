import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 20;

export const webhooksKey = (org: string) => ['org', org, 'webhooks'] as const;
export const endpointsKey = (org: string) => [...webhooksKey(org), 'endpoints'] as const;

/** `GET /v1/orgs/{org}/webhooks/endpoints`, a page at a time (newest first; never a secret). */
export const webhookEndpointsQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: endpointsKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/webhooks/endpoints', {
          params: {
            path: { org },
            query: { limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useWebhookEndpoints = (org: string) => useInfiniteQuery(webhookEndpointsQueryOptions(org));
