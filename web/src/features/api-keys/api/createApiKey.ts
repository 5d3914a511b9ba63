import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import type { paths } from '../../../api/schema';
import { isApiError, unwrap } from '../../../api/errors';
import { apiKeysKey } from './listApiKeys';

/** The creation answer: the key's fields and, this once, its full `secret`. */
export type CreatedApiKey =
  paths['/v1/orgs/{org}/api-keys']['post']['responses'][201]['content']['application/json'];

export interface CreateApiKeyInput {
  readonly name: string;
  readonly scopes: string[];
  readonly expiresAt?: string;
  readonly rateLimitPerMinute?: number;
  /**
   * The `Idempotency-Key` of this submission: a retry of the same request (network failure, second
   * click) sends the same one, so the server creates one key, not two.
   */
  readonly idempotencyKey: string;
}

/**
 * `POST /v1/orgs/{org}/api-keys`. The answer carries the full key (`secret`) once; it is kept in memory
 * only, for the one dialog that shows it. A replay of the idempotency key answers `secret: null`.
 */
export function useCreateApiKey(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ idempotencyKey, ...body }: CreateApiKeyInput) =>
      unwrap(
        api.POST('/v1/orgs/{org}/api-keys', {
          params: { path: { org }, header: { 'idempotency-key': idempotencyKey } },
          body,
        }),
      ),
    // The request never reached the server or its answer never came back: the same key makes the retry safe.
    retry: (count, err) => count < 2 && isApiError(err, 0),
    // The answer holds the secret: not kept in the mutation cache once the dialog has it.
    gcTime: 0,
    onSuccess: () => qc.invalidateQueries({ queryKey: apiKeysKey(org) }),
  });
}

/** A fresh Idempotency-Key (random, 128 bits, hex): getRandomValues works outside secure contexts too. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
