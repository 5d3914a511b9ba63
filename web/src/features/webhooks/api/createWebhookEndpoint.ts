import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { isApiError, unwrap } from '../../../api/errors';
import { endpointsKey } from './listWebhookEndpoints';

/** The creation answer: the endpoint and, this once, its signing `secret`. */
export type CreatedWebhookEndpoint =
  paths['/v1/orgs/{org}/webhooks/endpoints']['post']['responses'][201]['content']['application/json'];

export interface WebhookEndpointInput {
  readonly url: string;
  readonly eventTypes: string[];
  readonly description?: string;
}

/**
 * `POST /v1/orgs/{org}/webhooks/endpoints` with an Idempotency-Key (a retried submission creates one
 * endpoint). The answer carries the secret once; it is kept in memory only, for the dialog showing it.
 */
export function useCreateWebhookEndpoint(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ idempotencyKey, ...body }: WebhookEndpointInput & { readonly idempotencyKey: string }) =>
      unwrap(
        api.POST('/v1/orgs/{org}/webhooks/endpoints', {
          params: { path: { org }, header: { 'idempotency-key': idempotencyKey } },
          body,
        }),
      ),
    retry: (count, err) => count < 2 && isApiError(err, 0),
    gcTime: 0,
    onSuccess: () => qc.invalidateQueries({ queryKey: endpointsKey(org) }),
  });
}
