import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `POST /v1/orgs/{org}/webhooks/endpoints/{id}/rotate-secret`: a new secret, shown once. */
export function useRotateWebhookSecret(org: string) {
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.POST('/v1/orgs/{org}/webhooks/endpoints/{id}/rotate-secret', { params: { path: { org, id } } }),
      ),
    gcTime: 0,
  });
}
