import { useMutation, useQueryClient } from '@tanstack/react-query';
import { startAuthentication } from '@simplewebauthn/browser';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/**
 * The second factor by passkey: `POST /v1/auth/passkeys/second-factor/options` (the user's own passkeys),
 * `navigator.credentials.get`, then `…/second-factor/verify`, which completes the session.
 */
export function useVerifyPasskeySecondFactor() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      const options = await unwrap(api.POST('/v1/auth/passkeys/second-factor/options'));
      const response = await startAuthentication({
        optionsJSON: options,
      });
      return unwrap(
        api.POST('/v1/auth/passkeys/second-factor/verify', { body: { response: response as never } }),
      );
    },
    onSuccess: () => qc.invalidateQueries({ refetchType: 'all' }),
  });
}
