import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { webhooksKey } from './listWebhookEndpoints';

/** `GET /v1/orgs/{org}/webhooks/event-types`: the catalogue an endpoint filters on. */
export const webhookEventTypesQueryOptions = (org: string) =>
  queryOptions({
    queryKey: [...webhooksKey(org), 'event-types'],
    queryFn: () => unwrap(api.GET('/v1/orgs/{org}/webhooks/event-types', { params: { path: { org } } })),
    staleTime: 3_600_000,
  });

export const useWebhookEventTypes = (org: string) => useQuery(webhookEventTypesQueryOptions(org));
