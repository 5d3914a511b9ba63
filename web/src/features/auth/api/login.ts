import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { meKey } from './me';

/** `POST /v1/auth/login`; `twoFactorRequired` means the session waits for the second factor. */
export function useLogin() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { email: string; password: string }) => unwrap(api.POST('/v1/auth/login', { body })),
    onSuccess: async (data) => {
      // A session that still waits for the second factor cannot read `me` yet.
      if (!data.twoFactorRequired) await qc.invalidateQueries({ queryKey: meKey, refetchType: 'all' });
    },
  });
}
