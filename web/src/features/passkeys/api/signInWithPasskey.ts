import { useMutation, useQueryClient } from '@tanstack/react-query';
import { startAuthentication } from '@simplewebauthn/browser';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { meKey } from '../../auth/api/me';

/**
 * Passwordless sign-in: `POST /v1/auth/passkeys/sign-in/options` (sets the browser's challenge cookie),
 * the browser's `navigator.credentials.get` (any passkey of this site), then `…/sign-in/verify`.
 */
export function useSignInWithPasskey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      const options = await unwrap(api.POST('/v1/auth/passkeys/sign-in/options'));
      const response = await startAuthentication({
        optionsJSON: options,
      });
      return unwrap(api.POST('/v1/auth/passkeys/sign-in/verify', { body: { response: response as never } }));
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: meKey, refetchType: 'all' }),
  });
}
