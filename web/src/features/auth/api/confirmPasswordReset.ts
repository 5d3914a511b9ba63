import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { forgetSession } from './me';

/** `POST /v1/auth/password-reset/confirm`: sets the new password; the account's sessions end. */
export function useConfirmPasswordReset() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { token: string; password: string }) =>
      unwrap(api.POST('/v1/auth/password-reset/confirm', { body })),
    onSuccess: () => forgetSession(qc),
  });
}
