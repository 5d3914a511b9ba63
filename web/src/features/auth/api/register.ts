import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/**
 * `POST /v1/auth/register`: answers 202 `verification_sent` for a new and an existing address alike
 * (nothing tells which); no session: the mailed link signs the person in.
 */
export function useRegister() {
  return useMutation({
    mutationFn: (body: { email: string; password: string; name?: string }) =>
      unwrap(api.POST('/v1/auth/register', { body })),
  });
}
