import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { webhooksKey } from './listWebhookEndpoints';

export const deliveriesKey = (org: string, endpointId: string) =>
  [...webhooksKey(org), 'deliveries', endpointId] as const;

/** `GET /v1/orgs/{org}/webhooks/endpoints/{id}/deliveries`: the delivery log, newest first. */
export const webhookDeliveriesQueryOptions = (org: string, endpointId: string) =>
  infiniteQueryOptions({
    queryKey: deliveriesKey(org, endpointId),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/webhooks/endpoints/{id}/deliveries', {
          params: {
            path: { org, id: endpointId },
            query: { limit: 20, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

/** Re-read every 3 s while shown: attempts land in the background (retries, redeliveries). */
export const useWebhookDeliveries = (org: string, endpointId: string) =>
  useInfiniteQuery({ ...webhookDeliveriesQueryOptions(org, endpointId), refetchInterval: 3000 });
