import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { isApiError, unwrap } from '../../../api/errors';
import { scimTokensKey } from './listScimTokens';

/** A new token's fields and, this once, its full `secret`. */
export type CreatedScimToken =
  paths['/v1/orgs/{org}/scim/tokens']['post']['responses'][201]['content']['application/json'];

/** `POST /v1/orgs/{org}/scim/tokens` with an Idempotency-Key (a retry creates no second token). */
export function useCreateScimToken(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (idempotencyKey: string) =>
      unwrap(
        api.POST('/v1/orgs/{org}/scim/tokens', {
          params: { path: { org }, header: { 'idempotency-key': idempotencyKey } },
        }),
      ),
    retry: (count, err) => count < 2 && isApiError(err, 0),
    // The answer holds the secret: not kept in the mutation cache once the dialog has it.
    gcTime: 0,
    onSuccess: () => qc.invalidateQueries({ queryKey: scimTokensKey(org) }),
  });
}
