import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { endpointsKey } from './listWebhookEndpoints';

export interface WebhookEndpointPatch {
  readonly url?: string;
  readonly eventTypes?: string[];
  readonly description?: string;
  readonly enabled?: boolean;
}

/** `PATCH /v1/orgs/{org}/webhooks/endpoints/{id}`: URL, filter, description, enabled. */
export function useUpdateWebhookEndpoint(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, ...body }: WebhookEndpointPatch & { readonly id: string }) =>
      unwrap(api.PATCH('/v1/orgs/{org}/webhooks/endpoints/{id}', { params: { path: { org, id } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: endpointsKey(org) }),
  });
}
