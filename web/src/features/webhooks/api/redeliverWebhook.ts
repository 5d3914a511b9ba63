import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { deliveriesKey } from './listWebhookDeliveries';

/** `POST /v1/orgs/{org}/webhooks/deliveries/{id}/redeliver`: sends it again now (same webhook-id). */
export function useRedeliverWebhook(org: string, endpointId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.POST('/v1/orgs/{org}/webhooks/deliveries/{id}/redeliver', { params: { path: { org, id } } }),
      ),
    onSuccess: () => qc.invalidateQueries({ queryKey: deliveriesKey(org, endpointId) }),
  });
}
