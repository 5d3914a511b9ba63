import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { endpointsKey } from './listWebhookEndpoints';

/** `DELETE /v1/orgs/{org}/webhooks/endpoints/{id}` (its deliveries and their log go with it). */
export function useDeleteWebhookEndpoint(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/webhooks/endpoints/{id}', { params: { path: { org, id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: endpointsKey(org) }),
  });
}
