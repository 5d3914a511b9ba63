import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `POST /v1/auth/verify-email`: verifies, and signs the person in when there is no session. */
export function useVerifyEmail() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (token: string) => unwrap(api.POST('/v1/auth/verify-email', { body: { token } })),
    onSuccess: () => qc.invalidateQueries({ refetchType: 'all' }),
  });
}
