import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `POST /v1/auth/verify-email/resend`: a new link to the signed-in user's address. */
export function useResendVerification() {
  return useMutation({
    mutationFn: () => unwrap(api.POST('/v1/auth/verify-email/resend')),
  });
}
