import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `POST /v1/auth/two-factor/verify`: a TOTP code or a recovery code completes the sign-in. */
export function useVerifyTwoFactor() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (code: string) => unwrap(api.POST('/v1/auth/two-factor/verify', { body: { code } })),
    onSuccess: () => qc.invalidateQueries({ refetchType: 'all' }),
  });
}
